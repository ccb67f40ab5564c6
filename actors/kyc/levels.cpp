// KYC level policy parsing.
#include "actors/kyc/levels.hpp"

#include <algorithm>
#include <array>

#include "protocols/assert.hpp"
#include "protocols/toml_data.hpp"
#include "protocols/ws/money.hpp"

namespace superapp::kyc {

const std::string_view default_levels_toml = R"toml(
# A new user (phone verified) is at `default_level`. A check with `documents_required` identity
# documents of `document_types`, verified by the KYC provider, moves the user up to that level.
# Limits are minor units per currency; a currency a level does not list is not allowed at it.
[kyc]
default_level = "minimum"
document_types = ["passport", "driving_licence", "national_id", "residence_permit", "proof_of_address"]

[kyc.levels.minimum]
rank = 0
documents_required = 0
limits.GBP = { per_transaction = 25000, per_day = 50000, balance = 100000 }
limits.EUR = { per_transaction = 25000, per_day = 50000, balance = 100000 }
limits.USD = { per_transaction = 25000, per_day = 50000, balance = 100000 }
limits.INR = { per_transaction = 1000000, per_day = 2000000, balance = 1000000 }

[kyc.levels.standard]
rank = 1
documents_required = 1
limits.GBP = { per_transaction = 200000, per_day = 500000, balance = 1000000 }
limits.EUR = { per_transaction = 200000, per_day = 500000, balance = 1000000 }
limits.USD = { per_transaction = 200000, per_day = 500000, balance = 1000000 }
limits.INR = { per_transaction = 10000000, per_day = 20000000, balance = 20000000 }

[kyc.levels.full]
rank = 2
documents_required = 2
limits.GBP = { per_transaction = 1000000, per_day = 2500000, balance = 10000000 }
limits.EUR = { per_transaction = 1000000, per_day = 2500000, balance = 10000000 }
limits.USD = { per_transaction = 1000000, per_day = 2500000, balance = 10000000 }
limits.INR = { per_transaction = 100000000, per_day = 200000000, balance = 1000000000 }
)toml";

namespace {

// Level and document names: what a client sends back, so kept to [a-z0-9_], 1..32.
bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool only_keys(const toml::table& t, std::initializer_list<std::string_view> keys,
               const std::string& where, std::string& error) {
  for (const auto& [key, value] : t) {
    if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
      error = where + ": unknown key '" + std::string{key.str()} + "'";
      return false;
    }
  }
  return true;
}

bool read_limits(const toml::node& node, const std::string& where, limits& out, std::string& error) {
  const auto* t = node.as_table();
  if (t == nullptr || !only_keys(*t, {"per_transaction", "per_day", "balance"}, where, error)) {
    if (error.empty()) error = where + " must be a table";
    return false;
  }
  auto amount = [&](const char* key, std::int64_t& into) {
    auto n = (*t)[key].value<std::int64_t>();
    if (!n || *n < 0) {
      error = where + "." + key + ": a whole number of minor units >= 0";
      return false;
    }
    into = *n;
    return true;
  };
  if (!amount("per_transaction", out.per_transaction_minor) || !amount("per_day", out.per_day_minor) ||
      !amount("balance", out.balance_minor))
    return false;
  if (out.per_transaction_minor > out.per_day_minor) {
    error = where + ": per_transaction is above per_day";
    return false;
  }
  return true;
}

bool read_level(std::string_view name, const toml::node& node, level& out, std::string& error) {
  const std::string where = "kyc.levels." + std::string{name};
  const auto* t = node.as_table();
  if (t == nullptr) {
    error = where + " must be a table";
    return false;
  }
  if (!valid_name(name)) {
    error = where + ": a level name is 1-32 of a-z, 0-9, _";
    return false;
  }
  if (!only_keys(*t, {"rank", "documents_required", "limits"}, where, error)) return false;
  auto rank = (*t)["rank"].value<std::int64_t>();
  auto documents = (*t)["documents_required"].value<std::int64_t>();
  if (!rank || *rank < 0 || *rank > 100) {
    error = where + ".rank: a whole number 0..100";
    return false;
  }
  if (!documents || *documents < 0 || *documents > 5) {
    error = where + ".documents_required: a whole number 0..5";
    return false;
  }
  out.name = std::string{name};
  out.rank = static_cast<int>(*rank);
  out.documents_required = static_cast<std::size_t>(*documents);
  const auto* by_currency = (*t)["limits"].as_table();
  if (by_currency == nullptr || by_currency->empty()) {
    error = where + ".limits: a table of currency = { per_transaction, per_day, balance }";
    return false;
  }
  for (const auto& [currency, value] : *by_currency) {
    if (!ws::valid_currency_code(currency.str())) {
      error = where + ".limits." + std::string{currency.str()} + ": not an ISO 4217 code";
      return false;
    }
    limits l;
    if (!read_limits(value, where + ".limits." + std::string{currency.str()}, l, error)) return false;
    out.limits_by_currency.emplace(std::string{currency.str()}, l);
  }
  return true;
}

