// `superapp client`: a small WebSocket client for poking a running node by hand.
#include "app/client_cli.hpp"

#include "app/cli_common.hpp"
#include "app/gateway_wiring.hpp"
#include "protocols/clock.hpp"

#include <cstdio>
#include <random>
#include <cstdlib>
#include <iostream>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace superapp::app {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

constexpr auto reply_timeout = std::chrono::seconds{10};

int usage() {
  std::fprintf(stderr,
               "usage: superapp client [--url ws://HOST:PORT/ws] [--token TOKEN | --dev-token]\n"
               "                       [--data-dir DIR]\n"
               "                       [op OP [BODY_JSON] [--idempotency-key KEY]]\n"
               "With `op` it sends one request and prints the reply (exit 0 when ok). Without,\n"
               "it reads `OP BODY_JSON` lines from stdin and prints each reply.\n"
               "The token may also come from SUPERAPP_CLIENT_TOKEN; --dev-token signs one with the\n"
               "development key `superapp run` keeps in DIR (until the identity domain issues them).\n");
  return 2;
}

std::string fresh_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[32];
  std::snprintf(text, sizeof text, "cli-%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

class client_session {
 public:
  client_session() : ws_(io_) {}

  bool connect(const endpoint_url& target, const std::string& token, std::string& failure) {
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

  // Sends one request and returns the reply frame with the same id (events are printed).
  bool call(const std::string& op, const std::string& body_json, const std::string& key,
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
        std::printf("%s\n", text.c_str());  // a server push while we wait
      }
    } catch (const std::exception& e) {
      failure = e.what();
      return false;
    }
  }

 private:
  boost::asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  std::int64_t next_id_ = 0;
};

bool reply_ok(const std::string& reply) {
  boost::system::error_code ec;
  auto v = boost::json::parse(reply, ec);
  return !ec && v.is_object() && v.as_object().contains("ok") && v.as_object().at("ok").is_bool() &&
         v.as_object().at("ok").as_bool();
}

}  // namespace

int run_client_command(const std::vector<std::string>& args) {
  std::string url, data_dir = "./data", op, body, key;
  std::string token = std::getenv("SUPERAPP_CLIENT_TOKEN") ? std::getenv("SUPERAPP_CLIENT_TOKEN") : "";
  bool one_shot = false;
  bool use_dev_token = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if ((args[i] == "--url" && value(url)) || (args[i] == "--token" && value(token)) ||
        (args[i] == "--data-dir" && value(data_dir)) ||
        (args[i] == "--idempotency-key" && value(key))) {
      continue;
    }
    if (args[i] == "--dev-token") {
      use_dev_token = true;
      continue;
    }
    if (args[i] == "op" && value(op)) {
      one_shot = true;
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) body = args[++i];
      continue;
    }
    return usage();
  }
  if (use_dev_token) {
    std::string failure;
    superapp::system_clock clock;
    token = dev_token(data_dir, "dev-user", clock, failure);
    if (token.empty()) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return 2;
    }
  }
  if (url.empty()) url = node_file_field(data_dir, "ws_url");
  auto target = parse_url(url, "ws://", "/ws");
  if (!target) {
    std::fprintf(stderr, "superapp client: no WebSocket URL (pass --url ws://HOST:PORT/ws)\n");
    return 2;
  }
  client_session session;
  std::string failure, reply;
  if (!session.connect(*target, token, failure)) {
    std::fprintf(stderr, "superapp client: cannot connect to %s: %s\n", url.c_str(),
                 failure.c_str());
    return 1;
  }
  if (one_shot) {
    if (!session.call(op, body, key, reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return 1;
    }
    std::printf("%s\n", reply.c_str());
    return reply_ok(reply) ? 0 : 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    auto space = line.find(' ');
    auto line_op = line.substr(0, space);
    auto line_body = space == std::string::npos ? std::string{} : line.substr(space + 1);
    if (!session.call(line_op, line_body, "", reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      if (failure.find("JSON") == std::string::npos) return 1;
      continue;
    }
    std::printf("%s\n", reply.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace superapp::app
