// The blocking HTTP client on Beast: async operations on a private io_context so the stream's
// deadline covers every step (Beast's timeouts apply to async operations only).
#include "protocols/http/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace superapp::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;

using header_list = std::vector<std::pair<std::string, std::string>>;

outcome exchange(const endpoint& at, bhttp::verb method, std::string_view target,
                 std::string_view body, std::chrono::milliseconds deadline,
                 const header_list& headers) {
  boost::asio::io_context io;
  tcp::resolver resolver{io};
  beast::tcp_stream stream{io};
  bhttp::request<bhttp::string_body> req{method, at.base_path + std::string{target}, 11};
  req.set(bhttp::field::host, at.host + ":" + at.port);
  req.set(bhttp::field::user_agent, "superapp");
  req.set(bhttp::field::connection, "close");
  if (method == bhttp::verb::post) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = std::string{body};
  }
  for (const auto& [name, value] : headers) req.set(name, value);
  req.prepare_payload();
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1024 * 1024);
  outcome result;
  std::string step = "resolve failed";
  auto fail = [&](beast::error_code ec) {
    result.failure = ec == beast::error::timeout ? "timed out" : step;
  };
  stream.expires_after(deadline);
  beast::error_code resolve_ec;
  auto endpoints = resolver.resolve(at.host, at.port, resolve_ec);
  if (resolve_ec) return outcome{std::nullopt, "resolve failed"};
  step = "connect failed";
  stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) return fail(ec);
    step = "write failed";
    bhttp::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) return fail(ec2);
      step = "read failed";
      bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return fail(ec3);
        result.reply = response{static_cast<int>(parser.get().result_int()),
                                std::move(parser.get().body())};
      });
    });
  });
  io.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return result;
}

}  // namespace

std::optional<endpoint> parse_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
  url.remove_prefix(scheme.size());
  auto slash = url.find('/');
  auto authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size())
    return std::nullopt;
  auto port = authority.substr(colon + 1);
  for (char c : port)
    if (c < '0' || c > '9') return std::nullopt;
  return endpoint{std::string{authority.substr(0, colon)}, std::string{port}, std::string{path}};
}

outcome post_json(const endpoint& at, std::string_view path, std::string_view json_body,
                  std::chrono::milliseconds deadline, const header_list& headers) {
  return exchange(at, bhttp::verb::post, path, json_body, deadline, headers);
}

outcome get(const endpoint& at, std::string_view path_and_query,
            std::chrono::milliseconds deadline, const header_list& headers) {
  return exchange(at, bhttp::verb::get, path_and_query, {}, deadline, headers);
}

outcome del(const endpoint& at, std::string_view path, std::chrono::milliseconds deadline,
            const header_list& headers) {
  return exchange(at, bhttp::verb::delete_, path, {}, deadline, headers);
}

std::optional<std::string> url_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

}  // namespace superapp::http