// The rules between levels, once each is read.
bool check_ladder(const std::vector<level>& levels, const std::string& default_name,
                  std::string& error) {
  for (std::size_t i = 1; i < levels.size(); ++i) {
    if (levels[i].rank == levels[i - 1].rank) {
      error = "kyc.levels: " + levels[i - 1].name + " and " + levels[i].name + " share rank " +
              std::to_string(levels[i].rank);
      return false;
    }
  }
  if (levels.front().name != default_name) {
    error = "kyc.default_level: '" + default_name + "' must be the level of the lowest rank";
    return false;
  }
  if (levels.front().documents_required != 0) {
    error = "kyc.levels." + default_name + ": the default level takes no documents";
    return false;
  }
  for (std::size_t i = 1; i < levels.size(); ++i) {
    if (levels[i].documents_required == 0) {
      error = "kyc.levels." + levels[i].name + ": a level above the default needs documents";
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<level_policy> level_policy::parse(std::string_view toml_text, std::string& error) {
  auto doc = read_toml_data(toml_text, "kyc levels", "kyc", error);
  if (!doc) return std::nullopt;
  const auto* root = (*doc)["kyc"].as_table();
  if (root == nullptr) {
    error = "kyc levels: no [kyc] table";
    return std::nullopt;
  }
  if (!only_keys(*root, {"default_level", "document_types", "levels"}, "kyc", error))
    return std::nullopt;
  level_policy policy;
  auto default_name = (*root)["default_level"].value<std::string>();
  if (!default_name) {
    error = "kyc.default_level: the name of a level";
    return std::nullopt;
  }
  policy.default_name_ = *default_name;
  const auto* types = (*root)["document_types"].as_array();
  if (types == nullptr || types->empty()) {
    error = "kyc.document_types: a non-empty array of document type names";
    return std::nullopt;
  }
  for (const auto& item : *types) {
    auto name = item.value<std::string>();
    if (!name || !valid_name(*name)) {
      error = "kyc.document_types: '" + name.value_or("?") + "' is not 1-32 of a-z, 0-9, _";
      return std::nullopt;
    }
    policy.document_types_.push_back(*name);
  }
  const auto* levels = (*root)["levels"].as_table();
  if (levels == nullptr || levels->empty()) {
    error = "kyc.levels: at least one level";
    return std::nullopt;
  }
  for (const auto& [name, node] : *levels) {
    level l;
    if (!read_level(name.str(), node, l, error)) return std::nullopt;
    policy.levels_.push_back(std::move(l));
  }
  std::sort(policy.levels_.begin(), policy.levels_.end(),
            [](const level& a, const level& b) { return a.rank < b.rank; });
  if (!policy.find(policy.default_name_)) {
    error = "kyc.default_level: no level '" + policy.default_name_ + "'";
    return std::nullopt;
  }
  if (!check_ladder(policy.levels_, policy.default_name_, error)) return std::nullopt;
  return policy;
}

const level_policy& level_policy::defaults() {
  static const level_policy policy = [] {
    std::string error;
    auto parsed = parse(default_levels_toml, error);
    SUPERAPP_ASSERT(parsed.has_value());
    return std::move(*parsed);
  }();
  return policy;
}

const level* level_policy::find(std::string_view name) const {
  for (const auto& l : levels_)
    if (l.name == name) return &l;
  return nullptr;
}

const level& level_policy::default_level() const {
  const auto* l = find(default_name_);
  SUPERAPP_ASSERT(l != nullptr);
  return *l;
}

bool level_policy::accepts_document(std::string_view type) const {
  return std::find(document_types_.begin(), document_types_.end(), type) != document_types_.end();
}

}  // namespace superapp::kyc
