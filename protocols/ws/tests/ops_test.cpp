// The op catalogue: lookup, lanes, idempotency keys and body checks before routing.
#include "protocols/ws/identity_ops.hpp"
#include "protocols/ws/ops.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace superapp;
using namespace superapp::ws;
namespace json = boost::json;

namespace {

request_envelope request(std::string op, std::string_view body,
                         std::optional<std::string> key = std::nullopt) {
  return request_envelope{std::int64_t{9}, std::move(op), std::move(key), std::nullopt,
                          json::parse(body).as_object()};
}

struct transfer_body {
  std::int64_t amount_minor = 0;
};

op_catalogue catalogue_with_a_transfer() {
  op_catalogue c;
  auto body = body_schema<transfer_body>{}.required("amount_minor", &transfer_body::amount_minor,
                                                    int_range{1, 1'000'000});
  c.add(make_op("banking.transfer", lane::transactional, "Moves money.", body, body));
  return c;
}

}  // namespace

TEST_CASE("the protocol knows ping, echo, subscribe, unsubscribe, resume and every domain ping") {
  for (auto name : {"system.ping", "system.echo", "session.subscribe", "session.unsubscribe",
                    "session.resume", "identity.ping", "kyc.ping", "banking.ping", "billers.ping",
                    "rewards.ping", "ecommerce.ping", "notifications.ping", "events.ping"}) {
    CAPTURE(name);
    const auto* op = protocol_ops().find(name);
    REQUIRE(op != nullptr);
    CHECK(op->lane == lane::query);
    CHECK_FALSE(op->idempotency_key_required);
  }
  CHECK(protocol_ops().all().size() == 13 + 15 + 3 + 15);  // + 15 identity, 3 kyc, 15 banking ops
}

TEST_CASE("sign-up, login, refresh, logout and JWKS are public; the caller's own ops are not") {
  for (auto name : {"identity.register", "identity.verify_otp", "identity.bind_device",
                    "identity.challenge", "identity.login", "identity.refresh", "identity.logout",
                    "identity.jwks", "identity.partner_token"}) {
    CAPTURE(name);
    REQUIRE(protocol_ops().find(name) != nullptr);
    CHECK(protocol_ops().find(name)->is_public);
  }
  for (auto name : {"identity.logout_all", "identity.devices", "identity.revoke_device",
                    "identity.set_password", "identity.step_up", "identity.authorise",
                    "identity.ping", "system.echo"}) {
    CAPTURE(name);
    REQUIRE(protocol_ops().find(name) != nullptr);
    CHECK_FALSE(protocol_ops().find(name)->is_public);
  }
  // The caller's own identity ops are for app users: partners' tokens lack the "user" scope.
  for (auto name : {"identity.logout_all", "identity.devices", "identity.revoke_device",
                    "identity.set_password", "identity.step_up", "identity.authorise"})
    CHECK(protocol_ops().find(name)->required_scope == "user");
  CHECK(protocol_ops().find("system.ping")->required_scope.empty());
}

TEST_CASE("an authorise body: money is integer minor units with a currency, never a float") {
  const auto& schema = authorise_request_schema();
  auto good = schema.decode(boost::json::parse(
      R"({"operation":"banking.transfer","amount":{"minor":60000,"currency":"GBP"},"payee":"p-1",)"
      R"("mpin":"2468","step_up":{"step_up_id":"su-1","otp":"123456"}})"));
  REQUIRE(good);
  CHECK(good->amount.minor == 60000);
  CHECK(good->amount.currency == "GBP");
  REQUIRE(good->step_up);
  CHECK(good->step_up->otp == std::optional<std::string>{"123456"});
  auto with_float = schema.decode(boost::json::parse(
      R"({"operation":"banking.transfer","amount":{"minor":600.5,"currency":"GBP"},"payee":"p"})"));
  REQUIRE_FALSE(with_float);
  CHECK(with_float.error().field == "amount.minor");
  auto negative = schema.decode(boost::json::parse(
      R"({"operation":"banking.transfer","amount":{"minor":-1,"currency":"GBP"},"payee":"p"})"));
  CHECK_FALSE(negative);
}

