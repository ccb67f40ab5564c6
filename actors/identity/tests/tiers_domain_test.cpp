// Tiered authorisation on the identity domain's real tree, database and SMS simulator: the
// policy's factors, step-up by SMS code and by the device's key (dynamic linking), approvals a
// consuming domain verifies, and every attack on them the issue names.
#include <doctest/doctest.h>

#include "actors/identity/tests/identity_node.hpp"
#include "protocols/tokens/approval.hpp"

using namespace superapp;
using namespace superapp::identity::testing;

namespace {

constexpr std::int64_t big = 60'000;   // GBP 600.00: above the built-in 500.00 threshold
constexpr std::int64_t small = 1'000;  // GBP 10.00

json::object money(std::int64_t minor, const char* currency = "GBP") {
  return {{"minor", minor}, {"currency", currency}};
}

json::object transfer(std::int64_t minor, const char* payee = "acct-77") {
  return {{"operation", "banking.transfer"}, {"amount", money(minor)}, {"payee", payee}};
}

json::object with(json::object body, const json::object& more) {
  for (const auto& kv : more) body[kv.key()] = kv.value();
  return body;
}

struct tier_fixture {
  identity_node n;
  enrolled e = enrol(n, "+447700900101");
  caller who{e.user_id, e.device_id, {"user"}};
  int keys = 0;

  std::string key() { return "idem-key-" + std::to_string(++keys); }

  outcome step_up(json::object body, const char* method) {
    body["method"] = method;
    return n.call("identity.step_up", std::move(body), who, key());
  }
  outcome authorise(json::object body) {
    return n.call("identity.authorise", std::move(body), who, key());
  }
  // The code of the newest SMS to the user's phone.
  std::string code() { return n.last_code("+447700900101"); }

  // A step-up by SMS for `body`, answered: the approval (or the error).
  outcome authorise_with_otp(const json::object& body, const std::string& mpin = "2468") {
    auto s = step_up(body, "otp");
    REQUIRE_MESSAGE(s.ok, s.code);
    return authorise(with(body, {{"mpin", mpin},
                                 {"step_up", json::object{{"step_up_id", str(s.body, "step_up_id")},
                                                          {"otp", code()}}}}));
  }

  tokens::approval_outcome verify(const outcome& approved, std::int64_t minor,
                                  const char* payee = "acct-77") {
    auto store = keys_of(n);
    return tokens::verify_approval(str(approved.body, "approval"), store, *n.clock, e.user_id,
                                   {"banking.transfer", minor, "GBP", payee});
  }
};

}  // namespace

TEST_CASE_FIXTURE(tier_fixture, "a transfer to a known payee below the threshold needs the mPIN only") {
  // First time to this payee: the policy asks for a step-up.
  CHECK(authorise(with(transfer(small), {{"mpin", "2468"}})).code == "step_up_required");
  auto first = authorise_with_otp(transfer(small));
  REQUIRE_MESSAGE(first.ok, first.code);
  CHECK(str(first.body, "tier") == "mpin+otp");
  // Now known: the mPIN is enough; without it the answer says what is missing.
  CHECK(authorise(transfer(small)).code == "credential_required");
  CHECK(authorise(with(transfer(small), {{"mpin", "1111"}})).code == "wrong_credential");
  auto again = authorise(with(transfer(small), {{"mpin", "2468"}}));
  REQUIRE_MESSAGE(again.ok, again.code);
  CHECK(str(again.body, "tier") == "mpin");
  CHECK(again.body.at("expires_in_s").as_int64() == 120);
  auto verified = verify(again, small);
  REQUIRE_MESSAGE(verified, verified.failure);
  CHECK(verified.accepted->approval_id == str(again.body, "approval_id"));
  CHECK(verified.accepted->device_id == e.device_id);
  // Above the threshold a step-up is needed again, known payee or not.
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}})).code == "step_up_required");
}

TEST_CASE_FIXTURE(tier_fixture, "the SMS code names the operation, amount and payee, and works once") {
  auto s = step_up(transfer(big), "otp");
  REQUIRE_MESSAGE(s.ok, s.code);
  CHECK_FALSE(s.body.contains("challenge"));
  auto sms = n.sms.last_message("+447700900101");
  REQUIRE(sms);
  CHECK(sms->text.find("banking.transfer of GBP 600.00 to acct-77") != std::string::npos);
  json::object proof{{"step_up_id", str(s.body, "step_up_id")}, {"otp", code()}};
  auto ok = authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", proof}}));
  REQUIRE_MESSAGE(ok.ok, ok.code);
  CHECK(verify(ok, big));
  // Reuse: the step-up is spent.
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", proof}})).code ==
        "step_up_invalid");
}

