// The session pipeline on CAF's deterministic test coordinator: every frame gets exactly one
// reply, refusals carry the catalogue's codes, and domain ops reach the front door and back.
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/pipeline/key_refresher.hpp"
#include "gateway/pipeline/session_pipeline.hpp"
#include "protocols/front_door_messages.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::gateway;
using namespace std::chrono_literals;

namespace {

using frame_atom = caf::atom_constant<caf::atom("frame")>;

ws::op_catalogue node_ops() {
  auto ops = ws::protocol_ops();
  static const auto empty = ws::body_schema<ws::empty_body>{};
  ops.add(ws::make_op("banking.test_slow", ws::lane::transactional, "Takes a while", empty, empty));
  ops.add(ws::public_op(
      ws::make_op("banking.test_public", ws::lane::query, "Public: no token needed", empty, empty)));
  ops.add(ws::scoped_op(
      ws::make_op("banking.test_users_only", ws::lane::query, "App users only", empty, empty), "user"));
  return ops;
}

filters::route_table node_routes() {
  filters::route_table routes;
  routes.add_domain("system.", "system");
  routes.add_domain("session.", "system");
  routes.add_domain("banking.", "banking");
  routes.add_lane("system.*", filters::lane::query);
  routes.add_lane("session.*", filters::lane::query);
  routes.add_lane("banking.ping", filters::lane::query);
  routes.add_lane("banking.test_public", filters::lane::query);
  routes.add_lane("banking.test_users_only", filters::lane::query);
  return routes;
}

// A session actor in miniature: frames in, replies collected.
caf::behavior session_actor(caf::event_based_actor* self, std::shared_ptr<session_pipeline> p,
                            std::shared_ptr<std::vector<std::string>> written) {
  return {[self, p, written](frame_atom, const std::string& frame) {
            p->on_frame(self, frame,
                        [written](std::string out) { written->push_back(std::move(out)); });
          },
          [written](push_atom, std::string& frame) { written->push_back(std::move(frame)); }};
}

// The banking front door: answers ping, holds `banking.test_slow` for ever.
caf::behavior banking_door(caf::event_based_actor* self, std::string name) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {[self, held, name](op_atom, const op_request& r) -> caf::result<op_reply> {
    if (r.op == "banking.test_slow") {
      auto rp = self->make_response_promise();
      held->push_back(rp);
      return rp;
    }
    return op_reply{R"({"pong":true,"domain":")" + name + R"(","user":")" + r.who.subject +
                    R"("})"};
  }};
}

struct fixture : test_coordinator_fixture<> {
  manual_clock clock;
  ws::op_catalogue ops = node_ops();
  filters::signing_key key = filters::signing_key::generate("k1");
  std::shared_ptr<gateway_services> services;
  std::shared_ptr<std::vector<std::string>> written =
      std::make_shared<std::vector<std::string>>();
  caf::actor session;
  caf::actor door;

  fixture() {
    services = std::make_shared<gateway_services>(
        "node-1", clock, ops, filters::jwt_policy{"superapp-identity", "superapp-mobile"},
        node_routes(), filters::rate_limit_config{5, 1.0}, filters::rate_limit_config{3, 1.0},
        filters::rate_limit_config{1000, 1000.0},
        std::array<std::uint32_t, filters::lane_count>{64, 64},
        std::make_shared<sup::front_door_directory>());
    filters::jwk_set set;
    std::string err;
    REQUIRE(set.add(key.kid, key.key, err));
    services->keys.replace(std::move(set));
    door = sys.spawn(banking_door, std::string{"banking"});
    services->directory->publish("banking", door, std::make_shared<sup::admission_gate>(1));
  }

  ~fixture() override {
    for (auto& a : {session, door})
      if (a) self->send_exit(a, caf::exit_reason::kill);
    run();
  }

  std::string token(std::chrono::seconds lifetime = 900s,
                    std::vector<std::string> scopes = {"banking:read"},
                    std::optional<std::int64_t> quota_per_day = {}) {
    filters::claims c;
    c.subject = quota_per_day ? "partner:shop-1" : "user-42";
    c.token_id = "t-1";
    c.scopes = std::move(scopes);
    c.quota_per_day = quota_per_day;
    c.expires_at = clock.now() + lifetime;
    return filters::sign_es256(c, {"superapp-identity", "superapp-mobile", clock.now()}, key);
  }

