// Forked servers for benchmarks: the port over one pipe, the stop signal as EOF on another.
#include "bench/harness/child_server.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "bench/harness/ws_connector.hpp"

namespace superapp::bench {

child_server fork_server(const std::function<void(const std::function<void(std::uint16_t)>&)>& serve,
                         std::initializer_list<int> inherited) {
  int port_pipe[2];
  int stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid < 0) std::exit(1);
  if (pid == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    for (int fd : inherited) close(fd);
    raise_open_file_limit();
    serve([&](std::uint16_t port) {
      if (write(port_pipe[1], &port, sizeof port) != sizeof port) std::_Exit(1);
      close(port_pipe[1]);
      char byte;
      while (read(stop_pipe[0], &byte, 1) > 0) {
      }
    });
    std::_Exit(0);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  child_server out;
  out.pid = pid;
  out.stop_fd = stop_pipe[1];
  if (read(port_pipe[0], &out.port, sizeof out.port) != sizeof out.port) std::exit(1);
  close(port_pipe[0]);
  return out;
}

void stop_server(child_server& server) {
  if (server.pid < 0) return;
  close(server.stop_fd);
  int status = 0;
  waitpid(server.pid, &status, 0);
  server.pid = -1;
}

double rss_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

}  // namespace superapp::bench
