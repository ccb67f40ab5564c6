// The identity error category: wire codes, client messages, retryability.
#include "actors/identity/identity_errc.hpp"

namespace superapp::identity {
namespace {

const bool registered = [] {
  register_enum_category<identity_errc, last_identity_errc>(identity_category);
  return true;
}();

}  // namespace

void register_identity_errors() {
  (void)registered;
  register_enum_category<identity_errc, last_identity_errc>(identity_category);
}

caf::error make_error(identity_errc code) {
  return caf::error{static_cast<std::uint8_t>(code), identity_category};
}

error_description describe(identity_errc code) {
  switch (code) {
    case identity_errc::invalid_phone:
      return {"invalid_phone", "the phone number must be in E.164 form, e.g. +447700900123", false};
    case identity_errc::otp_wrong:
      return {"otp_wrong", "the code is not correct", false};
    case identity_errc::otp_expired:
      return {"otp_expired", "the code has expired or was already used; request a new one", false};
    case identity_errc::otp_tries_exhausted:
      return {"otp_tries_exhausted", "too many wrong codes; request a new one", false};
    case identity_errc::otp_resend_too_soon:
      return {"otp_resend_too_soon", "a code was sent recently; wait before asking again", true};
    case identity_errc::sms_unavailable:
      return {"sms_unavailable", "the code could not be sent right now; retry", true};
    case identity_errc::enrolment_invalid:
      return {"enrolment_invalid", "the enrolment token is not valid; verify the phone again", false};
    case identity_errc::invalid_public_key:
      return {"invalid_public_key", "the public key must be a base64url SPKI of a P-256 key", false};
    case identity_errc::invalid_credential_format:
      return {"invalid_credential_format",
              "the mPIN must be 4 to 6 digits; a password 8 to 128 characters", false};
    case identity_errc::wrong_credential:
      return {"wrong_credential", "the mPIN or password is not correct", false};
    case identity_errc::credential_locked:
      return {"credential_locked", "too many wrong attempts; try again later", true};
    case identity_errc::challenge_invalid:
      return {"challenge_invalid", "the challenge is unknown, used or expired; ask for a new one",
              false};
    case identity_errc::signature_invalid:
      return {"signature_invalid", "the device signature does not verify", false};
    case identity_errc::refresh_token_invalid:
      return {"refresh_token_invalid", "the refresh token is not valid; log in again", false};
    case identity_errc::refresh_token_reused:
      return {"refresh_token_reused",
              "the refresh token was already used; every session of this login is revoked", false};
    case identity_errc::device_limit_reached:
      return {"device_limit_reached", "too many devices; revoke one first", false};
    case identity_errc::invalid_operation:
      return {"invalid_operation",
              "the operation, amount (minor units > 0), currency (ISO 4217) or payee is malformed",
              false};
    case identity_errc::operation_not_authorisable:
      return {"operation_not_authorisable", "no approval can be given for this operation", false};
    case identity_errc::credential_required:
      return {"credential_required", "this operation needs your mPIN or password", false};
    case identity_errc::step_up_required:
      return {"step_up_required",
              "this operation needs a step-up: a code by SMS or your device's biometric key",
              false};
    case identity_errc::step_up_invalid:
      return {"step_up_invalid", "the step-up is unknown, used, expired or for another operation",
              false};
    case identity_errc::scope_not_granted:
      return {"scope_not_granted", "the partner asked for a scope it was not given", false};
    case identity_errc::step_up_method_not_allowed:
      return {"step_up_method_not_allowed", "this step-up method is not accepted for the operation",
              false};
  }
  return {"internal", "internal error", false};
}

}  // namespace superapp::identity
