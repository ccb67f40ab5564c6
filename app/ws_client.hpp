// A blocking WebSocket client of the mobile protocol, one request at a time: `superapp client`
// and the benchmarks that need a real app's flows (sign-up, login) use it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>

#include "app/cli_common.hpp"

namespace superapp::app {

class client_session {
 public:
  client_session();

  // Connects and upgrades, presenting `token` (when not empty) as the bearer token.
  bool connect(const endpoint_url& target, const std::string& token, std::string& failure);

  // Sends one request (with `key`, or a fresh idempotency key) and returns the reply frame with
  // its id; frames that arrive meanwhile (server pushes) go to on_push.
  bool call(const std::string& op, const std::string& body_json, const std::string& key,
            std::string& reply, std::string& failure);

  // The next frame from the server (a push, when no request is pending); false when `wait`
  // passes or the connection ends (failure names the close code and reason).
  bool next_frame(std::chrono::milliseconds wait, std::string& text, std::string& failure);

  // Where pushes that arrive while a reply is awaited go; default: printed on stdout.
  std::function<void(const std::string&)> on_push;
  std::chrono::milliseconds reply_timeout{10'000};

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  std::int64_t next_id_ = 0;
};

// A reply frame's verdict and body.
bool reply_ok(const std::string& reply);
std::optional<boost::json::object> ok_body(const std::string& reply);
std::string text_of(const boost::json::object& o, const char* key);

// The code the SMS simulator of `superapp run` (its URL in DIR/node.json) last sent to `phone`;
// empty if none.
std::string code_from_simulator(const std::string& data_dir, const std::string& phone);

}  // namespace superapp::app
