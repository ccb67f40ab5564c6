// Opens many WebSocket client connections on one io_context, a bounded number at a time,
// spread over several 127.0.0.x source addresses when the target is on loopback.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::bench {

struct ws_target {
  std::string host = "127.0.0.1";  // a numeric IPv4 address or a name
  std::uint16_t port = 0;
  std::string path = "/ws";
  std::string url() const;
};

// ws://HOST:PORT[/PATH]; nullopt when it is not one.
std::optional<ws_target> parse_ws_target(std::string_view url);

// 127.0.0.0/8 or "localhost": the only addresses load may go to unless the user names a host.
bool is_loopback(const std::string& host);

// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
std::uint64_t raise_open_file_limit();

// What each connection presents at the upgrade.
struct upgrade_headers {
  std::string bearer_token;  // Authorization: Bearer ..., when set
  std::string device_id;     // X-Device-Id, when set
};

class ws_connector {
 public:
  using stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  using headers_fn = std::function<upgrade_headers(std::size_t index)>;

  // `sources`: connection i binds 127.0.0.<1 + i % sources> (loopback targets only; a remote
  // target gets the kernel's choice). At most `in_flight` connects are pending at once, so
  // the listen backlog is never the bottleneck.
  ws_connector(boost::asio::io_context& io, ws_target target, std::size_t sources,
               std::size_t in_flight, headers_fn headers = {},
               std::chrono::milliseconds connect_timeout = std::chrono::seconds{30});

  // Calls `ready` for each connection that finished its handshake and `failed` (with the
  // reason) for each that did not; both on the io thread.
  void open(std::size_t count, std::function<void(std::size_t, stream&)> ready,
            std::function<void(std::size_t, const std::string&)> failed);
  // No further connects start (those in flight still complete or fail).
  void stop() { started_ = count_; }
  std::vector<std::unique_ptr<stream>>& streams() { return streams_; }

 private:
  void next();
  void done(std::size_t index, const std::string& failure);

  boost::asio::io_context& io_;
  ws_target target_;
  std::size_t sources_;
  std::size_t in_flight_;
  headers_fn headers_;
  std::chrono::milliseconds connect_timeout_;
  bool bind_sources_;
  std::size_t count_ = 0;
  std::size_t started_ = 0;
  std::function<void(std::size_t, stream&)> ready_;
  std::function<void(std::size_t, const std::string&)> failed_;
  std::vector<std::unique_ptr<stream>> streams_;
};

}  // namespace superapp::bench
