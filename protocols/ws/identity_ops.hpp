// Bodies of the identity domain's client ops (identity.*) and their schemas: the gateway checks
// requests with them, the identity domain decodes with them. See actors/identity/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/ws/body.hpp"
#include "protocols/ws/money.hpp"

namespace superapp::ws {

inline constexpr std::size_t max_phone_chars = 16;        // E.164: '+' and at most 15 digits
inline constexpr std::size_t max_identity_id_chars = 64;  // user, device and challenge ids
inline constexpr std::size_t max_secret_token_chars = 128;
inline constexpr std::size_t max_public_key_chars = 256;  // base64url SPKI (P-256: 122)
inline constexpr std::size_t max_device_name_chars = 64;
inline constexpr std::size_t max_access_token_chars = 8192;
inline constexpr std::size_t max_devices_listed = 100;
inline constexpr std::size_t max_jwks_keys = 16;
inline constexpr std::size_t min_password_chars = 8;
inline constexpr std::size_t max_password_chars = 128;

struct register_request {
  std::string phone;
};
struct register_reply {
  std::string user_id;
  std::int64_t otp_expires_in_s = 0;
};
struct verify_otp_request {
  std::string phone;
  std::string code;
};
struct verify_otp_reply {
  std::string user_id;
  std::string enrolment_token;  // single use; for identity.bind_device
  std::int64_t expires_in_s = 0;
};
struct bind_device_request {
  std::string enrolment_token;
  std::string public_key;  // base64url (no padding) DER SubjectPublicKeyInfo, EC P-256
  std::string device_name;
  std::string mpin;  // sets the user's mPIN on first enrolment; must match afterwards
};
struct bind_device_reply {
  std::string device_id;
};
struct challenge_request {
  std::string device_id;
};
struct challenge_reply {
  std::string challenge_id;
  std::string challenge;  // the exact text to sign (ES256)
  std::int64_t expires_at = 0;  // unix seconds
};
struct login_request {
  std::string device_id;
  std::string challenge_id;
  std::string signature;  // base64url JOSE r||s over `challenge`
  std::optional<std::string> mpin;      // exactly one of mpin and password
  std::optional<std::string> password;
};
struct set_password_request {
  std::string mpin;      // the caller proves the mPIN first
  std::string password;  // 8..128 characters
};
struct password_set_reply {
  bool password_set = true;
};
struct token_reply {
  std::string access_token;
  std::string refresh_token;
  std::string token_type;  // "Bearer"
  std::int64_t expires_in_s = 0;
  std::string user_id;
  std::string device_id;
};
struct refresh_request {
  std::string refresh_token;
};
struct revoked_reply {
  bool revoked = true;
};
struct logout_all_reply {
  std::int64_t sessions_revoked = 0;
};
struct device_entry {
  std::string device_id;
  std::string device_name;
  std::int64_t bound_at = 0;  // unix seconds
  bool current = false;       // the device of the token that asked
};
struct devices_reply {
  std::vector<device_entry> devices;
};
struct device_ref {
  std::string device_id;
};
struct jwk_entry {
  std::string kty, crv, kid, use, alg, x, y;
};
struct jwks_reply {
  std::vector<jwk_entry> keys;
};
// Partner credentials (client credentials grant).
struct partner_token_request {
  std::string client_id;
  std::string client_secret;
  std::optional<std::string> scope;  // space separated; absent: every scope the partner has
};
struct partner_token_reply {
  std::string access_token;
  std::string token_type;
  std::int64_t expires_in_s = 0;
  std::string scope;
};
// Tiered authorisation (actors/identity/README.md, "Tiers and approvals").
inline constexpr std::size_t max_operation_chars = 64;
inline constexpr std::size_t max_payee_chars = 64;
struct step_up_request {
  std::string operation;  // e.g. "banking.transfer"
  money amount;
  std::string payee;
  std::string method;  // "otp" or "biometric"
};
struct step_up_reply {
  std::string step_up_id;
  std::string method;
  std::optional<std::string> challenge;  // biometric: the exact text the device key signs
  std::int64_t expires_at = 0;           // unix seconds
};
struct step_up_proof {
  std::string step_up_id;
  std::optional<std::string> otp;        // the code from the SMS, or
  std::optional<std::string> signature;  // base64url JOSE r||s over the step-up challenge
};
struct authorise_request {
  std::string operation;
  money amount;
  std::string payee;
  std::optional<std::string> mpin;  // at most one of mpin and password
  std::optional<std::string> password;
  std::optional<step_up_proof> step_up;
};
struct approval_reply {
  std::string approval;     // the signed approval (protocols/tokens/approval.hpp)
  std::string approval_id;
  std::string tier;         // e.g. "mpin+biometric"
  std::int64_t expires_in_s = 0;
};

const body_schema<register_request>& register_request_schema();
const body_schema<register_reply>& register_reply_schema();
const body_schema<verify_otp_request>& verify_otp_request_schema();
const body_schema<verify_otp_reply>& verify_otp_reply_schema();
const body_schema<bind_device_request>& bind_device_request_schema();
const body_schema<bind_device_reply>& bind_device_reply_schema();
const body_schema<challenge_request>& challenge_request_schema();
const body_schema<challenge_reply>& challenge_reply_schema();
const body_schema<login_request>& login_request_schema();
const body_schema<token_reply>& token_reply_schema();
const body_schema<refresh_request>& refresh_request_schema();
const body_schema<set_password_request>& set_password_request_schema();
const body_schema<password_set_reply>& password_set_reply_schema();
const body_schema<revoked_reply>& revoked_reply_schema();
const body_schema<logout_all_reply>& logout_all_reply_schema();
const body_schema<devices_reply>& devices_reply_schema();
const body_schema<device_ref>& device_ref_schema();
const body_schema<jwks_reply>& jwks_reply_schema();
const body_schema<partner_token_request>& partner_token_request_schema();
const body_schema<partner_token_reply>& partner_token_reply_schema();
const body_schema<step_up_request>& step_up_request_schema();
const body_schema<step_up_reply>& step_up_reply_schema();
const body_schema<authorise_request>& authorise_request_schema();
const body_schema<approval_reply>& approval_reply_schema();

class op_catalogue;
// Adds every identity.* op (called by protocol_ops()).
void add_identity_ops(op_catalogue& c);

}  // namespace superapp::ws
