// Every outcome of the identity domain a client can see: stable wire codes, registered at start.
#pragma once

#include <cstdint>

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "protocols/error_catalogue.hpp"

namespace superapp::identity {

// Wire codes are "<snake_case>" as describe() gives them; never renumber, only append.
// Unknown or foreign resources (another user's device) are platform `not_found`, never a code
// of their own, so an attacker cannot tell "exists but not yours" from "does not exist".
enum class identity_errc : std::uint8_t {
  invalid_phone = 1,             // not E.164
  otp_wrong = 2,                 // the code does not match; tries left
  otp_expired = 3,               // older than the expiry, or already used: ask for a new one
  otp_tries_exhausted = 4,       // 5 wrong codes: ask for a new one
  otp_resend_too_soon = 5,       // a code was sent moments ago, or too many this hour
  sms_unavailable = 6,           // the SMS provider did not take the message: retry
  enrolment_invalid = 7,         // unknown, used or expired enrolment token
  invalid_public_key = 8,        // not a base64url SPKI of a P-256 point
  invalid_credential_format = 9, // mPIN not 4-6 digits, password outside 8..128 characters
  wrong_credential = 10,         // mPIN or password does not match; attempts left
  credential_locked = 11,        // too many wrong attempts: locked for a while
  challenge_invalid = 12,        // unknown, used, expired, or issued for another device
  signature_invalid = 13,        // the device signature does not verify
  refresh_token_invalid = 14,    // unknown, expired or revoked refresh token
  refresh_token_reused = 15,     // a rotated-out refresh token came back: its family is revoked
  device_limit_reached = 16,     // too many active devices: revoke one first
  invalid_operation = 17,        // the operation, amount, currency or payee is malformed
  operation_not_authorisable = 18,  // the tier policy does not list the operation
  credential_required = 19,      // the operation needs the mPIN or password: give one
  step_up_required = 20,         // the operation needs a step-up (OTP or biometric): identity.step_up
  step_up_invalid = 21,          // unknown, used or expired step-up, or one for another operation
  step_up_method_not_allowed = 22,  // the policy does not accept this step-up for the operation
  scope_not_granted = 23,        // a partner asked for a scope it was not given
};

inline constexpr identity_errc last_identity_errc = identity_errc::scope_not_granted;
inline constexpr caf::atom_value identity_category = caf::atom("identity");

caf::error make_error(identity_errc code);
error_description describe(identity_errc code);

// Registers the `identity` category with the error catalogue; idempotent (also at static init).
void register_identity_errors();

}  // namespace superapp::identity