TEST_CASE_FIXTURE(tier_fixture, "a step-up for one payment cannot approve another") {
  auto s = step_up(transfer(big), "otp");
  REQUIRE(s.ok);
  json::object proof{{"step_up_id", str(s.body, "step_up_id")}, {"otp", code()}};
  CHECK(authorise(with(transfer(big + 1), {{"mpin", "2468"}, {"step_up", proof}})).code ==
        "step_up_invalid");
  CHECK(authorise(with(transfer(big, "acct-78"), {{"mpin", "2468"}, {"step_up", proof}})).code ==
        "step_up_invalid");
  // Another user cannot use it either (nor learn that it exists).
  auto other = enrol(n, "+447700900102");
  CHECK(n.call("identity.authorise", with(transfer(big), {{"mpin", "2468"}, {"step_up", proof}}),
               caller{other.user_id, other.device_id, {"user"}}, key())
            .code == "step_up_invalid");
  // It still works for the payment it names.
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", proof}})).ok);
}

TEST_CASE_FIXTURE(tier_fixture, "a wrong code counts; the fifth wrong one kills the step-up; expiry kills it too") {
  auto s = step_up(transfer(big), "otp");
  REQUIRE(s.ok);
  auto right = code();
  auto wrong = right == "000000" ? std::string{"111111"} : std::string{"000000"};
  auto attempt = [&](const std::string& c) {
    return authorise(with(transfer(big),
                          {{"mpin", "2468"},
                           {"step_up", json::object{{"step_up_id", str(s.body, "step_up_id")},
                                                    {"otp", c}}}}))
        .code;
  };
  for (int i = 0; i < 5; ++i) CHECK(attempt(wrong) == "otp_wrong");
  CHECK(attempt(right) == "step_up_invalid");
  auto late = step_up(transfer(big), "otp");
  REQUIRE(late.ok);
  auto late_code = code();
  n.clock->advance(301s);
  CHECK(authorise(with(transfer(big),
                       {{"mpin", "2468"},
                        {"step_up", json::object{{"step_up_id", str(late.body, "step_up_id")},
                                                 {"otp", late_code}}}}))
            .code == "step_up_invalid");
}

TEST_CASE_FIXTURE(tier_fixture, "biometric step-up: the device key signs a text with the amount and payee") {
  auto s = step_up(transfer(big), "biometric");
  REQUIRE_MESSAGE(s.ok, s.code);
  auto challenge = str(s.body, "challenge");
  CHECK(challenge.find("|banking.transfer|60000|GBP|acct-77|") != std::string::npos);
  auto id = str(s.body, "step_up_id");
  auto signed_by = [&](const tokens::signing_key& k, const std::string& text) {
    return json::object{{"step_up_id", id}, {"signature", tokens::sign_message_es256(k, text)}};
  };
  // A signature over the same text with the amount changed does not verify.
  auto tampered = challenge;
  tampered.replace(tampered.find("|60000|"), 7, "|60001|");
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", signed_by(e.device_key, tampered)}}))
            .code == "signature_invalid");
  // Another key (a stolen challenge signed elsewhere) does not either.
  auto stranger = tokens::signing_key::generate("stranger");
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", signed_by(stranger, challenge)}}))
            .code == "signature_invalid");
  auto ok = authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", signed_by(e.device_key, challenge)}}));
  REQUIRE_MESSAGE(ok.ok, ok.code);
  CHECK(str(ok.body, "tier") == "mpin+biometric");
  auto approval = verify(ok, big);
  REQUIRE_MESSAGE(approval, approval.failure);
  // The approval is for this payment only: a consuming domain checking another amount refuses it.
  CHECK_FALSE(verify(ok, big + 1));
  // Replaying the same signature: the step-up is spent.
  CHECK(authorise(with(transfer(big), {{"mpin", "2468"}, {"step_up", signed_by(e.device_key, challenge)}}))
            .code == "step_up_invalid");
}

