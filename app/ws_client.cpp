// The blocking protocol client of `superapp client` and the benchmarks.
#include "app/ws_client.hpp"

#include <cstdio>
#include <random>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "protocols/http/http_client.hpp"

namespace superapp::app {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

std::string fresh_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[32];
  std::snprintf(text, sizeof text, "cli-%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

}  // namespace

client_session::client_session()
    : on_push([](const std::string& frame) { std::printf("%s\n", frame.c_str()); }), ws_(io_) {}

bool client_session::connect(const endpoint_url& target, const std::string& token, std::string& failure) {
  try {
    tcp::resolver resolver{io_};
    beast::get_lowest_layer(ws_).expires_after(reply_timeout);
    beast::get_lowest_layer(ws_).connect(resolver.resolve(target.host, target.port));
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
    }));
    ws_.handshake(target.host + ":" + target.port, target.path);
    return true;
  } catch (const std::exception& e) {
    failure = e.what();
    return false;
  }
}

bool client_session::call(const std::string& op, const std::string& body_json, const std::string& key,
                          std::string& reply, std::string& failure) {
  try {
    boost::system::error_code ec;
    auto body = boost::json::parse(body_json.empty() ? "{}" : body_json, ec);
    if (ec || !body.is_object()) {
      failure = "the body must be a JSON object";
      return false;
    }
    boost::json::object request{{"id", ++next_id_}, {"op", op}, {"body", body}};
    // Writes need a key; a person poking the node should not have to invent one.
    request["idempotency_key"] = key.empty() ? fresh_key() : key;
    beast::get_lowest_layer(ws_).expires_after(reply_timeout);
    ws_.write(boost::asio::buffer(boost::json::serialize(request)));
    for (;;) {
      beast::flat_buffer buffer;
      ws_.read(buffer);
      auto text = beast::buffers_to_string(buffer.data());
      auto frame = boost::json::parse(text, ec);
      if (!ec && frame.is_object() && frame.as_object().contains("id") &&
          frame.as_object().at("id") == boost::json::value(next_id_)) {
        reply = text;
        return true;
      }
      if (on_push) on_push(text);  // a server push while we wait
    }
  } catch (const std::exception& e) {
    failure = e.what();
    return false;
  }
}

bool client_session::next_frame(std::chrono::milliseconds wait, std::string& text, std::string& failure) {
  try {
    beast::get_lowest_layer(ws_).expires_after(wait);
    beast::flat_buffer buffer;
    ws_.read(buffer);
    text = beast::buffers_to_string(buffer.data());
    return true;
  } catch (const boost::system::system_error& e) {
    if (e.code() == websocket::error::closed)
      failure = "closed by the server: " + std::to_string(ws_.reason().code) + " " +
                std::string{ws_.reason().reason.c_str()};
    else
      failure = e.what();
    return false;
  } catch (const std::exception& e) {
    failure = e.what();
    return false;
  }
}

bool reply_ok(const std::string& reply) {
  boost::system::error_code ec;
  auto v = boost::json::parse(reply, ec);
  return !ec && v.is_object() && v.as_object().contains("ok") && v.as_object().at("ok").is_bool() &&
         v.as_object().at("ok").as_bool();
}

std::optional<boost::json::object> ok_body(const std::string& reply) {
  boost::system::error_code ec;
  auto v = boost::json::parse(reply, ec);
  if (ec || !v.is_object() || !reply_ok(reply)) return std::nullopt;
  return v.as_object().at("body").as_object();
}

std::string text_of(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string{v->as_string()} : std::string{};
}

// The code the SMS simulator of `superapp run` last sent to `phone`; empty if none.
std::string code_from_simulator(const std::string& data_dir, const std::string& phone) {
  auto url = node_file_field(data_dir, "sms_url");
  auto at = http::parse_url(url);
  if (!at) return {};
  auto r = http::get(*at, "/v1/messages/last?to=" + http::url_encode(phone),
                     std::chrono::milliseconds{2000});
  if (!r || r.reply->status != 200) return {};
  boost::system::error_code ec;
  auto doc = boost::json::parse(r.reply->body, ec);
  return ec || !doc.is_object() ? std::string{} : text_of(doc.as_object(), "code");
}

}  // namespace superapp::app
