// A WebSocket load client for loopback benchmarks: many connections over several 127.0.0.x
// source addresses, closed-loop or paced, reporting throughput and latency percentiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace superapp::bench {

struct load_config {
  std::uint16_t port = 0;                 // on 127.0.0.1, path /ws
  std::size_t connections = 100;
  std::size_t source_addresses = 8;       // 127.0.0.1 .. 127.0.0.<n>
  std::int64_t duration_ms = 5'000;
  double rate_per_s = 0;                  // all connections together; 0: closed loop
  std::size_t payload_bytes = 64;
  std::size_t max_connects_in_flight = 256;  // stays under the listen backlog
  std::string frame;         // sent as it is when set; otherwise payload_bytes of 'p'
  std::string bearer_token;  // Authorization header of the upgrade, when set
};

struct load_result {
  std::size_t connected = 0;
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  double throughput_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Runs on the calling thread (one io thread for the whole client) until the duration has passed.
load_result run_load(const load_config& config);

// Opens `count` connections, makes one round trip on each (so the server has finished setting
// the session up), then holds them open with nothing pending until destroyed.
class idle_connections {
 public:
  // `hello_frame` is the round trip's request; `bearer_token` goes into the upgrade.
  idle_connections(std::uint16_t port, std::size_t count, std::size_t source_addresses = 8,
                   std::string hello_frame = "hello", std::string bearer_token = {});
  ~idle_connections();
  std::size_t open() const;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
std::uint64_t raise_open_file_limit();

}  // namespace superapp::bench