TEST_CASE_FIXTURE(tier_fixture, "above the strong threshold an SMS code will not do; the device key will") {
  constexpr std::int64_t huge = 600'000;  // GBP 6,000.00: above the built-in 5,000.00
  CHECK(step_up(transfer(huge), "otp").code == "step_up_method_not_allowed");
  auto s = step_up(transfer(huge), "biometric");
  REQUIRE_MESSAGE(s.ok, s.code);
  auto ok = authorise(with(transfer(huge),
                           {{"mpin", "2468"},
                            {"step_up", json::object{{"step_up_id", str(s.body, "step_up_id")},
                                                     {"signature", tokens::sign_message_es256(
                                                                       e.device_key, str(s.body, "challenge"))}}}}));
  REQUIRE_MESSAGE(ok.ok, ok.code);
  CHECK(str(ok.body, "tier") == "mpin+biometric");
  // An OTP step-up made for a smaller amount cannot be stretched to this one either.
  auto small_otp = step_up(transfer(big), "otp");
  REQUIRE(small_otp.ok);
  CHECK(authorise(with(transfer(huge),
                       {{"mpin", "2468"},
                        {"step_up", json::object{{"step_up_id", str(small_otp.body, "step_up_id")},
                                                 {"otp", code()}}}}))
            .code == "step_up_method_not_allowed");
}

TEST_CASE_FIXTURE(tier_fixture, "bad input gets its own code, and policy limits are kept") {
  CHECK(step_up(transfer(big), "face").code == "invalid_operation");
  CHECK(authorise(with(transfer(small), {{"amount", money(0)}})).code == "invalid_operation");
  CHECK(authorise(with(transfer(small), {{"amount", money(5, "gbp")}})).code == "invalid_operation");
  CHECK(authorise(with(transfer(small), {{"payee", "a|b"}})).code == "invalid_operation");
  CHECK(authorise(with(transfer(small), {{"operation", "banking.close_account"}})).code ==
        "operation_not_authorisable");
  CHECK(n.call("identity.authorise",
               json::object{{"operation", "banking.transfer"},
                            {"amount", json::object{{"minor", 10.5}, {"currency", "GBP"}}},
                            {"payee", "p"}},
               who, key())
            .code == "bad_request");
  CHECK(authorise(with(transfer(small), {{"mpin", "2468"}, {"password", "long enough pw"}})).code ==
        "invalid_credential_format");
  // No caller, no step-up.
  CHECK(n.call("identity.step_up", with(transfer(big), {{"method", "otp"}}), caller{}, key()).code ==
        "unauthorized");
  // A revoked device cannot step up.
  auto second = enrol(n, "+447700900103");
  caller revoked{second.user_id, second.device_id, {"user"}};
  REQUIRE(n.call("identity.revoke_device", {{"device_id", second.device_id}}, revoked, key()).ok);
  CHECK(n.call("identity.step_up", with(transfer(big), {{"method", "biometric"}}), revoked, key())
            .code == "not_found");
}

TEST_CASE_FIXTURE(tier_fixture, "a retried step-up with the same idempotency key sends no second SMS") {
  auto body = with(transfer(big), {{"method", "otp"}});
  auto first = n.call("identity.step_up", body, who, "idem-step-up-1");
  REQUIRE_MESSAGE(first.ok, first.code);
  auto sent = n.sms.last_message("+447700900101")->count;
  auto again = n.call("identity.step_up", body, who, "idem-step-up-1");
  REQUIRE(again.ok);
  CHECK(str(again.body, "step_up_id") == str(first.body, "step_up_id"));
  CHECK(n.sms.last_message("+447700900101")->count == sent);
  // The same key for another request is refused, not silently answered with the first reply.
  CHECK(n.call("identity.step_up", with(transfer(big + 1), {{"method", "otp"}}), who,
               "idem-step-up-1")
            .code == "idempotency_key_reused");
}

TEST_CASE_FIXTURE(tier_fixture, "step-up codes by SMS are limited per user per hour") {
  for (int i = 0; i < 10; ++i) REQUIRE(step_up(transfer(big + i), "otp").ok);
  CHECK(step_up(transfer(big), "otp").code == "otp_resend_too_soon");
  // Biometric step-ups cost no SMS and are not limited by it.
  CHECK(step_up(transfer(big), "biometric").ok);
  n.clock->advance(3601s);
  CHECK(step_up(transfer(big), "otp").ok);
}

TEST_CASE_FIXTURE(tier_fixture, "a known payee and a spent step-up survive a restart") {
  auto first = authorise_with_otp(transfer(small));
  REQUIRE_MESSAGE(first.ok, first.code);
  n.stop();
  n.start();
  auto again = authorise(with(transfer(small), {{"mpin", "2468"}}));
  REQUIRE_MESSAGE(again.ok, again.code);
  CHECK(str(again.body, "tier") == "mpin");
}
