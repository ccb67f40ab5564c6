// Baselines: the bare thing a Superapp path is measured against, run in the same invocation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::bench {

// The baseline kinds a scenario may name. Only implemented ones can run; the others are named
// so that a scenario asking for one is told it is not there yet, not silently given another.
struct baseline_kind_info {
  std::string_view kind;
  bool implemented;
  std::string_view what;  // one line for reports and errors
};
const std::vector<baseline_kind_info>& baseline_kinds();
const baseline_kind_info* find_baseline_kind(std::string_view kind);

// A running baseline that the load engine can drive like the target: it serves the scenario's
// frames on a WebSocket URL. Baselines that are not WebSocket servers (pgbench, raw SQLite
// inserts, librdkafka's producer) will implement run_baseline below with their own driver and
// fill the same run figures; see docs/adr/0007-bench-harness.md.
class ws_baseline {
 public:
  virtual ~ws_baseline() = default;
  virtual std::string_view kind() const = 0;
  virtual std::string description() const = 0;
  // ws://127.0.0.1:PORT/ws, once started.
  virtual std::string url() const = 0;
  // The server's own resident memory in KiB when it runs in its own process; 0 when unknown.
  virtual double rss_kib() const = 0;
};

// The bare Beast WebSocket echo server (bench/harness/echo_server.hpp) in a child process, with
// the gateway listener's shape: one acceptor, a strand per connection, `io_threads` threads.
// Must be started before the calling process starts any thread (it forks).
std::unique_ptr<ws_baseline> start_ws_echo_baseline(std::uint32_t io_threads);

}  // namespace superapp::bench