  void open(std::optional<std::string> bearer, std::optional<std::string> device = {}) {
    auto p = std::make_shared<session_pipeline>(
        services, session_info{"s-1", "127.0.0.1", std::move(bearer), std::move(device)});
    session = sys.spawn(session_actor, p, written);
  }

  // Sends one frame and returns every reply written since.
  boost::json::object send(const std::string& frame) {
    written->clear();
    self->send(session, frame_atom::value, frame);
    consume_messages();
    REQUIRE(written->size() == 1);
    return boost::json::parse(written->front()).as_object();
  }

  static std::string code_of(const boost::json::object& reply) {
    if (reply.at("ok").as_bool()) return "ok";
    return std::string{reply.at("error").as_object().at("code").as_string()};
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a frame that is not JSON gets a bad_request reply, not silence") {
  open(token());
  auto reply = send("hello");
  CHECK(code_of(reply) == "bad_request");
  CHECK(reply.at("id").is_null());
}

TEST_CASE_FIXTURE(fixture, "an unknown op is refused with unknown_op and the request's id") {
  open(token());
  auto reply = send(R"({"id":7,"op":"banking.nothing","body":{}})");
  CHECK(code_of(reply) == "unknown_op");
  CHECK(reply.at("id").as_int64() == 7);
}

TEST_CASE_FIXTURE(fixture, "a body field that does not fit the op's schema is named") {
  open(token());
  auto reply = send(R"({"id":"a","op":"system.echo","body":{"txt":"x"}})");
  CHECK(code_of(reply) == "bad_request");
  auto message = std::string{reply.at("error").as_object().at("message").as_string()};
  INFO(message);
  CHECK(message.find("body.txt") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a session without a token, or with a forged one, is unauthorized") {
  SUBCASE("no token") { open(std::nullopt); }
  SUBCASE("forged token") {
    auto forged = token();
    forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
    open(forged);
  }
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "unauthorized");
}

TEST_CASE_FIXTURE(fixture, "an expired session token is refused on the next request") {
  open(token(60s));
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
  clock.advance(91s);  // past expiry and the verifier's 30 s clock-skew allowance
  CHECK(code_of(send(R"({"id":2,"op":"system.ping","body":{}})")) == "unauthorized");
}

TEST_CASE_FIXTURE(fixture, "the gateway answers its own ping and echo") {
  open(token());
  auto pong = send(R"({"id":1,"op":"system.ping","body":{}})");
  CHECK(pong.at("body").as_object().at("node").as_string() == "node-1");
  auto echo = send(R"({"id":2,"op":"system.echo","body":{"text":"hi"}})");
  CHECK(echo.at("body").as_object().at("text").as_string() == "hi");
}

TEST_CASE_FIXTURE(fixture, "a domain op reaches the front door with the verified caller") {
  open(token());
  auto reply = send(R"({"id":3,"op":"banking.ping","body":{}})");
  REQUIRE(code_of(reply) == "ok");
  CHECK(reply.at("body").as_object().at("user").as_string() == "user-42");
  CHECK(reply.at("id").as_int64() == 3);
}

TEST_CASE_FIXTURE(fixture, "a transactional op without an idempotency key is refused") {
  open(token());
  CHECK(code_of(send(R"({"id":4,"op":"banking.test_slow","body":{}})")) ==
        "idempotency_key_required");
}

TEST_CASE_FIXTURE(fixture, "a flood beyond the user's rate is refused with retry_after_ms") {
  open(token());
  for (int i = 0; i < 5; ++i) CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
  auto refused = send(R"({"id":1,"op":"system.ping","body":{}})");
  CHECK(code_of(refused) == "rate_limited");
  CHECK(refused.at("error").as_object().at("retry_after_ms").as_int64() == 1000);
  clock.advance(1s);
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
}

TEST_CASE_FIXTURE(fixture, "an op for app users refuses a token without the user scope (a partner's)") {
  open(token(900s, {"ecommerce.orders"}, 1000));
  auto refused = send(R"({"id":1,"op":"banking.test_users_only","body":{}})");
  CHECK(code_of(refused) == "forbidden");
  // Ops without a required scope still serve the partner.
  CHECK(code_of(send(R"({"id":2,"op":"banking.ping","body":{}})")) == "ok");
  self->send_exit(session, caf::exit_reason::kill);
  run();
  open(token(900s, {"user"}));
  CHECK(code_of(send(R"({"id":3,"op":"banking.test_users_only","body":{}})")) == "ok");
}

TEST_CASE_FIXTURE(fixture, "a partner token is held to the daily quota it carries, until UTC midnight") {
  open(token(900s, {"ecommerce.orders"}, 3));
  for (int i = 0; i < 3; ++i) CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
  auto refused = send(R"({"id":1,"op":"system.ping","body":{}})");
  CHECK(code_of(refused) == "quota_exceeded");
  CHECK(refused.at("error").as_object().at("retry_after_ms").as_int64() > 0);
  // A new session with a fresh token of the same partner shares the count.
  self->send_exit(session, caf::exit_reason::kill);
  run();
  open(token(900s, {"ecommerce.orders"}, 3));
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "quota_exceeded");
  // Users' tokens carry no quota: never counted.
  self->send_exit(session, caf::exit_reason::kill);
  run();
  open(token());
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
  clock.advance(24h);
  self->send_exit(session, caf::exit_reason::kill);
  run();
  open(token(900s, {"ecommerce.orders"}, 3));
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
}

