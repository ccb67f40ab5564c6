// The baseline for the gateway benchmark: a bare Beast WebSocket echo server, no actors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace superapp::bench {

// Same shape as the gateway's listener (one acceptor, a strand per connection, N io threads,
// the same frame limit) so that the difference measured is the actor hop and the session logic.
class echo_server {
 public:
  echo_server(std::string bind_address, std::size_t io_threads,
              std::size_t max_frame_bytes = 64 * 1024);
  ~echo_server();
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  // Binds (port 0: any free port) and starts the io threads; returns the bound port.
  std::uint16_t start(std::uint16_t port = 0);
  void stop();

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace superapp::bench
