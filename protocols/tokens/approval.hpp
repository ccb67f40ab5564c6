// Approvals: identity's signed answer to "may this user do this operation now?" (ADR 0013).
//
// A compact ES256 JWS signed with identity's current signing key (so the JWKS that verifies
// access tokens verifies approvals too), typed `superapp-approval+jwt` and addressed to the
// domain that runs the operation (`aud` = "superapp-approval:<domain>"): an approval is never
// accepted as an access token, nor by another domain. It binds the user, the device, the
// operation, the amount with its currency and the payee; it lives at most two minutes.
// Single use is the consuming domain's part: it records `approval_id` in the same transaction
// as the operation and refuses one it has seen (its own table, keyed by the id).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/clock.hpp"
#include "protocols/tokens/jwt.hpp"

namespace superapp::tokens {

inline constexpr std::string_view approval_type = "superapp-approval+jwt";
inline constexpr std::string_view approval_issuer = "superapp-identity";
inline constexpr std::chrono::seconds approval_max_lifetime{120};

// What is being approved. `operation` is a domain op name ("banking.transfer"); its domain is
// the part before the first '.'. Amount in minor units of `currency` (ISO 4217, 3 letters).
struct operation_binding {
  std::string operation;
  std::int64_t amount_minor = 0;
  std::string currency;
  std::string payee;

  std::string domain() const { return operation.substr(0, operation.find('.')); }
  bool operator==(const operation_binding&) const = default;
};

struct approval {
  std::string approval_id;  // jti: what the consumer records to refuse a second use
  std::string user_id;
  std::string device_id;
  operation_binding operation;
  std::string tier;  // the factors that were proven, e.g. "mpin+biometric"
  clock::time_point expires_at;
};

// "superapp-approval:banking" for operation "banking.transfer".
std::string approval_audience(const operation_binding& op);

// Signs `a` (issued at `issued_at`); asserts a lifetime within approval_max_lifetime.
std::string sign_approval(const approval& a, clock::time_point issued_at, const signing_key& key);

struct approval_outcome {
  std::optional<approval> accepted;
  std::string_view failure;  // for the log; the client sees one code (approval_invalid)
  explicit operator bool() const { return accepted.has_value(); }
};

// Verifies `token` for `user_id` doing exactly `expected`: signature against `keys`, type,
// issuer, audience (the operation's domain), expiry, then every bound field.
approval_outcome verify_approval(std::string_view token, const jwt_key_store& keys,
                                 const superapp::clock& clock, std::string_view user_id,
                                 const operation_binding& expected);

}  // namespace superapp::tokens
