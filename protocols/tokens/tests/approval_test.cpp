// Approval tokens: accepted only for the user, domain, operation, amount and payee they name,
// within their lifetime, and never interchangeable with access tokens.
#include "protocols/tokens/approval.hpp"

#include <doctest/doctest.h>

using namespace superapp;
using namespace superapp::tokens;
using namespace std::chrono_literals;

namespace {

struct approval_fixture {
  manual_clock clock;
  signing_key key = signing_key::generate("k-identity");
  jwt_key_store store;
  operation_binding transfer{"banking.transfer", 60'000, "GBP", "payee-9"};

  approval_fixture() {
    jwk_set keys;
    std::string error;
    REQUIRE(keys.add_pem(key.kid, key.public_pem(), error));
    store.replace(std::move(keys));
  }

  std::string sign(const operation_binding& op, std::chrono::seconds lifetime = 120s) {
    approval a;
    a.approval_id = "ap-1";
    a.user_id = "u-1";
    a.device_id = "d-1";
    a.operation = op;
    a.tier = "mpin+biometric";
    a.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(clock.now()) + lifetime;
    return sign_approval(a, clock.now(), key);
  }

  approval_outcome verify(const std::string& token, std::string_view user = "u-1") {
    return verify_approval(token, store, clock, user, transfer);
  }
};

}  // namespace

TEST_CASE_FIXTURE(approval_fixture, "an approval is accepted for exactly what it binds") {
  auto outcome = verify(sign(transfer));
  REQUIRE(outcome);
  CHECK(outcome.accepted->approval_id == "ap-1");
  CHECK(outcome.accepted->device_id == "d-1");
  CHECK(outcome.accepted->tier == "mpin+biometric");
  CHECK(outcome.accepted->operation == transfer);
}

TEST_CASE_FIXTURE(approval_fixture, "an approval for another amount, payee, currency, op or user is refused") {
  auto other = transfer;
  other.amount_minor = 60'001;
  CHECK(verify(sign(other)).failure == "approval is for another operation");
  other = transfer;
  other.payee = "payee-10";
  CHECK_FALSE(verify(sign(other)));
  other = transfer;
  other.currency = "EUR";
  CHECK_FALSE(verify(sign(other)));
  other = transfer;
  other.operation = "banking.standing_order";
  CHECK_FALSE(verify(sign(other)));
  CHECK(verify(sign(transfer), "u-2").failure == "approval is for another user");
}

TEST_CASE_FIXTURE(approval_fixture, "an approval addressed to one domain is refused by another") {
  operation_binding bill{"billers.pay", 60'000, "GBP", "payee-9"};
  auto token = sign(bill);
  CHECK(verify(token).failure == "wrong audience");
  CHECK(verify_approval(token, store, clock, "u-1", bill));
}

TEST_CASE_FIXTURE(approval_fixture, "an expired approval is refused; the slack is seconds, not the access token's 30") {
  auto token = sign(transfer, 60s);
  clock.advance(62s);
  CHECK(verify(token));
  clock.advance(4s);
  CHECK(verify(token).failure == "expired");
}

TEST_CASE_FIXTURE(approval_fixture, "approvals and access tokens are not interchangeable") {
  // An access token shown as an approval: wrong type (and audience).
  claims c;
  c.subject = "u-1";
  c.token_id = "t-1";
  c.expires_at = clock.now() + 600s;
  auto access = sign_es256(c, {"superapp-identity", "superapp-approval:banking", clock.now()}, key);
  CHECK(verify(access).failure == "wrong token type");
  // An approval shown to the gateway's access-token verifier: wrong audience.
  jwt_verifier gateway{jwt_policy{"superapp-identity", "superapp-mobile"}, store, clock};
  CHECK(gateway.verify(sign(transfer)).failure == "wrong audience");
}

TEST_CASE_FIXTURE(approval_fixture, "a tampered approval or one signed by a stranger is refused") {
  auto token = sign(transfer);
  // Rewrite the payload to a bigger amount, keep the signature.
  auto dot1 = token.find('.');
  auto dot2 = token.find('.', dot1 + 1);
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  REQUIRE(payload);
  auto at = payload->find("60000");
  REQUIRE(at != std::string::npos);
  payload->replace(at, 5, "99999");
  auto bytes = std::span<const unsigned char>{
      reinterpret_cast<const unsigned char*>(payload->data()), payload->size()};
  auto forged = token.substr(0, dot1 + 1) + base64url_encode(bytes) + token.substr(dot2);
  CHECK(verify(forged).failure == "bad signature");
  auto stranger = signing_key::generate(key.kid);  // same kid, other key
  approval a;
  a.approval_id = "ap-2";
  a.user_id = "u-1";
  a.operation = transfer;
  a.tier = "mpin";
  a.expires_at = clock.now() + 60s;
  CHECK(verify(sign_approval(a, clock.now(), stranger)).failure == "bad signature");
}
