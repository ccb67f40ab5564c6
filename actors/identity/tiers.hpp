// Tiered authorisation as data: which factors an operation needs, and the step-up challenge a
// device signs (dynamic linking: the amount and the payee are in the signed text). No CAF, no
// I/O; time is passed in. ADR 0013.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/identity/identity_rules.hpp"
#include "protocols/tokens/approval.hpp"

namespace superapp::identity {

using tokens::operation_binding;

// What a user can prove besides holding a session: a knowledge factor (mPIN, password) or a
// step-up (a one-time code sent by SMS naming the operation, or the device's key signing it).
enum class factor { mpin, password, otp, biometric };
std::string_view to_string(factor f);
std::optional<factor> factor_from(std::string_view name);

// One operation's rule. Every approval needs a session; then one of `knowledge` (none: the
// session is enough); then, when the amount is above the currency's threshold or the payee is
// new to the user, one of `step_up` too. A currency without a threshold always steps up. Above
// the strong threshold (when the rule has one) only `strong_step_up` will do: the ladder
// mPIN -> OTP -> biometric. A currency without a strong threshold is always strong then.
struct operation_tier {
  std::vector<factor> knowledge;
  std::vector<factor> step_up;
  std::map<std::string, std::int64_t, std::less<>> step_up_above;  // currency -> minor units
  bool step_up_new_payee = false;
  std::vector<factor> strong_step_up;  // a subset of step_up; empty: no strong level
  std::map<std::string, std::int64_t, std::less<>> strong_step_up_above;
};

struct tier_policy {
  std::map<std::string, operation_tier, std::less<>> operations;

  // From TOML (format in actors/identity/README.md, "Tiers"); nullopt with `error` naming the
  // offending key. Unknown keys and factors are errors: a typo must not weaken a rule.
  static std::optional<tier_policy> parse(std::string_view toml_text, std::string& error);
  // The built-in policy (the TOML text default_tiers_toml), used without identity.tiers_file.
  static const tier_policy& defaults();
};

extern const std::string_view default_tiers_toml;

struct tier_requirement {
  std::vector<factor> knowledge_one_of;  // empty: none needed
  std::vector<factor> step_up_one_of;    // empty: none needed
  // The step-ups that count for this operation now, needed or not: the strong list above the
  // strong threshold, else the rule's list (step_up_one_of is this list when one is needed).
  std::vector<factor> step_up_accepted;
  bool new_payee = false;
  bool above_threshold = false;
  bool strong = false;  // above the strong threshold: step_up_one_of is the strong list
};

// nullopt: the policy does not list the operation (no approval can be given for it).
std::optional<tier_requirement> requirement_for(const tier_policy& policy,
                                                const operation_binding& op, bool payee_known);

// The tier written into the approval: the factors proven, joined by '+', e.g. "mpin+otp";
// "session" when none was needed.
std::string tier_name(std::optional<factor> knowledge, std::optional<factor> step_up);

// A binding a client may ask about: a `domain.verb` op name ([a-z_], at most 64), a positive
// amount, an upper-case ISO 4217 code, a payee id of 1-64 characters from [A-Za-z0-9._:-] (no
// '|', so the signed text below cannot be made ambiguous).
bool valid_binding(const operation_binding& op);
bool valid_operation_name(std::string_view operation);
bool valid_currency(std::string_view currency);

// The exact text a device's key signs to step up:
// superapp-step-up.v1|step_up_id|nonce|device_id|operation|amount_minor|currency|payee|expires_at
inline constexpr std::string_view step_up_prefix = "superapp-step-up.v1";
std::string step_up_message(std::string_view step_up_id, std::string_view nonce,
                            std::string_view device_id, const operation_binding& op,
                            time_point expires_at);

// "GBP 600.00": minor units shown with the currency's exponent (ISO 4217; 2 unless listed).
std::string format_amount(std::int64_t amount_minor, std::string_view currency);

// The SMS that carries a step-up code names what it approves (dynamic linking for OTP too).
std::string step_up_sms_text(std::string_view code, const operation_binding& op);

}  // namespace superapp::identity
