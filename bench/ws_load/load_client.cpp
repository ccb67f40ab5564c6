// Idle connections on one io thread, opened with the harness's bounded connector.
#include "bench/ws_load/load_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <vector>

#include "bench/harness/ws_connector.hpp"

namespace superapp::bench {

namespace beast = boost::beast;
namespace net = boost::asio;

class idle_connections::impl {
 public:
  impl(std::uint16_t port, std::size_t count, std::size_t sources, std::string hello,
       std::string bearer_token)
      : conns_(io_, ws_target{"127.0.0.1", port, "/ws"}, sources, 256,
               [token = std::move(bearer_token)](std::size_t) { return upgrade_headers{token, {}}; }),
        buffers_(count) {
    conns_.open(
        count,
        [this, hello](std::size_t i, ws_connector::stream& ws) {
          ws.text(true);
          ws.async_write(net::buffer(hello), [this, i, &ws](beast::error_code ec, std::size_t) {
            if (ec) return;
            ws.async_read(buffers_[i], [this](beast::error_code read_ec, std::size_t) {
              if (!read_ec) ++open_;
            });
          });
        },
        [](std::size_t, const std::string&) {});
    io_.run();  // returns when every connection made its round trip (or failed)
  }
  std::size_t open() const { return open_; }

 private:
  net::io_context io_{1};
  ws_connector conns_;
  std::vector<beast::flat_buffer> buffers_;
  std::size_t open_ = 0;
};

idle_connections::idle_connections(std::uint16_t port, std::size_t count,
                                   std::size_t source_addresses, std::string hello_frame,
                                   std::string bearer_token)
    : impl_(std::make_unique<impl>(port, count, source_addresses, std::move(hello_frame),
                                   std::move(bearer_token))) {}
idle_connections::~idle_connections() = default;
std::size_t idle_connections::open() const { return impl_->open(); }

}  // namespace superapp::bench
