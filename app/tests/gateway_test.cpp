// The node's gateway end to end: real WebSocket clients on loopback against the listener, the
// session pipeline, the filter chain and a real domain tree (SQLite), wired as `superapp run`.
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "tests/support/temp_dir.hpp"
#include "app/cli_common.hpp"
#include "app/domains.hpp"
#include "app/gateway_wiring.hpp"
#include "app/tests/ws_test_client.hpp"
#include "gateway/filters/jwt.hpp"
#include "supervisors/domain.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

using superapp::testing::temp_dir;

// A node with the banking domain and the gateway, as superapp run wires them, on free ports.
struct gateway_node {
  temp_dir dir;
  manual_clock clock;
  node::node_config config;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor root;
  std::unique_ptr<ws::ws_listener> listener;
  std::uint16_t port = 0;
  std::optional<filters::signing_key> key;
  std::shared_ptr<gateway::gateway_services> services;

  gateway_node() {
    config = node::embedded_defaults(dir.path.string());
    config.node.roles = {node::role::banking};
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto directory = std::make_shared<sup::front_door_directory>();
    sup::domain_settings settings;
    settings.database = node::to_database_config(config);
    std::filesystem::create_directories(config.persistence.sqlite_directory);
    settings.directory = directory;
    // As in a node: the gateway seals what it forwards and the front door takes only sealed ops.
    auto seal = std::make_shared<const caller_seal>(caller_seal::generate(clock));
    settings.caller_seal = seal;
    std::string failure;
    auto gateway = app::make_gateway(config, directory, clock, /*dev_keys=*/true, failure);
    REQUIRE(gateway);
    gateway->services->caller_seal = seal;
    services = gateway->services;
    root = sup::spawn_supervisor(
        *sys, sup::node_root_supervisor(
                  "root", {sup::domain_supervisor(app::domain_for(node::role::banking), settings),
                           gateway->supervisor}));
    caf::scoped_actor self{*sys};
    REQUIRE_FALSE(sup::await_ready(self, root, 30s));
    auto sessions = app::find_sessions_supervisor(self, root, 5s);
    REQUIRE(sessions);
    config.gateway.port = 0;
    listener = std::make_unique<ws::ws_listener>(app::ws_config_from(config), *sys, sessions,
                                                 gateway->http);
    auto endpoint = listener->start();
    REQUIRE(endpoint);
    port = endpoint->port;
    std::string err;
    key = filters::signing_key::from_pem(
        "dev-1", app::read_text_file((dir.path / "dev-signing-key.pem").string()), err);
    REQUIRE(key);
  }

  ~gateway_node() {
    listener->stop();
    caf::scoped_actor self{*sys};
    sup::shutdown(self, root, 30s);
  }

  std::string token(const std::string& subject, std::chrono::seconds lifetime = 900s) {
    filters::claims c;
    c.subject = subject;
    c.token_id = "t-" + subject;
    c.expires_at = clock.now() + lifetime;
    return filters::sign_es256(c, {config.gateway.token_issuer, config.gateway.token_audience,
                                   clock.now()},
                               *key);
  }
};

using client = testing::ws_test_client;
using testing::code_of;

const std::string ping = R"({"id":1,"op":"banking.ping","body":{}})";

std::string b64(std::string_view text) {
  return filters::base64url_encode(
      std::span<const unsigned char>{reinterpret_cast<const unsigned char*>(text.data()), text.size()});
}

}  // namespace

TEST_CASE("a client with a valid token reaches the gateway and the banking front door") {
  gateway_node node;
  client c{node.port, node.token("user-1")};
  auto pong = c.call(R"({"id":"a","op":"system.ping","body":{}})");
  CHECK(code_of(pong) == "ok");
  CHECK(pong.at("id").as_string() == "a");
  auto banking = c.call(ping);
  CHECK(code_of(banking) == "ok");
  CHECK(banking.at("body").as_object().at("domain").as_string() == "banking");
}

