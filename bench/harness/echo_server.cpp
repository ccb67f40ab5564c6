// A bare Beast WebSocket echo server: the baseline the gateway is measured against.
#include "bench/harness/echo_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace superapp::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class echo_session : public std::enable_shared_from_this<echo_session> {
 public:
  echo_session(tcp::socket&& socket, std::size_t max_frame_bytes) : ws_(std::move(socket)) {
    ws_.read_message_max(max_frame_bytes);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  }
  void start() {
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(),
                            [self](beast::error_code write_ec, std::size_t bytes) {
                              if (write_ec) return;
                              self->buffer_.consume(bytes);
                              self->read();
                            });
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
};

}  // namespace

class echo_server::impl {
 public:
  impl(std::string bind_address, std::size_t io_threads, std::size_t max_frame_bytes)
      : bind_address_(std::move(bind_address)),
        io_threads_(io_threads),
        max_frame_bytes_(max_frame_bytes),
        io_(static_cast<int>(io_threads)),
        acceptor_(net::make_strand(io_)) {}

  std::uint16_t start(std::uint16_t port) {
    const tcp::endpoint endpoint{net::ip::make_address(bind_address_), port};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    accept();
    for (std::size_t i = 0; i < io_threads_; ++i) threads_.emplace_back([this] { io_.run(); });
    return acceptor_.local_endpoint().port();
  }

  void stop() {
    if (threads_.empty()) return;
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) std::make_shared<echo_session>(std::move(s), max_frame_bytes_)->start();
      accept();
    });
  }

  std::string bind_address_;
  std::size_t io_threads_;
  std::size_t max_frame_bytes_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

echo_server::echo_server(std::string bind_address, std::size_t io_threads,
                         std::size_t max_frame_bytes)
    : impl_(std::make_unique<impl>(std::move(bind_address), io_threads, max_frame_bytes)) {}
echo_server::~echo_server() { stop(); }
std::uint16_t echo_server::start(std::uint16_t port) { return impl_->start(port); }
void echo_server::stop() { impl_->stop(); }

}  // namespace superapp::bench
