// superapp_gateway_ws (echo through the session actor) beside a bare Beast echo server: the
// same load client against both, then RSS per idle connection. Each server runs in its own
// child process so that its RSS is its own; all traffic stays on loopback.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "bench/ws_echo/echo_server.hpp"
#include "bench/ws_load/load_client.hpp"
#include "gateway/ws/ws_listener.hpp"
#include "supervisors/supervisor.hpp"

using namespace superapp;

namespace {

struct options {
  std::size_t io_threads = 2;
  std::size_t connections = 100;
  std::int64_t duration_ms = 5'000;
  double rate_per_s = 0;
  std::size_t payload_bytes = 64;
  std::size_t idle_connections = 10'000;
  std::size_t caf_threads = 2;
  std::string caf_policy = "stealing";
};

struct server_process {
  pid_t pid = -1;
  std::uint16_t port = 0;
  int stop_fd = -1;  // closing it tells the child to stop
};

// The child: starts its server, reports the port, and serves until its stop pipe closes.
// `inherited`: the parent's ends of earlier children's pipes; the child closes them so that an
// earlier child still sees EOF on its stop pipe when the parent closes it.
template <class Serve>
server_process fork_server(Serve serve, std::initializer_list<int> inherited = {}) {
  int port_pipe[2];
  int stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid < 0) std::exit(1);
  if (pid == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    for (int fd : inherited) close(fd);
    bench::raise_open_file_limit();
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
  server_process out;
  out.pid = pid;
  out.stop_fd = stop_pipe[1];
  if (read(port_pipe[0], &out.port, sizeof out.port) != sizeof out.port) std::exit(1);
  close(port_pipe[0]);
  return out;
}

void stop_server(server_process& p) {
  close(p.stop_fd);
  int status = 0;
  waitpid(p.pid, &status, 0);
}

double rss_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

void serve_echo(const options& o, const std::function<void(std::uint16_t)>& until_stopped) {
  bench::echo_server server{"127.0.0.1", o.io_threads};
  until_stopped(server.start(0));
  server.stop();
}

void serve_gateway(const options& o, const std::function<void(std::uint16_t)>& until_stopped) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", o.caf_threads);
  cfg.set("scheduler.policy", o.caf_policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  caf::actor_system sys{cfg};
  auto echo = [](caf::event_based_actor*, const ws::session_context&,
                 std::shared_ptr<ws::outbound> out) {
    ws::session_handler handler;
    handler.on_text = [out](std::string frame) { out->send_text(std::move(frame)); };
    return handler;
  };
  auto sessions_sup = sup::spawn_supervisor(sys, ws::sessions_supervisor_spec(echo, 100'000));
  {
    caf::scoped_actor self{sys};
    if (sup::await_ready(self, sessions_sup, std::chrono::seconds(10))) std::_Exit(1);
  }
  ws::ws_config config;
  config.io_threads = o.io_threads;
  config.max_sessions = 100'000;
  ws::ws_listener listener{config, sys, sessions_sup};
  auto endpoint = listener.start();
  if (!endpoint) std::_Exit(1);
  until_stopped(endpoint->port);
  listener.stop();
  caf::scoped_actor self{sys};
  sup::shutdown(self, sessions_sup, std::chrono::seconds(10));
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--io-threads") o.io_threads = std::stoul(value);
    else if (key == "--connections") o.connections = std::stoul(value);
    else if (key == "--duration-ms") o.duration_ms = std::stoll(value);
    else if (key == "--rate") o.rate_per_s = std::stod(value);
    else if (key == "--payload-bytes") o.payload_bytes = std::stoul(value);
    else if (key == "--idle-connections") o.idle_connections = std::stoul(value);
    else if (key == "--caf-threads") o.caf_threads = std::stoul(value);
    else if (key == "--caf-policy") o.caf_policy = value;
    else {
      std::fprintf(stderr,
                   "usage: %s [--io-threads N] [--connections N] [--duration-ms MS] [--rate "
                   "MSG_PER_S (0: closed loop)] [--payload-bytes N] [--idle-connections N] "
                   "[--caf-threads N] [--caf-policy stealing|sharing]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return o;
}

struct figures {
  bench::load_result load;
  std::size_t idle_open = 0;
  double rss_before_kib = 0;
  double rss_after_kib = 0;
};

figures measure(server_process& server, const options& o) {
  figures f;
  bench::load_config load;
  load.port = server.port;
  load.connections = o.connections;
  load.duration_ms = o.duration_ms;
  load.rate_per_s = o.rate_per_s;
  load.payload_bytes = o.payload_bytes;
  f.load = bench::run_load(load);
  if (o.idle_connections > 0) {
    f.rss_before_kib = rss_kib(server.pid);
    bench::idle_connections idle{server.port, o.idle_connections};
    f.idle_open = idle.open();
    f.rss_after_kib = rss_kib(server.pid);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  // Fork before this process starts any thread.
  auto echo = fork_server([&](auto until) { serve_echo(o, until); });
  auto gateway = fork_server([&](auto until) { serve_gateway(o, until); }, {echo.stop_fd});
  const auto files = bench::raise_open_file_limit();
  std::printf("ws: %zu connections, %s, payload %zu B, %lld ms; server io_threads=%zu; gateway "
              "CAF threads=%zu (%s); client 1 thread, sources 127.0.0.1-8; nofile=%llu\n",
              o.connections, o.rate_per_s > 0 ? ("paced " + std::to_string(o.rate_per_s) + "/s").c_str()
                                              : "closed loop",
              o.payload_bytes, static_cast<long long>(o.duration_ms), o.io_threads, o.caf_threads,
              o.caf_policy.c_str(), static_cast<unsigned long long>(files));
  std::fflush(stdout);
  const auto e = measure(echo, o);
  const auto g = measure(gateway, o);
  stop_server(echo);
  stop_server(gateway);
  auto per_conn = [](const figures& f) {
    return f.idle_open ? (f.rss_after_kib - f.rss_before_kib) / static_cast<double>(f.idle_open) : 0;
  };
  std::printf("%-34s %16s %16s\n", "", "echo baseline", "gateway_ws");
  std::printf("%-34s %16zu %16zu\n", "connected", e.load.connected, g.load.connected);
  std::printf("%-34s %16.0f %16.0f\n", "throughput msg/s", e.load.throughput_per_s,
              g.load.throughput_per_s);
  std::printf("%-34s %16.1f %16.1f\n", "latency p50 us", e.load.p50_us, g.load.p50_us);
  std::printf("%-34s %16.1f %16.1f\n", "latency p99 us", e.load.p99_us, g.load.p99_us);
  std::printf("%-34s %16.1f %16.1f\n", "latency max us", e.load.max_us, g.load.max_us);
  std::printf("%-34s %16llu %16llu\n", "errors", static_cast<unsigned long long>(e.load.errors),
              static_cast<unsigned long long>(g.load.errors));
  if (o.idle_connections > 0) {
    std::printf("%-34s %16zu %16zu\n", "idle connections open", e.idle_open, g.idle_open);
    std::printf("%-34s %16.0f %16.0f\n", "server RSS before idle KiB", e.rss_before_kib,
                g.rss_before_kib);
    std::printf("%-34s %16.0f %16.0f\n", "server RSS with idle KiB", e.rss_after_kib,
                g.rss_after_kib);
    std::printf("%-34s %16.2f %16.2f\n", "server RSS per idle conn KiB", per_conn(e), per_conn(g));
  }
  return 0;
}
