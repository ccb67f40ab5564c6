// Tier policy parsing and the rules that use it.
#include "actors/identity/tiers.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "protocols/toml_data.hpp"
#include "protocols/assert.hpp"
#include "protocols/ws/money.hpp"

namespace superapp::identity {

const std::string_view default_tiers_toml = R"toml(
# Every approval needs a session (an access token). `knowledge`: one of these too (none listed:
# the session is enough). `step_up`: one of these as well when the amount is above the
# currency's `step_up_above` (minor units; a currency not listed always steps up) or, with
# `step_up_new_payee`, when the user has never been approved for this payee. Above
# `strong_step_up_above`, only the `strong_step_up` factors will do (the ladder: mPIN, then OTP,
# then biometric).
[operations."banking.transfer"]
knowledge = ["mpin", "password"]
step_up = ["otp", "biometric"]
step_up_new_payee = true
step_up_above = { GBP = 50000, EUR = 50000, USD = 50000, INR = 5000000 }
strong_step_up = ["biometric"]
strong_step_up_above = { GBP = 500000, EUR = 500000, USD = 500000, INR = 50000000 }

# A hold reserves money for the payee until captured: approved like the transfer it becomes.
[operations."banking.hold"]
knowledge = ["mpin", "password"]
step_up = ["otp", "biometric"]
step_up_new_payee = true
step_up_above = { GBP = 50000, EUR = 50000, USD = 50000, INR = 5000000 }
strong_step_up = ["biometric"]
strong_step_up_above = { GBP = 500000, EUR = 500000, USD = 500000, INR = 50000000 }

# A batch pays several payees at once (its payee is a digest of them all): it always steps up.
[operations."banking.batch"]
knowledge = ["mpin", "password"]
step_up = ["otp", "biometric"]
strong_step_up = ["biometric"]
strong_step_up_above = { GBP = 500000, EUR = 500000, USD = 500000, INR = 50000000 }

[operations."billers.pay"]
knowledge = ["mpin", "password"]
step_up = ["otp", "biometric"]
step_up_above = { GBP = 100000, EUR = 100000, USD = 100000, INR = 10000000 }

[operations."ecommerce.checkout"]
knowledge = ["mpin", "password"]
step_up = ["otp", "biometric"]
step_up_above = { GBP = 25000, EUR = 25000, USD = 25000, INR = 2500000 }
)toml";

std::string_view to_string(factor f) {
  switch (f) {
    case factor::mpin:
      return "mpin";
    case factor::password:
      return "password";
    case factor::otp:
      return "otp";
    case factor::biometric:
      return "biometric";
  }
  return "?";
}

std::optional<factor> factor_from(std::string_view name) {
  for (auto f : {factor::mpin, factor::password, factor::otp, factor::biometric})
    if (to_string(f) == name) return f;
  return std::nullopt;
}

