// The provider's callbacks: only an untouched, recent delivery signed with our secret passes.
#include <doctest/doctest.h>

#include <vector>

#include "actors/kyc/webhook.hpp"

using namespace superapp::kyc;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t now = 1'790'000'000;
const std::string secret = "a shared secret of the provider";
const std::string body =
    R"({"provider_check_id":"pc-1","reference":"kyc-1","level":"full","outcome":"verified","reason":""})";

webhook_delivery signed_at(std::int64_t at, std::string b = body, const std::string& key = secret) {
  auto ts = std::to_string(at);
  return {b, ts, webhook_signature(key, ts, b)};
}

}  // namespace

TEST_CASE("a delivery signed with the secret just now is authentic") {
  CHECK(verify_webhook(secret, signed_at(now), now, 300s) == webhook_verdict::authentic);
  CHECK(verify_webhook(secret, signed_at(now - 299), now, 300s) == webhook_verdict::authentic);
  auto sig = webhook_signature(secret, "1", "{}");
  CHECK(sig.rfind("v1=", 0) == 0);
  CHECK(sig.size() == 3 + 64);
}

TEST_CASE("another secret, a changed body or a changed timestamp breaks the signature") {
  CHECK(verify_webhook(secret, signed_at(now, body, "another secret"), now, 300s) ==
        webhook_verdict::bad_signature);
  auto d = signed_at(now);
  d.body.replace(d.body.find("verified"), 8, "rejected");
  CHECK(verify_webhook(secret, d, now, 300s) == webhook_verdict::bad_signature);
  d = signed_at(now - 1000);
  d.timestamp = std::to_string(now);  // a replay dressed up as fresh
  CHECK(verify_webhook(secret, d, now, 300s) == webhook_verdict::bad_signature);
}

TEST_CASE("a delivery signed too long ago or in the future is stale") {
  CHECK(verify_webhook(secret, signed_at(now - 301), now, 300s) == webhook_verdict::stale);
  CHECK(verify_webhook(secret, signed_at(now + 301), now, 300s) == webhook_verdict::stale);
}

TEST_CASE("malformed headers are refused") {
  auto d = signed_at(now);
  for (const char* ts : {"", "abc", "12 ", "-", "1790000000000000"}) {
    auto x = d;
    x.timestamp = ts;
    CHECK(verify_webhook(secret, x, now, 300s) == webhook_verdict::bad_signature);
  }
  for (const std::string& sig : std::vector<std::string>{"", "v1=", "v0=" + d.signature.substr(3), d.signature.substr(0, 20),
                          d.signature + "00"}) {
    auto x = d;
    x.signature = sig;
    CHECK(verify_webhook(secret, x, now, 300s) == webhook_verdict::bad_signature);
  }
}

TEST_CASE("a decision body is read strictly") {
  auto d = parse_decision(body);
  REQUIRE(d);
  CHECK(d->provider_check_id == "pc-1");
  CHECK(d->reference == "kyc-1");
  CHECK(d->level == "full");
  CHECK(d->verified);
  auto r = parse_decision(
      R"({"provider_check_id":"pc-2","reference":"kyc-2","level":"full","outcome":"rejected","reason":"document_rejected","extra":1})");
  REQUIRE(r);
  CHECK_FALSE(r->verified);
  CHECK(r->reason == "document_rejected");
  CHECK_FALSE(parse_decision("not json"));
  CHECK_FALSE(parse_decision("[]"));
  CHECK_FALSE(parse_decision(R"({"provider_check_id":"pc-1","reference":"kyc-1","level":"full","outcome":"maybe","reason":""})"));
  CHECK_FALSE(parse_decision(R"({"provider_check_id":"","reference":"kyc-1","level":"full","outcome":"verified","reason":""})"));
  CHECK_FALSE(parse_decision(R"({"reference":"kyc-1","level":"full","outcome":"verified","reason":""})"));
  CHECK_FALSE(parse_decision(R"({"provider_check_id":"pc-1","reference":"kyc-1","level":"full","outcome":"rejected","reason":"<script>"})"));
}
