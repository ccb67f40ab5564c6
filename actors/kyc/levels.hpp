// KYC levels as data: what each level allows (limits per currency) and what it takes to reach it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::kyc {

// What a user at a level may do in one currency, in minor units. Banking checks these before
// posting (it learns a user's level from kyc.check.verified events, ADR 0014).
struct limits {
  std::int64_t per_transaction_minor = 0;
  std::int64_t per_day_minor = 0;
  std::int64_t balance_minor = 0;  // the most a wallet may hold
};

struct level {
  std::string name;
  int rank = 0;                    // higher is more verified; the default level has the lowest
  std::size_t documents_required = 0;  // identity documents a check for this level needs
  std::map<std::string, limits, std::less<>> limits_by_currency;
};

// The levels file (TOML, root table `kyc`; `kyc.levels_file`, actors/kyc/README.md):
//   [kyc]
//   default_level = "minimum"            # every verified phone number starts here
//   document_types = ["passport", ...]   # what a check may carry
//   [kyc.levels.full]
//   rank = 2
//   documents_required = 2
//   limits.GBP = { per_transaction = 1000000, per_day = 2500000, balance = 10000000 }
class level_policy {
 public:
  // nullopt with `error` naming the key for anything wrong: unknown keys, a missing default,
  // two levels of one rank, a default level that is not the lowest or needs documents, a level
  // above the default without documents, limits that are not whole minor units >= 0 or with
  // per_transaction > per_day.
  static std::optional<level_policy> parse(std::string_view toml_text, std::string& error);
  // The built-in policy (minimum, standard, full; GBP EUR USD INR), used without a levels file.
  static const level_policy& defaults();

  const level* find(std::string_view name) const;
  const level& default_level() const;
  const std::vector<level>& levels() const { return levels_; }  // by rank, lowest first
  const std::vector<std::string>& document_types() const { return document_types_; }
  bool accepts_document(std::string_view type) const;

 private:
  std::vector<level> levels_;
  std::string default_name_;
  std::vector<std::string> document_types_;
};

// The built-in levels file, as text (also what the README shows).
extern const std::string_view default_levels_toml;

}  // namespace superapp::kyc
