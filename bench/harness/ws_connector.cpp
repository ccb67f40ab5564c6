// The bounded connection opener shared by the harness, its preflight and the ws benchmark.
#include "bench/harness/ws_connector.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>

namespace superapp::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string ws_target::url() const {
  return "ws://" + host + ":" + std::to_string(port) + path;
}

std::optional<ws_target> parse_ws_target(std::string_view url) {
  constexpr std::string_view scheme = "ws://";
  if (!url.starts_with(scheme)) return std::nullopt;
  auto rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  ws_target out;
  out.path = slash == std::string_view::npos ? "/ws" : std::string{rest.substr(slash)};
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  out.host = std::string{authority.substr(0, colon)};
  const auto port_text = authority.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

ws_connector::ws_connector(net::io_context& io, ws_target target, std::size_t sources,
                           std::size_t in_flight, headers_fn headers,
                           std::chrono::milliseconds connect_timeout)
    : io_(io),
      target_(std::move(target)),
      sources_(std::max<std::size_t>(sources, 1)),
      in_flight_(std::max<std::size_t>(in_flight, 1)),
      headers_(std::move(headers)),
      connect_timeout_(connect_timeout),
      bind_sources_(target_.host.starts_with("127.")) {}

void ws_connector::open(std::size_t count, std::function<void(std::size_t, stream&)> ready,
                        std::function<void(std::size_t, const std::string&)> failed) {
  count_ = count;
  ready_ = std::move(ready);
  failed_ = std::move(failed);
  streams_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) streams_.push_back(std::make_unique<stream>(io_));
  for (std::size_t i = 0; i < std::min(in_flight_, count); ++i) next();
}

void ws_connector::next() {
  if (started_ >= count_) return;
  const auto index = started_++;
  auto& ws = *streams_[index];
  auto& socket = beast::get_lowest_layer(ws).socket();
  beast::error_code ec;
  boost::system::error_code address_ec;
  auto address = net::ip::make_address(target_.host == "localhost" ? "127.0.0.1" : target_.host,
                                       address_ec);
  if (address_ec) return done(index, "not a numeric address: " + target_.host);
  socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec && bind_sources_ && address.is_v4()) {
    const auto host = static_cast<unsigned>(1 + index % sources_);
    socket.bind({net::ip::make_address_v4("127.0.0." + std::to_string(host)), 0}, ec);
  }
  if (ec) return done(index, ec.message());
  beast::get_lowest_layer(ws).expires_after(connect_timeout_);
  beast::get_lowest_layer(ws).async_connect(
      tcp::endpoint{address, target_.port}, [this, index, &ws](beast::error_code connect_ec) {
        if (connect_ec) return done(index, connect_ec.message());
        if (headers_) {
          ws.set_option(websocket::stream_base::decorator(
              [h = headers_(index)](websocket::request_type& req) {
                if (!h.bearer_token.empty())
                  req.set(beast::http::field::authorization, "Bearer " + h.bearer_token);
                if (!h.device_id.empty()) req.set("X-Device-Id", h.device_id);
              }));
        }
        ws.async_handshake(target_.host + ":" + std::to_string(target_.port), target_.path,
                           [this, index, &ws](beast::error_code hs_ec) {
                             beast::get_lowest_layer(ws).expires_never();
                             done(index, hs_ec ? "WebSocket upgrade: " + hs_ec.message() : "");
                           });
      });
}

void ws_connector::done(std::size_t index, const std::string& failure) {
  if (failure.empty()) ready_(index, *streams_[index]);
  else failed_(index, failure);
  next();
}

}  // namespace superapp::bench