TEST_CASE("a list body decodes item by item and names the item at fault") {
  const auto& schema = jwks_reply_schema();
  auto good = boost::json::parse(
      R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"a","y":"b"}]})");
  auto decoded = schema.decode(good);
  REQUIRE(decoded);
  REQUIRE(decoded->keys.size() == 1);
  CHECK(decoded->keys[0].kid == "k1");
  CHECK(boost::json::value(schema.encode(*decoded)) == good);
  auto bad = boost::json::parse(R"({"keys":[{"kty":"EC"}]})");
  auto refused = schema.decode(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().field == "keys[0].crv");
  CHECK_FALSE(schema.decode(boost::json::parse(R"({"keys":{}})")));
  boost::json::array many;
  for (std::size_t i = 0; i <= max_jwks_keys; ++i) many.push_back(good.at("keys").at(0));
  CHECK_FALSE(schema.decode(boost::json::object{{"keys", many}}));
  CHECK(schema.json_schema().at("properties").at("keys").at("maxItems") == max_jwks_keys);
}

TEST_CASE("an op the catalogue does not know is unknown_op, echoing the id") {
  auto r = protocol_ops().admit(request("system.reboot", "{}"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == platform_errc::unknown_op);
  CHECK(r.error().message == R"(unknown op "system.reboot")");
  CHECK(r.error().id == request_id{std::int64_t{9}});
  CHECK(describe(r.error().code).wire_code == "unknown_op");
}

TEST_CASE("a transactional op without an idempotency key is flagged") {
  auto c = catalogue_with_a_transfer();
  auto r = c.admit(request("banking.transfer", R"({"amount_minor": 5})"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == platform_errc::idempotency_key_required);
  CHECK(r.error().field == "idempotency_key");
  CHECK(describe(r.error().code).wire_code == "idempotency_key_required");
  CHECK(c.admit(request("banking.transfer", R"({"amount_minor": 5})", "key-12345678")));
}

TEST_CASE("a transactional op declared without an idempotency key is a bug caught at once") {
  op_catalogue c;
  auto spec = make_op("banking.transfer", lane::transactional, "Moves money.", empty_body_schema(),
                      empty_body_schema());
  spec.idempotency_key_required = false;
  CHECK_THROWS_AS(c.add(std::move(spec)), assertion_failure);
}

TEST_CASE("an op added twice is a bug caught at once") {
  auto c = catalogue_with_a_transfer();
  CHECK_THROWS_AS(c.add(make_op("banking.transfer", lane::transactional, "Again.",
                                empty_body_schema(), empty_body_schema())),
                  assertion_failure);
}

TEST_CASE("a body that does not fit the op's schema is a bad request naming body.field") {
  auto r = protocol_ops().admit(request("system.echo", R"({"txt": "hi"})"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == platform_errc::bad_request);
  CHECK(r.error().field == "body.txt");
  CHECK(r.error().message == R"(unknown field "body.txt")");

  auto missing = protocol_ops().admit(request("system.echo", "{}"));
  CHECK(missing.error().message == R"(missing field "body.text")");

  auto too_long = protocol_ops().admit(
      request("system.echo", R"({"text": ")" + std::string(max_echo_text_chars + 1, 'a') + "\"}"));
  CHECK(too_long.error().message == "field \"body.text\" is longer than " +
                                        std::to_string(max_echo_text_chars) + " characters");
}

TEST_CASE("a double where an integer is expected is refused before it reaches a domain") {
  auto c = catalogue_with_a_transfer();
  auto r = c.admit(request("banking.transfer", R"({"amount_minor": 10.00})", "key-12345678"));
  REQUIRE_FALSE(r);
  CHECK(r.error().field == "body.amount_minor");
  CHECK(r.error().message.find("not a floating-point number") != std::string::npos);
}

TEST_CASE("a resume with a negative last_seq is refused") {
  auto r =
      protocol_ops().admit(request("session.resume", R"({"resume_token": "tok", "last_seq": -1})"));
  REQUIRE_FALSE(r);
  CHECK(r.error().field == "body.last_seq");
}

TEST_CASE("a well-formed request is admitted and its body decodes to the typed struct") {
  auto req = request("session.resume", R"({"resume_token": "tok", "last_seq": 41})");
  auto r = protocol_ops().admit(req);
  REQUIRE(r);
  CHECK((*r)->name == "session.resume");
  auto body = resume_request_schema().decode(req.body);
  REQUIRE(body);
  CHECK(body->resume_token == "tok");
  CHECK(body->last_seq == 41);
}

TEST_CASE("a frame goes from text to an admitted op in two calls") {
  auto decoded = decode_request(R"({"id": "p1", "op": "system.ping", "body": {}})");
  REQUIRE(decoded);
  auto admitted = protocol_ops().admit(*decoded);
  REQUIRE(admitted);
  std::string out;
  write_ok_reply(out, decoded->id, ping_reply_schema().encode(ping_reply{true, "node-1"}));
  CHECK(out == R"({"id":"p1","ok":true,"body":{"pong":true,"node":"node-1"}})");
}
