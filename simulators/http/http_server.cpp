// The simulators' HTTP server on Beast: one listener and one session per connection, all on the
// server's single io thread, so nothing here needs a strand or a lock.
#include "simulators/http/http_server.hpp"

#include "protocols/http/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string_view>
#include <utility>

namespace superapp::sim {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr auto read_timeout = std::chrono::seconds{30};
constexpr std::uint64_t max_body_bytes = 1024 * 1024;
constexpr auto npos = std::string_view::npos;

std::map<std::string, std::string> decoded_query(std::string_view query) {
  std::map<std::string, std::string> decoded;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    auto name = http::url_decode(pair.substr(0, eq));
    auto value = http::url_decode(eq == npos ? std::string_view{} : pair.substr(eq + 1));
    if (name && value && !name->empty()) decoded.insert_or_assign(*name, *value);
    if (amp == npos) break;
    query.remove_prefix(amp + 1);
  }
  return decoded;
}

std::string lower_cased(std::string_view text) {
  std::string out{text};
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

http_query query_of(const bhttp::request<bhttp::string_body>& req) {
  http_query query;
  query.method = std::string{req.method_string()};
  std::string_view target = req.target();
  auto query_at = target.find('?');
  query.path = std::string{target.substr(0, query_at)};
  if (query_at != npos) query.query = decoded_query(target.substr(query_at + 1));
  for (const auto& field : req) {
    auto [at, fresh] =
        query.headers.try_emplace(lower_cased(field.name_string()), field.value());
    if (!fresh) at->second += ", " + std::string{field.value()};
  }
  query.body = req.body();
  return query;
}

// A handler that throws or invents a status is a bug in a simulator; a 500 shows it to the test
// that hit it, where an exception out of io.run() would end the whole test binary.
http_answer answer_to(const http_server::handler& on_query, const http_query& query) {
  http_answer answer;
  try {
    answer = on_query(query);
  } catch (...) {
    return {500, R"({"error":"simulator handler threw"})"};
  }
  if (answer.status < 100 || answer.status > 999)
    return {500, R"({"error":"simulator handler answered an invalid status"})"};
  return answer;
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, const http_server::handler& on_query)
      : stream_(std::move(socket)), on_query_(on_query) {}

  void read() {
    parser_.emplace();
    parser_->body_limit(max_body_bytes);
    stream_.expires_after(read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        self->write(self->parser_->release());
                      });
  }

 private:
  void write(const bhttp::request<bhttp::string_body>& req) {
    auto answer = answer_to(on_query_, query_of(req));
    res_ = {};
    res_.version(req.version());
    res_.result(static_cast<unsigned>(answer.status));
    res_.set(bhttp::field::content_type, answer.content_type);
    res_.keep_alive(req.keep_alive());
    res_.body() = std::move(answer.body);
    res_.prepare_payload();
    stream_.expires_after(read_timeout);
    bhttp::async_write(stream_, res_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec || !self->res_.keep_alive()) return self->close();
                         self->read();
                       });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  beast::tcp_stream stream_;
  const http_server::handler& on_query_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
};

beast::error_code listen(tcp::acceptor& acceptor, const tcp::endpoint& at) {
  beast::error_code ec;
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  return ec;
}

}  // namespace

// One start..stop. Sessions live only in the handlers pending on `io`, so destroying it after
// the thread is joined closes every connection still open.
struct http_server::running {
  boost::asio::io_context io;
  tcp::acceptor acceptor{io};
  const handler& on_query;

  explicit running(const handler& h) : on_query(h) {}

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted) return;
      if (!ec) std::make_shared<session>(std::move(socket), on_query)->read();
      accept();
    });
  }
};

http_server::http_server(handler on_query) : on_query_(std::move(on_query)) {}

http_server::~http_server() { stop(); }

std::optional<std::uint16_t> http_server::start(const std::string& bind_address,
                                                std::uint16_t port, std::string& failure) {
  if (running_) {
    failure = "already serving on " + base_url();
    return std::nullopt;
  }
  beast::error_code ec;
  auto address = boost::asio::ip::make_address(bind_address, ec);
  if (ec) {
    failure = "bad bind address " + bind_address;
    return std::nullopt;
  }
  auto run = std::make_unique<running>(on_query_);
  if (auto listen_ec = listen(run->acceptor, {address, port})) {
    failure = "cannot listen on " + bind_address + ":" + std::to_string(port) + ": " +
              listen_ec.message();
    return std::nullopt;
  }
  address_ = bind_address;
  port_ = run->acceptor.local_endpoint().port();
  run->accept();
  running_ = std::move(run);
  thread_ = std::thread{[r = running_.get()] { r->io.run(); }};
  return port_;
}

void http_server::stop() {
  if (!running_) return;
  running_->io.stop();
  thread_.join();
  running_.reset();
}

std::string http_server::base_url() const {
  return "http://" + address_ + ":" + std::to_string(port_);
}

}  // namespace superapp::sim
