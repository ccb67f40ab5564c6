// The SMS provider simulator on Beast: one io thread, one async session per connection.
#include "simulators/sms/sms_simulator.hpp"

#include "protocols/http/http_client.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace superapp::sim {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;

}  // namespace

std::string otp_code_in(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] >= '0' && text[i] <= '9') {
      std::size_t j = i;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
      if (j - i == 6) return text.substr(i, 6);
      i = j;
    } else {
      ++i;
    }
  }
  return "";
}

struct sms_simulator::state : std::enable_shared_from_this<sms_simulator::state> {
  boost::asio::io_context io;
  tcp::acceptor acceptor{io};
  std::string address;
  std::uint16_t port = 0;
  mutable std::mutex mutex;
  std::map<std::string, message> last;  // by number
  std::int64_t received = 0;
  std::atomic<bool> failing{false};

  bhttp::response<bhttp::string_body> handle(const bhttp::request<bhttp::string_body>& req) {
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, req.version()};
    res.set(bhttp::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    auto reply = [&](bhttp::status status, json::object body) {
      res.result(status);
      res.body() = json::serialize(body);
      res.prepare_payload();
      return res;
    };
    std::string_view target = req.target();
    auto query_at = target.find('?');
    auto path = target.substr(0, query_at);
    if (path == "/healthz" && req.method() == bhttp::verb::get)
      return reply(bhttp::status::ok, {{"ok", true}});
    if (path == "/v1/messages" && req.method() == bhttp::verb::post) {
      if (failing) return reply(bhttp::status::service_unavailable, {{"error", "provider down"}});
      boost::system::error_code ec;
      auto doc = json::parse(req.body(), ec);
      const json::object* o = ec ? nullptr : doc.if_object();
      const json::string* to = o ? (o->contains("to") ? o->at("to").if_string() : nullptr) : nullptr;
      const json::string* text =
          o ? (o->contains("text") ? o->at("text").if_string() : nullptr) : nullptr;
      if (!to || !text || to->empty())
        return reply(bhttp::status::bad_request, {{"error", "body must be {\"to\",\"text\"}"}});
      std::int64_t id = 0;
      {
        std::lock_guard<std::mutex> guard{mutex};
        id = ++received;
        auto& m = last[std::string{*to}];
        m.to = std::string{*to};
        m.text = std::string{*text};
        m.count += 1;
      }
      return reply(bhttp::status::accepted, {{"message_id", "m-" + std::to_string(id)}});
    }
    if (path == "/v1/messages/last" && req.method() == bhttp::verb::get) {
      std::string to;
      if (query_at != std::string_view::npos) {
        auto query = target.substr(query_at + 1);
        while (!query.empty()) {
          auto amp = query.find('&');
          auto pair = query.substr(0, amp);
          if (pair.substr(0, 3) == "to=") to = http::url_decode(pair.substr(3)).value_or("");
          if (amp == std::string_view::npos) break;
          query.remove_prefix(amp + 1);
        }
      }
      std::optional<message> found;
      {
        std::lock_guard<std::mutex> guard{mutex};
        if (auto it = last.find(to); it != last.end()) found = it->second;
      }
      if (!found) return reply(bhttp::status::not_found, {{"error", "no message to that number"}});
      return reply(bhttp::status::ok, {{"to", found->to},
                                       {"text", found->text},
                                       {"code", otp_code_in(found->text)},
                                       {"count", found->count}});
    }
    return reply(bhttp::status::not_found, {{"error", "no such endpoint"}});
  }

  struct session : std::enable_shared_from_this<session> {
    std::shared_ptr<state> owner;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;
    session(std::shared_ptr<state> o, tcp::socket s) : owner(std::move(o)), stream(std::move(s)) {}

    void read() {
      req = {};
      stream.expires_after(std::chrono::seconds{30});
      bhttp::async_read(stream, buffer, req,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (ec) return self->close();
                          self->res = self->owner->handle(self->req);
                          bhttp::async_write(self->stream, self->res,
                                             [self](beast::error_code ec2, std::size_t) {
                                               if (ec2 || !self->res.keep_alive())
                                                 return self->close();
                                               self->read();
                                             });
                        });
    }
    void close() {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  };

  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // stopped
      std::make_shared<session>(self, std::move(socket))->read();
      self->accept();
    });
  }
};

sms_simulator::sms_simulator() : state_(std::make_shared<state>()) {}

sms_simulator::~sms_simulator() { stop(); }

std::optional<std::uint16_t> sms_simulator::start(const std::string& bind_address,
                                                  std::uint16_t port, std::string& failure) {
  beast::error_code ec;
  auto address = boost::asio::ip::make_address(bind_address, ec);
  if (ec) {
    failure = "sms simulator: bad bind address " + bind_address;
    return std::nullopt;
  }
  tcp::endpoint at{address, port};
  auto& acceptor = state_->acceptor;
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    failure = "sms simulator: cannot listen on " + bind_address + ":" + std::to_string(port) +
              ": " + ec.message();
    return std::nullopt;
  }
  state_->address = bind_address;
  state_->port = acceptor.local_endpoint().port();
  state_->accept();
  thread_ = std::thread{[s = state_] { s->io.run(); }};
  return state_->port;
}

void sms_simulator::stop() {
  if (!thread_.joinable()) return;
  state_->io.stop();
  thread_.join();
  beast::error_code ignored;
  state_->acceptor.close(ignored);
}

std::string sms_simulator::base_url() const {
  return "http://" + state_->address + ":" + std::to_string(state_->port);
}

std::optional<sms_simulator::message> sms_simulator::last_message(const std::string& to) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto it = state_->last.find(to);
  if (it == state_->last.end()) return std::nullopt;
  return it->second;
}

std::int64_t sms_simulator::messages_received() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->received;
}

void sms_simulator::set_failing(bool failing) { state_->failing = failing; }

}  // namespace superapp::sim