namespace {

bool is_knowledge(factor f) { return f == factor::mpin || f == factor::password; }

// A TOML array of factor names, each of the wanted kind.
bool read_factors(const toml::node* node, bool knowledge, const std::string& where,
                  std::vector<factor>& out, std::string& error) {
  if (node == nullptr) return true;
  const auto* array = node->as_array();
  if (array == nullptr) {
    error = where + " must be an array of factor names";
    return false;
  }
  for (const auto& item : *array) {
    auto name = item.value<std::string>();
    auto f = name ? factor_from(*name) : std::nullopt;
    if (!f || is_knowledge(*f) != knowledge) {
      error = where + ": '" + name.value_or("?") + "' is not a " +
              (knowledge ? "knowledge factor (mpin, password)" : "step-up (otp, biometric)");
      return false;
    }
    if (std::find(out.begin(), out.end(), *f) == out.end()) out.push_back(*f);
  }
  return true;
}

// A TOML table of currency = minor units (>= 0).
bool read_amounts(const toml::node* node, const std::string& where,
                  std::map<std::string, std::int64_t, std::less<>>& out, std::string& error) {
  if (node == nullptr) return true;
  const auto* table = node->as_table();
  if (table == nullptr) {
    error = where + " must be a table of currency = minor units";
    return false;
  }
  for (const auto& [currency, amount] : *table) {
    auto n = amount.value<std::int64_t>();
    if (!n || *n < 0 || !valid_currency(currency.str())) {
      error = where + "." + std::string{currency.str()} +
              ": a currency code and a whole number of minor units >= 0";
      return false;
    }
    out.emplace(std::string{currency.str()}, *n);
  }
  return true;
}

bool read_operation(const toml::table& t, const std::string& where, operation_tier& out,
                    std::string& error) {
  static constexpr std::array<std::string_view, 6> keys{
      "knowledge", "step_up", "step_up_above", "step_up_new_payee", "strong_step_up",
      "strong_step_up_above"};
  for (const auto& [key, value] : t) {
    auto k = key.str();
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      error = where + ": unknown key '" + std::string{k} + "'";
      return false;
    }
  }
  if (!read_factors(t.get("knowledge"), true, where + ".knowledge", out.knowledge, error) ||
      !read_factors(t.get("step_up"), false, where + ".step_up", out.step_up, error))
    return false;
  if (const auto* flag = t.get("step_up_new_payee")) {
    auto b = flag->value<bool>();
    if (!b) {
      error = where + ".step_up_new_payee must be true or false";
      return false;
    }
    out.step_up_new_payee = *b;
  }
  if (!read_amounts(t.get("step_up_above"), where + ".step_up_above", out.step_up_above, error) ||
      !read_factors(t.get("strong_step_up"), false, where + ".strong_step_up", out.strong_step_up,
                    error) ||
      !read_amounts(t.get("strong_step_up_above"), where + ".strong_step_up_above",
                    out.strong_step_up_above, error))
    return false;
  if (out.step_up.empty() && (!out.step_up_above.empty() || out.step_up_new_payee)) {
    error = where + ": step-up conditions without any step_up factor";
    return false;
  }
  if (out.strong_step_up.empty() != (t.get("strong_step_up_above") == nullptr)) {
    error = where + ": strong_step_up and strong_step_up_above go together";
    return false;
  }
  for (auto f : out.strong_step_up) {
    if (std::find(out.step_up.begin(), out.step_up.end(), f) == out.step_up.end()) {
      error = where + ".strong_step_up: '" + std::string{to_string(f)} + "' is not in step_up";
      return false;
    }
  }
  return true;
}

bool payee_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

}  // namespace

std::optional<tier_policy> tier_policy::parse(std::string_view toml_text, std::string& error) {
  auto doc = read_toml_data(toml_text, "tiers", "operations", error);
  if (!doc) return std::nullopt;
  const auto* ops = doc->get_as<toml::table>("operations");
  if (ops == nullptr) {
    error = "tiers: [operations] must be a table of operation -> rule";
    return std::nullopt;
  }
  tier_policy policy;
  for (const auto& [name, rule] : *ops) {
    std::string where = "tiers: operations." + std::string{name.str()};
    const auto* table = rule.as_table();
    if (table == nullptr || !valid_operation_name(name.str())) {
      error = where + ": needs a 'domain.op' name and a table";
      return std::nullopt;
    }
    operation_tier tier;
    if (!read_operation(*table, where, tier, error)) return std::nullopt;
    policy.operations.emplace(std::string{name.str()}, std::move(tier));
  }
  return policy;
}

const tier_policy& tier_policy::defaults() {
  static const tier_policy policy = [] {
    std::string error;
    auto p = parse(default_tiers_toml, error);
    SUPERAPP_ASSERT(p.has_value());
    return std::move(*p);
  }();
  return policy;
}

