// Partner credentials (OAuth 2.0 client credentials): third parties — billers, shops, reward
// partners — as data. Each has a secret (kept only as an Argon2id hash), the scopes it may be
// granted and a daily request quota. No CAF, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::identity {

// The scope every app user's token carries; never grantable to a partner.
inline constexpr std::string_view user_scope = "user";

struct partner {
  std::string client_id;
  std::string name;
  std::string secret_hash;  // crypto_pwhash_str (Argon2id) of the client secret
  std::vector<std::string> scopes;
  std::int64_t quota_per_day = 0;
};

struct partner_registry {
  std::map<std::string, partner, std::less<>> partners;

  // From TOML (format in actors/identity/README.md, "Partner credentials"); nullopt with
  // `error` naming the offending key. Unknown keys, a scope that is not `domain.verb`-shaped
  // ([a-z_]+ on each side of one '.' or ':'), the user scope, or a hash that is not Argon2id are
  // errors.
  static std::optional<partner_registry> parse(std::string_view toml_text, std::string& error);
  const partner* find(std::string_view client_id) const;
};

// The scopes a token may carry when a partner asks for `requested` (space separated; empty:
// all it was given). nullopt when it asks for a scope it was not given (escalation).
std::optional<std::vector<std::string>> grant_scopes(const partner& p, std::string_view requested);

// A token's subject for a partner: "partner:<client_id>" (never a user id, which starts "u-").
std::string partner_subject(std::string_view client_id);

}  // namespace superapp::identity
