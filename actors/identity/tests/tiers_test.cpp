// Tier policy as data: parsing (typos refused), the requirement for an operation, the step-up
// text a device signs and the SMS that names what a code approves.
#include "actors/identity/tiers.hpp"

#include <doctest/doctest.h>

using namespace superapp;
using namespace superapp::identity;

namespace {

operation_binding transfer(std::int64_t amount, std::string currency = "GBP",
                           std::string payee = "acct-1") {
  return {"banking.transfer", amount, std::move(currency), std::move(payee)};
}

std::vector<factor> both_step_ups() { return {factor::otp, factor::biometric}; }

}  // namespace

TEST_CASE("the built-in policy: transfers need the mPIN or password, and a step-up above the threshold or to a new payee") {
  const auto& policy = tier_policy::defaults();
  auto small_known = requirement_for(policy, transfer(50'000), true);
  REQUIRE(small_known);
  CHECK(small_known->knowledge_one_of == std::vector<factor>{factor::mpin, factor::password});
  CHECK(small_known->step_up_one_of.empty());
  auto large = requirement_for(policy, transfer(50'001), true);
  CHECK(large->step_up_one_of == both_step_ups());
  CHECK(large->above_threshold);
  auto new_payee = requirement_for(policy, transfer(100), false);
  CHECK(new_payee->step_up_one_of == both_step_ups());
  CHECK(new_payee->new_payee);
  // A currency without thresholds always steps up, at the strongest level; an unlisted operation
  // gets no approval.
  CHECK(requirement_for(policy, transfer(1, "CHF"), true)->step_up_one_of ==
        std::vector<factor>{factor::biometric});
  CHECK_FALSE(requirement_for(policy, {"banking.close_account", 1, "GBP", "x"}, true));
  // Bill payments do not step up for a new payee.
  CHECK(requirement_for(policy, {"billers.pay", 100, "GBP", "biller-7"}, false)->step_up_one_of.empty());
}

TEST_CASE("the ladder: above the strong threshold only the device's biometric key will do") {
  const auto& policy = tier_policy::defaults();
  auto at_strong = requirement_for(policy, transfer(500'000), true);
  CHECK(at_strong->step_up_one_of == both_step_ups());
  CHECK_FALSE(at_strong->strong);
  auto above = requirement_for(policy, transfer(500'001), true);
  CHECK(above->step_up_one_of == std::vector<factor>{factor::biometric});
  CHECK(above->strong);
  // A currency without a strong threshold is strong at any amount; bills have no strong level.
  CHECK(requirement_for(policy, transfer(1, "CHF"), true)->strong);
  CHECK_FALSE(requirement_for(policy, {"billers.pay", 10'000'000, "GBP", "b"}, true)->strong);
  std::string error;
  CHECK_FALSE(tier_policy::parse("[operations.\"a.b\"]\nstep_up = [\"otp\"]\nstrong_step_up = [\"otp\"]\n", error));
  CHECK(error.find("go together") != std::string::npos);
  CHECK_FALSE(tier_policy::parse("[operations.\"a.b\"]\nstep_up = [\"otp\"]\nstrong_step_up = [\"biometric\"]\n"
                                 "strong_step_up_above = { GBP = 1 }\n", error));
  CHECK(error.find("not in step_up") != std::string::npos);
}

TEST_CASE("a policy file: read as data, and every typo refused with the key named") {
  std::string error;
  auto policy = tier_policy::parse(R"(
[operations."rewards.redeem"]
[operations."banking.transfer"]
knowledge = ["mpin"]
step_up = ["biometric"]
step_up_above = { GBP = 0 }
)",
                                   error);
  REQUIRE_MESSAGE(policy, error);
  auto redeem = requirement_for(*policy, {"rewards.redeem", 5, "GBP", "shop-1"}, false);
  REQUIRE(redeem);  // session only
  CHECK(redeem->knowledge_one_of.empty());
  CHECK(redeem->step_up_one_of.empty());
  CHECK(requirement_for(*policy, transfer(1), true)->step_up_one_of ==
        std::vector<factor>{factor::biometric});

  auto refused = [&](std::string_view text, std::string_view named) {
    std::string why;
    CHECK_FALSE(tier_policy::parse(text, why));
    CHECK_MESSAGE(why.find(named) != std::string::npos, why);
  };
  refused("[operations.\"banking.transfer\"]\nknowlege = [\"mpin\"]", "knowlege");
  refused("[operations.\"banking.transfer\"]\nknowledge = [\"otp\"]", "knowledge factor");
  refused("[operations.\"banking.transfer\"]\nstep_up = [\"face\"]", "step_up");
  refused("[operations.\"banking.transfer\"]\nstep_up_above = { GBP = 10 }", "without any step_up");
  refused("[operations.\"banking.transfer\"]\nstep_up = [\"otp\"]\nstep_up_above = { gbp = 10 }", "gbp");
  refused("[operations.\"banking.transfer\"]\nstep_up = [\"otp\"]\nstep_up_above = { GBP = -1 }", "GBP");
  refused("[operations.transfer]", "domain.op");
  refused("[operation.\"banking.transfer\"]", "operation");
  refused("not toml =", "not TOML");
}

TEST_CASE("the tier written into an approval names the factors proven") {
  CHECK(tier_name(factor::mpin, std::nullopt) == "mpin");
  CHECK(tier_name(factor::password, factor::biometric) == "password+biometric");
  CHECK(tier_name(std::nullopt, std::nullopt) == "session");
}

TEST_CASE("bindings a client may ask about") {
  CHECK(valid_binding(transfer(1)));
  CHECK_FALSE(valid_binding(transfer(0)));
  CHECK_FALSE(valid_binding(transfer(-5)));
  CHECK_FALSE(valid_binding(transfer(1, "gbp")));
  CHECK_FALSE(valid_binding(transfer(1, "GB")));
  CHECK_FALSE(valid_binding(transfer(1, "GBP", "")));
  CHECK_FALSE(valid_binding(transfer(1, "GBP", "a|b")));  // would split the signed text
  CHECK_FALSE(valid_binding(transfer(1, "GBP", std::string(65, 'a'))));
  CHECK_FALSE(valid_binding({"transfer", 1, "GBP", "p"}));
  CHECK_FALSE(valid_binding({"Banking.Transfer", 1, "GBP", "p"}));
}

TEST_CASE("the step-up text carries the amount and the payee, so one signature approves one payment") {
  auto at = from_unix_s(1'700'000'120);
  auto text = step_up_message("su-1", "n0nce", "d-1", transfer(60'000), at);
  CHECK(text == "superapp-step-up.v1|su-1|n0nce|d-1|banking.transfer|60000|GBP|acct-1|1700000120");
  CHECK(step_up_message("su-1", "n0nce", "d-1", transfer(60'001), at) != text);
  CHECK(step_up_message("su-1", "n0nce", "d-1", transfer(60'000, "GBP", "acct-2"), at) != text);
}

TEST_CASE("amounts are shown with their currency's minor-unit exponent, from integers") {
  CHECK(format_amount(60'000, "GBP") == "GBP 600.00");
  CHECK(format_amount(5, "EUR") == "EUR 0.05");
  CHECK(format_amount(1'500, "JPY") == "JPY 1500");
  CHECK(format_amount(1'234'567, "KWD") == "KWD 1234.567");
  CHECK(step_up_sms_text("123456", transfer(60'000)) ==
        "Superapp: 123456 approves banking.transfer of GBP 600.00 to acct-1. Valid 5 minutes. "
        "Never share it.");
}