std::optional<tier_requirement> requirement_for(const tier_policy& policy,
                                                const operation_binding& op, bool payee_known) {
  auto it = policy.operations.find(op.operation);
  if (it == policy.operations.end()) return std::nullopt;
  const auto& rule = it->second;
  tier_requirement out;
  out.knowledge_one_of = rule.knowledge;
  out.new_payee = rule.step_up_new_payee && !payee_known;
  auto threshold = rule.step_up_above.find(op.currency);
  out.above_threshold = threshold == rule.step_up_above.end() || op.amount_minor > threshold->second;
  if (!rule.strong_step_up.empty()) {
    auto strong = rule.strong_step_up_above.find(op.currency);
    out.strong = strong == rule.strong_step_up_above.end() || op.amount_minor > strong->second;
  }
  out.step_up_accepted = out.strong ? rule.strong_step_up : rule.step_up;
  if (!rule.step_up.empty() && (out.new_payee || out.above_threshold || out.strong))
    out.step_up_one_of = out.step_up_accepted;
  return out;
}

std::string tier_name(std::optional<factor> knowledge, std::optional<factor> step_up) {
  std::string out;
  for (auto f : {knowledge, step_up}) {
    if (!f) continue;
    if (!out.empty()) out += '+';
    out += to_string(*f);
  }
  return out.empty() ? "session" : out;
}

bool valid_operation_name(std::string_view operation) {
  auto dot = operation.find('.');
  if (operation.size() > 64 || dot == std::string_view::npos || dot == 0 ||
      dot + 1 == operation.size())
    return false;
  return std::all_of(operation.begin(), operation.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_' || c == '.'; });
}

bool valid_currency(std::string_view currency) { return ws::valid_currency_code(currency); }

bool valid_binding(const operation_binding& op) {
  return valid_operation_name(op.operation) && op.amount_minor > 0 && valid_currency(op.currency) &&
         !op.payee.empty() && op.payee.size() <= 64 &&
         std::all_of(op.payee.begin(), op.payee.end(), payee_char);
}

std::string step_up_message(std::string_view step_up_id, std::string_view nonce,
                            std::string_view device_id, const operation_binding& op,
                            time_point expires_at) {
  std::string out{step_up_prefix};
  const std::string amount = std::to_string(op.amount_minor);
  const std::string expires = std::to_string(to_unix_s(expires_at));
  for (std::string_view part : {step_up_id, nonce, device_id, std::string_view{op.operation},
                                std::string_view{amount}, std::string_view{op.currency},
                                std::string_view{op.payee}, std::string_view{expires}}) {
    out += '|';
    out += part;
  }
  return out;
}

std::string format_amount(std::int64_t amount_minor, std::string_view currency) {
  // ISO 4217 minor-unit exponents other than 2 among the currencies in use here.
  static constexpr std::array<std::pair<std::string_view, int>, 8> exponents{
      {{"JPY", 0}, {"KRW", 0}, {"VND", 0}, {"BHD", 3}, {"JOD", 3}, {"KWD", 3}, {"OMR", 3},
       {"TND", 3}}};
  int exponent = 2;
  for (const auto& [code, e] : exponents)
    if (code == currency) exponent = e;
  std::string out{currency};
  out += ' ';
  bool negative = amount_minor < 0;
  auto magnitude = negative ? -static_cast<unsigned long long>(amount_minor)
                            : static_cast<unsigned long long>(amount_minor);
  unsigned long long scale = 1;
  for (int i = 0; i < exponent; ++i) scale *= 10;
  if (negative) out += '-';
  out += std::to_string(magnitude / scale);
  if (exponent > 0) {
    auto frac = std::to_string(magnitude % scale);
    out += '.';
    out.append(static_cast<std::size_t>(exponent) - frac.size(), '0');
    out += frac;
  }
  return out;
}

std::string step_up_sms_text(std::string_view code, const operation_binding& op) {
  return "Superapp: " + std::string{code} + " approves " + op.operation + " of " +
         format_amount(op.amount_minor, op.currency) + " to " + op.payee +
         ". Valid 5 minutes. Never share it.";
}

}  // namespace superapp::identity
