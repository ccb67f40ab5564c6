// ES256 JWT access tokens: verification against a rotatable key set, signing, JWKS, base64url.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/clock.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace superapp::tokens {

// Tokens longer than this are refused before any decoding: it bounds the stack buffers.
inline constexpr std::size_t max_token_bytes = 8 * 1024;
// Phones' clocks and ours disagree a little; exp/nbf/iat are checked with this much slack.
inline constexpr std::chrono::seconds jwt_clock_skew_allowance{30};

// What a verified access token says. Wire claims: sub, device_id, scope (space separated),
// exp, jti.
struct claims {
  std::string subject;
  std::optional<std::string> device_id;
  std::vector<std::string> scopes;
  clock::time_point expires_at;
  std::string token_id;
  // Partner tokens (client credentials) carry their daily request quota (`quota_per_day`);
  // the gateway counts them against it. Absent for users.
  std::optional<std::int64_t> quota_per_day;
  // The whole verified payload as JSON, only when the policy asks (jwt_policy::keep_payload):
  // for tokens with claims of their own, such as approvals (approval.hpp).
  std::string payload_json;

  bool has_scope(std::string_view scope) const;
};

// Shared ownership of an OpenSSL key: sets are copied on rotation, keys are not.
using pkey_ptr = std::shared_ptr<EVP_PKEY>;

// An immutable-once-published set of EC P-256 public keys by kid; parsed once, used by every
// verification without re-parsing.
class jwk_set {
 public:
  // From a JWKS document {"keys":[{"kty":"EC","crv":"P-256","kid":..,"x":..,"y":..}, ...]}.
  // Entries of another kty/crv or use other than "sig" are skipped; a malformed P-256 entry fails
  // the whole set. Returns nullopt with `error` set (no exceptions: rotation happens at run time).
  static std::optional<jwk_set> from_jwks_json(std::string_view json, std::string& error);

  // Adds a key from a PEM SubjectPublicKeyInfo (or private key, whose public half is used).
  bool add_pem(std::string_view kid, std::string_view pem, std::string& error);
  // Adds a key from JWK coordinates (base64url, 32 bytes each).
  bool add_jwk(std::string_view kid, std::string_view x_b64url, std::string_view y_b64url,
               std::string& error);
  // Adds an already-parsed key (must be EC P-256).
  bool add(std::string_view kid, pkey_ptr key, std::string& error);
  void remove(std::string_view kid);

  EVP_PKEY* find(std::string_view kid) const;
  std::size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, pkey_ptr, std::less<>> keys_;
};

// The key set the gateway verifies against; `replace` swaps a whole new set in atomically so a
// rotation never shows a half-built set and never blocks verifiers.
class jwt_key_store {
 public:
  explicit jwt_key_store(jwk_set initial = {});
  void replace(jwk_set next);
  std::shared_ptr<const jwk_set> current() const;

 private:
  std::atomic<std::shared_ptr<const jwk_set>> keys_;
};

struct jwt_policy {
  jwt_policy() = default;
  jwt_policy(std::string iss, std::string aud) : issuer(std::move(iss)), audience(std::move(aud)) {}

  std::string issuer;    // `iss` must equal this
  std::string audience;  // `aud` (string or array) must contain this
  std::chrono::seconds clock_skew = jwt_clock_skew_allowance;
  std::string type;           // when set, the header's `typ` must equal it (explicit typing)
  bool keep_payload = false;  // fill claims::payload_json
};

// Either claims or, on refusal, a reason for the log (a static string; never token content).
// Refusals all map to the wire code `unauthorized`.
struct jwt_outcome {
  std::optional<claims> accepted;
  std::string_view failure;
  explicit operator bool() const { return accepted.has_value(); }
};

// The refusal for a well-formed token whose `kid` the key store does not hold: the one refusal
// that fetching the issuer's keys again may cure (a rotation the verifier has not seen yet).
inline constexpr std::string_view unknown_kid_failure = "unknown kid";

class jwt_verifier {
 public:
  jwt_verifier(jwt_policy policy, const jwt_key_store& keys, const superapp::clock& clock);
  // Thread-safe; allocates only the returned claims and what OpenSSL needs for one verify.
  jwt_outcome verify(std::string_view token) const;

 private:
  jwt_policy policy_;
  const jwt_key_store& keys_;
  const superapp::clock& clock_;
};

// A private key with its kid, for the identity domain (and tests) to issue tokens.
struct signing_key {
  std::string kid;
  pkey_ptr key;

  static signing_key generate(std::string kid);  // fresh P-256 key pair
  static std::optional<signing_key> from_pem(std::string kid, std::string_view private_pem,
                                             std::string& error);
  std::string public_pem() const;
  std::string private_pem() const;
  // This key's public half as one JWKS entry object (kty, crv, kid, use, alg, x, y).
  std::string public_jwk_json() const;
};

// {"keys":[...]} for a set of signing keys: what identity publishes and the gateway loads.
std::string jwks_json(std::span<const signing_key> keys);

struct token_issue {
  std::string issuer;
  std::string audience;
  clock::time_point issued_at;  // also written as nbf
};

// A compact ES256 JWS: header {"alg":"ES256","typ":"JWT","kid":..}, payload from the claims.
std::string sign_es256(const claims& c, const token_issue& issue, const signing_key& key);

// Signs arbitrary header and payload JSON: for tests that need malformed or hostile tokens.
std::string sign_es256_raw(std::string_view header_json, std::string_view payload_json,
                           const signing_key& key);

// RFC 4648 §5 without padding; decode is strict (no padding, canonical trailing bits).
std::string base64url_encode(std::span<const unsigned char> bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace superapp::tokens
