// A blocking WebSocket client for the end-to-end tests: connects to the gateway on loopback,
// sends request envelopes and reads replies and pushes, with deadlines on every step.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace superapp::testing {

class ws_test_client {
 public:
  explicit ws_test_client(std::uint16_t port, const std::string& token = "") : ws_(io_) {
    namespace beast = boost::beast;
    boost::asio::ip::tcp::resolver resolver{io_};
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds{10});
    beast::get_lowest_layer(ws_).connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.set_option(beast::websocket::stream_base::decorator(
        [token](beast::websocket::request_type& req) {
          if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
        }));
    ws_.handshake("127.0.0.1", "/ws");
  }

  void send(const std::string& frame, std::chrono::seconds deadline = std::chrono::seconds{10}) {
    boost::beast::get_lowest_layer(ws_).expires_after(deadline);
    ws_.write(boost::asio::buffer(frame));
  }

  boost::json::object read(std::chrono::seconds deadline = std::chrono::seconds{10}) {
    boost::beast::flat_buffer buffer;
    boost::beast::get_lowest_layer(ws_).expires_after(deadline);
    ws_.read(buffer);
    return boost::json::parse(boost::beast::buffers_to_string(buffer.data())).as_object();
  }

  boost::json::object call(const std::string& frame) {
    send(frame);
    return read();
  }

  // One op with a fresh id (and idempotency key unless told otherwise). Ops that hash
  // credentials (Argon2id) may queue behind others on a loaded machine: 20 s each way.
  boost::json::object call(const std::string& op, boost::json::object body, bool with_key = true) {
    boost::json::object frame{{"id", ++id_}, {"op", op}, {"body", std::move(body)}};
    if (with_key) frame["idempotency_key"] = "e2e-key-" + std::to_string(id_);
    constexpr std::chrono::seconds slow_op_deadline{20};
    send(boost::json::serialize(frame), slow_op_deadline);
    return read(slow_op_deadline);
  }

  // The close code the server sent, once a read fails because the server closed.
  std::uint16_t close_code_after_read() {
    try {
      read();
    } catch (const boost::system::system_error&) {
    }
    return ws_.reason().code;
  }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  std::int64_t id_ = 0;
};

// "ok", or the error code of an error reply.
inline std::string code_of(const boost::json::object& reply) {
  if (reply.at("ok").as_bool()) return "ok";
  return std::string{reply.at("error").as_object().at("code").as_string()};
}

}  // namespace superapp::testing