TEST_CASE_FIXTURE(fixture, "a flood from one device is refused before the user's own limit") {
  open(token(), "phone-1");
  for (int i = 0; i < 3; ++i) CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
  auto refused = send(R"({"id":1,"op":"system.ping","body":{}})");
  CHECK(code_of(refused) == "rate_limited");
  CHECK(refused.at("error").as_object().at("retry_after_ms").as_int64() == 1000);
  // The same user on another device still has the rest of the user's budget.
  self->send_exit(session, caf::exit_reason::kill);
  run();
  open(token(), "phone-2");
  CHECK(code_of(send(R"({"id":1,"op":"system.ping","body":{}})")) == "ok");
}

TEST_CASE_FIXTURE(fixture, "a front door out of credits answers overloaded at once") {
  open(token());
  written->clear();
  self->send(session, frame_atom::value,
             std::string{R"({"id":1,"op":"banking.test_slow","idempotency_key":"key-0001","body":{}})"});
  consume_messages();
  CHECK(written->empty());  // held by the front door, using its only credit
  auto reply = send(R"({"id":2,"op":"banking.ping","body":{}})");
  CHECK(code_of(reply) == "overloaded");
  CHECK(reply.at("error").as_object().at("retryable").as_bool());
}

TEST_CASE_FIXTURE(fixture, "a domain that is not running answers unavailable") {
  open(token());
  services->directory->clear();
  CHECK(code_of(send(R"({"id":1,"op":"banking.ping","body":{}})")) == "unavailable");
}

TEST_CASE_FIXTURE(fixture, "a public op reaches its domain without a token; others are still refused") {
  open(std::nullopt);
  auto reply = send(R"({"id":1,"op":"banking.test_public","body":{}})");
  CHECK(code_of(reply) == "ok");
  CHECK(reply.at("body").as_object().at("user").as_string() == "");  // no caller was invented
  CHECK(code_of(send(R"({"id":2,"op":"banking.ping","body":{}})")) == "unauthorized");
}

TEST_CASE_FIXTURE(fixture, "a public op with a bad token still passes, a private one does not") {
  open(std::string{"not-a-token"});
  CHECK(code_of(send(R"({"id":1,"op":"banking.test_public","body":{}})")) == "ok");
  CHECK(code_of(send(R"({"id":2,"op":"banking.ping","body":{}})")) == "unauthorized");
}

