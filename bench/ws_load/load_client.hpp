// Idle WebSocket connections for memory benchmarks: opened over several 127.0.0.x source
// addresses, one round trip each, then held open with nothing pending.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace superapp::bench {

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

}  // namespace superapp::bench
