// The caller seal: forged, altered, replayed and foreign-key requests are told apart.
#include <doctest/doctest.h>

#include "protocols/caller_seal.hpp"

namespace {

using namespace std::chrono_literals;
using superapp::caller_seal;
using superapp::manual_clock;
using superapp::op_request;

op_request transfer() {
  op_request r;
  r.op = "banking.transfer";
  r.body_json = R"({"amount_minor":1000,"currency":"EUR","to":"acc-2"})";
  r.idempotency_key = "k-1";
  r.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  r.who.subject = "user-42";
  r.who.device_id = "phone-1";
  r.who.scopes = {"banking:read", "banking:transfer"};
  return r;
}

}  // namespace

TEST_CASE("a sealed op verifies under the same key and not under another") {
  manual_clock clock;
  const auto key = caller_seal::generate(clock);
  auto r = transfer();
  key.seal(r);
  CHECK(r.seal.size() == 32);
  CHECK(key.verify(r));
  CHECK_FALSE(caller_seal::generate(clock).verify(r));
}

TEST_CASE("changing any sealed field breaks the seal") {
  manual_clock clock;
  const auto key = caller_seal::generate(clock);
  auto sealed = transfer();
  key.seal(sealed);
  auto tampered = [&](auto change) {
    auto r = sealed;
    change(r);
    return !key.verify(r);
  };
  CHECK(tampered([](op_request& r) { r.op = "banking.reverse"; }));
  CHECK(tampered([](op_request& r) { r.body_json = R"({"amount_minor":9000,"currency":"EUR","to":"acc-2"})"; }));
  CHECK(tampered([](op_request& r) { r.idempotency_key = "k-2"; }));
  CHECK(tampered([](op_request& r) { r.traceparent.clear(); }));
  CHECK(tampered([](op_request& r) { r.who.subject = "user-43"; }));
  CHECK(tampered([](op_request& r) { r.who.device_id.clear(); }));
  CHECK(tampered([](op_request& r) { r.who.scopes.push_back("admin"); }));
  CHECK(tampered([](op_request& r) { r.who.scopes = {"banking:readbanking:transfer"}; }));
  CHECK(tampered([](op_request& r) { r.sealed_at_ms += 1; }));
  CHECK(tampered([](op_request& r) { r.seal[0] = static_cast<char>(r.seal[0] ^ 1); }));
  CHECK(tampered([](op_request& r) { r.seal.clear(); }));
}

TEST_CASE("an unsealed op is refused") {
  manual_clock clock;
  const auto key = caller_seal::generate(clock);
  CHECK_FALSE(key.verify(transfer()));
}

TEST_CASE("a seal older than max_age is refused, so a captured op cannot be replayed later") {
  manual_clock clock;
  const auto key = caller_seal::generate(clock);
  auto r = transfer();
  key.seal(r);
  clock.advance(caller_seal::default_max_age);
  CHECK(key.verify(r));
  clock.advance(1ms);
  CHECK_FALSE(key.verify(r));
}

TEST_CASE("a key file holds 64 hex digits; anything else is refused with a reason") {
  manual_clock clock;
  const auto key = caller_seal::generate(clock);
  std::string error;
  auto again = caller_seal::from_hex("  " + key.key_hex() + "\n", clock, error);
  REQUIRE(again.has_value());
  auto r = transfer();
  key.seal(r);
  CHECK(again->verify(r));
  CHECK_FALSE(caller_seal::from_hex("abcd", clock, error).has_value());
  CHECK(error.find("64 hex digits") != std::string::npos);
  CHECK_FALSE(caller_seal::from_hex(std::string(63, 'a') + "z", clock, error).has_value());
  CHECK(error.find("not a hex digit") != std::string::npos);
}