TEST_CASE("bad frames over a real socket get error envelopes and the session lives on") {
  gateway_node node;
  client c{node.port, node.token("user-1")};
  CHECK(code_of(c.call("not json")) == "bad_request");
  CHECK(code_of(c.call(R"({"id":1,"op":"banking.nothing","body":{}})")) == "unknown_op");
  CHECK(code_of(c.call(R"({"id":1,"body":{}})")) == "bad_request");                  // no op
  CHECK(code_of(c.call(R"({"id":1,"op":"system.ping","body":{},"x":1})")) == "bad_request");
  CHECK(code_of(c.call(R"({"id":true,"op":"system.ping","body":{}})")) == "bad_request");
  CHECK(code_of(c.call(R"({"id":1,"op":"system.echo","body":{"text":7}})")) == "bad_request");
  CHECK(code_of(c.call(ping)) == "ok");
}

TEST_CASE("a frame over the size limit closes the session with 1009") {
  gateway_node node;
  client c{node.port, node.token("user-1")};
  c.send(R"({"id":1,"op":"system.echo","body":{"text":")" + std::string(70 * 1024, 'x') +
         R"("}})");
  CHECK(c.close_code_after_read() == 1009);
}

TEST_CASE("expired, tampered, wrong-algorithm and unsigned tokens are all unauthorized") {
  gateway_node node;
  std::vector<std::string> tokens;
  tokens.push_back(node.token("user-1", 1s));  // expired below
  auto tampered = node.token("user-1");
  auto dot = tampered.find('.');
  tampered[dot + 3] = tampered[dot + 3] == 'a' ? 'b' : 'a';
  tokens.push_back(tampered);
  auto payload = b64(
      R"({"sub":"user-1","jti":"x","iss":"superapp-identity","aud":"superapp-mobile","exp":9999999999})");
  tokens.push_back(b64(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".");
  tokens.push_back(b64(R"({"alg":"HS256","typ":"JWT","kid":"dev-1"})") + "." +
                   payload + ".c2lnbmF0dXJl");
  tokens.push_back("");
  node.clock.advance(60s);  // the first token is now past its expiry and the clock-skew allowance
  for (const auto& t : tokens) {
    client c{node.port, t};
    CHECK(code_of(c.call(ping)) == "unauthorized");
  }
  client good{node.port, node.token("user-2")};
  CHECK(code_of(good.call(ping)) == "ok");
}

TEST_CASE("a flood beyond a user's rate is refused with retry_after_ms while others are served") {
  gateway_node node;
  client flood{node.port, node.token("flooder")};
  constexpr int sent = 260;  // the per-user burst is 200 and the test clock does not move
  for (int i = 0; i < sent; ++i) flood.send(ping);
  // Requests beyond the session's in-flight seats (32 for queries) are `overloaded`; the rate
  // limit refuses every request after the burst of 200, whatever became of those.
  int ok = 0, limited = 0, overloaded = 0;
  for (int i = 0; i < sent; ++i) {
    auto reply = flood.read();
    auto code = code_of(reply);
    if (code == "ok") ++ok;
    if (code == "overloaded") ++overloaded;
    if (code == "rate_limited") {
      ++limited;
      CHECK(reply.at("error").as_object().at("retry_after_ms").as_int64() > 0);
    }
  }
  CHECK(ok > 0);
  CHECK(ok + overloaded == 200);
  CHECK(limited == sent - 200);
  client other{node.port, node.token("someone-else")};
  CHECK(code_of(other.call(ping)) == "ok");
}

TEST_CASE("a thousand concurrent sessions each get their banking ping answered") {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  gateway_node node;
  constexpr int sessions = 1000;
  std::vector<std::unique_ptr<client>> clients;
  clients.reserve(sessions);
  for (int i = 0; i < sessions; ++i)
    clients.push_back(std::make_unique<client>(node.port, node.token("user-" + std::to_string(i))));
  for (auto& c : clients) c->send(ping);
  int ok = 0;
  for (auto& c : clients) ok += code_of(c->read()) == "ok" ? 1 : 0;
  CHECK(ok == sessions);
  CHECK(node.listener->stats().sessions_open == sessions);
}

TEST_CASE("the largest rate limits the config accepts are limits the gateway can run with") {
  temp_dir dir;
  auto env = node::environment{{"SUPERAPP_GATEWAY_USER_BURST", "1000000"},
                               {"SUPERAPP_GATEWAY_USER_RATE_PER_S", "1000000"},
                               {"SUPERAPP_GATEWAY_ADDRESS_BURST", "1000000"},
                               {"SUPERAPP_GATEWAY_ADDRESS_RATE_PER_S", "1000000"}};
  auto config = node::apply_environment(node::embedded_defaults(dir.path.string()), env);
  REQUIRE(config);
  manual_clock clock;
  std::string failure;
  CHECK(app::make_gateway(config.value(), std::make_shared<sup::front_door_directory>(), clock,
                          true, failure));
  env["SUPERAPP_GATEWAY_ADDRESS_BURST"] = "1000001";
  CHECK_FALSE(node::apply_environment(node::embedded_defaults(dir.path.string()), env));
}

TEST_CASE("a subscribed client gets its events pushed and, after reconnecting, the ones it missed") {
  gateway_node node;
  auto router = node.services->subscriptions.get();
  REQUIRE(router);
  auto publish = [&](const std::string& user, const std::string& body) {
    caf::anon_send(router, gateway::client_event_atom::value,
                   gateway::client_event{"banking.transfer.completed", {user}, body});
  };
  std::string resume_token;
  {
    client alice{node.port, node.token("alice")};
    client bob{node.port, node.token("bob")};
    auto subscribed = alice.call(R"({"id":1,"op":"session.subscribe","body":{"topic":"banking.*"}})");
    REQUIRE(code_of(subscribed) == "ok");
    resume_token = std::string{subscribed.at("body").as_object().at("resume_token").as_string()};
    REQUIRE(code_of(bob.call(R"({"id":1,"op":"session.subscribe","body":{"topic":"banking.*"}})")) == "ok");
    publish("alice", R"({"n":1})");
    auto pushed = alice.read();
    CHECK(pushed.at("type").as_string() == "event");
    CHECK(pushed.at("seq").as_int64() == 1);
    CHECK(pushed.at("body").as_object().at("n").as_int64() == 1);
    // Bob is subscribed to the same topic but the event is not his: his next frame is his reply.
    CHECK(code_of(bob.call(R"({"id":2,"op":"system.ping","body":{}})")) == "ok");
  }
  publish("alice", R"({"n":2})");
  publish("alice", R"({"n":3})");
  client again{node.port, node.token("alice")};
  auto resumed = again.call(R"({"id":9,"op":"session.resume","body":{"resume_token":")" +
                            resume_token + R"(","last_seq":1}})");
  REQUIRE(code_of(resumed) == "ok");
  CHECK_FALSE(resumed.at("body").as_object().at("resync").as_bool());
  CHECK(resumed.at("body").as_object().at("replayed").as_int64() == 2);
  CHECK(again.read().at("seq").as_int64() == 2);
  CHECK(again.read().at("seq").as_int64() == 3);
  publish("alice", R"({"n":4})");
  CHECK(again.read().at("seq").as_int64() == 4);
  // Someone else presenting alice's token learns nothing.
  client mallory{node.port, node.token("mallory")};
  auto stolen = mallory.call(R"({"id":1,"op":"session.resume","body":{"resume_token":")" +
                             resume_token + R"(","last_seq":0}})");
  REQUIRE(code_of(stolen) == "ok");
  CHECK(stolen.at("body").as_object().at("resync").as_bool());
}

TEST_CASE("the WebSocket port also serves the JWKS the gateway verifies with, over plain HTTP") {
  gateway_node node;
  boost::asio::io_context io;
  beast::tcp_stream stream{io};
  tcp::resolver resolver{io};
  stream.expires_after(10s);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(node.port)));
  auto get = [&](const std::string& target) {
    beast::http::request<beast::http::empty_body> request{beast::http::verb::get, target, 11};
    request.set(beast::http::field::host, "127.0.0.1");
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    return response;
  };
  auto jwks = get("/.well-known/jwks.json");
  CHECK(jwks.result_int() == 200);
  auto doc = boost::json::parse(jwks.body()).as_object();
  REQUIRE(doc.at("keys").as_array().size() == 1);
  CHECK(doc.at("keys").as_array()[0].as_object().at("kid").as_string() == "dev-1");
  auto missing = get("/partner/nothing");
  CHECK(missing.result_int() == 404);
  CHECK(missing.body().find("not_found") != std::string::npos);
}
