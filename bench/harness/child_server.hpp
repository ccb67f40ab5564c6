// A server in a child process: forked before the parent starts threads, it reports its port
// through a pipe and serves until the parent closes its stop pipe. Its RSS is its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <initializer_list>

namespace superapp::bench {

struct child_server {
  pid_t pid = -1;
  std::uint16_t port = 0;
  int stop_fd = -1;  // closing it tells the child to stop
};

// `serve` runs in the child: it starts its server, then calls until_stopped(port), which
// returns when the parent stops it. `inherited`: the parent's ends of earlier children's stop
// pipes, closed in the child so that an earlier child still sees EOF when the parent closes
// its pipe. The child ends with _Exit(0) and never returns into the caller.
child_server fork_server(const std::function<void(const std::function<void(std::uint16_t)>&)>& serve,
                         std::initializer_list<int> inherited = {});

// Closes the stop pipe and reaps the child.
void stop_server(child_server& server);

// VmRSS of a process in KiB; 0 when it cannot be read.
double rss_kib(pid_t pid);

}  // namespace superapp::bench