TEST_CASE_FIXTURE(fixture, "session ops answer unavailable while the gateway has no subscription router") {
  open(token());
  CHECK(code_of(send(R"({"id":1,"op":"session.subscribe","body":{"topic":"banking.*"}})")) ==
        "unavailable");
}

TEST_CASE_FIXTURE(fixture, "a session subscribes, gets its events pushed, and resumes after a reconnect") {
  auto router = sys.spawn(subscription_router, subscription_limits{});
  services->subscriptions.set(router);
  open(token());
  auto subscribed = send(R"({"id":1,"op":"session.subscribe","body":{"topic":"banking.*"}})");
  REQUIRE(code_of(subscribed) == "ok");
  const auto& body = subscribed.at("body").as_object();
  CHECK(body.at("topic").as_string() == "banking.*");
  const std::string resume_token{body.at("resume_token").as_string()};
  CHECK(resume_token.size() == 32);
  CHECK(code_of(send(R"({"id":2,"op":"session.subscribe","body":{"topic":"Not a topic"}})")) ==
        "bad_request");

  written->clear();
  self->send(router, client_event_atom::value,
             client_event{"banking.transfer.completed", {"user-42"}, R"({"id":"t-1"})"});
  consume_messages();
  REQUIRE(written->size() == 1);
  CHECK(written->front() ==
        R"({"type":"event","topic":"banking.transfer.completed","seq":1,"body":{"id":"t-1"}})");

  // The connection drops; an event arrives meanwhile; a new session resumes from seq 1.
  self->send_exit(session, caf::exit_reason::kill);
  consume_messages();
  self->send(router, client_event_atom::value,
             client_event{"banking.transfer.completed", {"user-42"}, R"({"id":"t-2"})"});
  consume_messages();
  open(token());
  written->clear();
  self->send(session, frame_atom::value,
             R"({"id":3,"op":"session.resume","body":{"resume_token":")" + resume_token +
                 R"(","last_seq":1}})");
  consume_messages();
  REQUIRE(written->size() == 2);
  CHECK(written->at(0) == R"({"id":3,"ok":true,"body":{"resync":false,"replayed":1}})");
  CHECK(written->at(1) ==
        R"({"type":"event","topic":"banking.transfer.completed","seq":2,"body":{"id":"t-2"}})");
  auto unsubscribed = send(R"({"id":4,"op":"session.unsubscribe","body":{"topic":"banking.*"}})");
  CHECK(code_of(unsubscribed) == "ok");
  written->clear();
  self->send(router, client_event_atom::value,
             client_event{"banking.transfer.completed", {"user-42"}, "{}"});
  consume_messages();
  CHECK(written->empty());
  self->send_exit(router, caf::exit_reason::kill);
}

TEST_CASE("two JWKS documents merge into one; anything else is refused with a reason") {
  std::string error;
  auto merged = merge_jwks(R"({"keys":[{"kid":"a"}]})", R"({"keys":[{"kid":"b"},{"kid":"c"}]})", error);
  REQUIRE(merged);
  CHECK(*merged == R"({"keys":[{"kid":"a"},{"kid":"b"},{"kid":"c"}]})");
  CHECK(merge_jwks("", R"({"keys":[]})", error) == std::optional<std::string>{R"({"keys":[]})"});
  CHECK_FALSE(merge_jwks(R"({"keys":[]})", "[]", error));
  CHECK(error.find("identity") != std::string::npos);
  CHECK_FALSE(merge_jwks("{", R"({"keys":[]})", error));
}

namespace {

// The identity front door in miniature: answers identity.jwks with whatever `jwks` holds and
// counts how often it was asked.
caf::behavior identity_door(caf::event_based_actor*, std::shared_ptr<std::string> jwks,
                            std::shared_ptr<int> asked) {
  return {[jwks, asked](op_atom, const op_request& r) -> caf::result<op_reply> {
    if (r.op != "identity.jwks") return make_error(platform_errc::unknown_op);
    ++*asked;
    return op_reply{*jwks};
  }};
}

// The session fixture plus an identity door and a key refresher started as a gateway child.
struct refresher_fixture : fixture {
  std::shared_ptr<std::string> jwks = std::make_shared<std::string>(R"({"keys":[]})");
  std::shared_ptr<int> asked = std::make_shared<int>(0);
  caf::actor identity;
  caf::actor refresher;
  caf::actor parent;

  refresher_fixture() {
    identity = sys.spawn(identity_door, jwks, asked);
    services->directory->publish("identity", identity, std::make_shared<sup::admission_gate>(4));
    key_refresh_settings settings;
    settings.interval = 30s;
    settings.on_demand_gap = 1s;
    auto spec = key_refresher_child(services, settings);
    // A function actor with no arguments trips UBSan in CAF 0.17's init_fun_factory: pass one.
    parent = sys.spawn(
        [&](caf::event_based_actor* self, int) -> caf::behavior {
          auto child = spec.start(*self, caf::make_message());
          REQUIRE(child);
          refresher = *child;
          return {[](caf::unit_t) {}};
        },
        0);
    consume_messages();
    REQUIRE(refresher);
    CHECK(services->key_refresher.get() == refresher);
  }

  // It refreshes for ever: stop it, or the fixture's final run() never ends.
  ~refresher_fixture() override {
    for (auto& a : {refresher, parent, identity}) self->send_exit(a, caf::exit_reason::kill);
    consume_messages();
  }

  std::string token_from(const filters::signing_key& k) {
    filters::claims c;
    c.subject = "user-7";
    c.token_id = "t-7";
    c.expires_at = clock.now() + 900s;
    return filters::sign_es256(c, {"superapp-identity", "superapp-mobile", clock.now()}, k);
  }

  // A new session holding `bearer` sends one ping; the reply's code.
  std::string ping_with(const std::string& bearer) {
    if (session) self->send_exit(session, caf::exit_reason::kill);
    consume_messages();
    open(bearer);
    return code_of(send(R"({"id":1,"op":"system.ping","body":{}})"));
  }
};

}  // namespace

TEST_CASE_FIXTURE(refresher_fixture, "the gateway picks up the identity domain's new signing key without a restart") {
  CHECK(*asked == 1);  // at start
  auto rotated = filters::signing_key::generate("identity-2");
  // Asked less than a second ago: the unknown kid does not make it ask again.
  CHECK(ping_with(token_from(rotated)) == "unauthorized");
  CHECK(*asked == 1);
  // Identity rotates: its JWKS now names the new key; the next refresh brings it in.
  *jwks = filters::jwks_json(std::span<const filters::signing_key>{&rotated, 1});
  advance_time(30s);
  consume_messages();
  CHECK(*asked == 2);
  CHECK(ping_with(token_from(rotated)) == "ok");
  CHECK(services->served_jwks().find("identity-2") != std::string::npos);
  // A broken answer leaves the keys in use alone.
  *jwks = "not json";
  advance_time(30s);
  consume_messages();
  CHECK(services->served_jwks().find("identity-2") != std::string::npos);
}

TEST_CASE_FIXTURE(refresher_fixture, "a token signed with a key not seen yet makes the gateway fetch the keys once, then serve it") {
  auto rotated = filters::signing_key::generate("identity-3");
  *jwks = filters::jwks_json(std::span<const filters::signing_key>{&rotated, 1});
  advance_time(2s);  // past the on-demand gap, well before the 30 s refresh
  consume_messages();
  REQUIRE(*asked == 1);
  // The session holds the frame, the refresher asks identity, the frame runs again: ok.
  CHECK(ping_with(token_from(rotated)) == "ok");
  CHECK(*asked == 2);
  CHECK(services->served_jwks().find("identity-3") != std::string::npos);
  // Forged kids: refused; identity is asked at most once per gap however many sessions try.
  auto stranger = filters::signing_key::generate("nobody");
  CHECK(ping_with(token_from(stranger)) == "unauthorized");
  CHECK(*asked == 2);
  advance_time(2s);
  consume_messages();
  CHECK(ping_with(token_from(stranger)) == "unauthorized");
  CHECK(ping_with(token_from(stranger)) == "unauthorized");
  CHECK(*asked == 3);
}
