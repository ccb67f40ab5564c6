// The identity ops' schemas and catalogue entries.
#include "protocols/ws/identity_ops.hpp"

#include <limits>

#include "protocols/ws/ops.hpp"

namespace superapp::ws {
namespace {

constexpr int_range non_negative{0, std::numeric_limits<std::int64_t>::max()};
constexpr min_length non_empty{1};

}  // namespace

const body_schema<register_request>& register_request_schema() {
  static const auto s = body_schema<register_request>{}.required(
      "phone", &register_request::phone, max_length{max_phone_chars}, non_empty);
  return s;
}
const body_schema<register_reply>& register_reply_schema() {
  static const auto s =
      body_schema<register_reply>{}
          .required("user_id", &register_reply::user_id, max_length{max_identity_id_chars})
          .required("otp_expires_in_s", &register_reply::otp_expires_in_s, non_negative);
  return s;
}
const body_schema<verify_otp_request>& verify_otp_request_schema() {
  static const auto s =
      body_schema<verify_otp_request>{}
          .required("phone", &verify_otp_request::phone, max_length{max_phone_chars}, non_empty)
          .required("code", &verify_otp_request::code, max_length{6}, min_length{6});
  return s;
}
const body_schema<verify_otp_reply>& verify_otp_reply_schema() {
  static const auto s =
      body_schema<verify_otp_reply>{}
          .required("user_id", &verify_otp_reply::user_id, max_length{max_identity_id_chars})
          .required("enrolment_token", &verify_otp_reply::enrolment_token,
                    max_length{max_secret_token_chars})
          .required("expires_in_s", &verify_otp_reply::expires_in_s, non_negative);
  return s;
}
const body_schema<bind_device_request>& bind_device_request_schema() {
  static const auto s =
      body_schema<bind_device_request>{}
          .required("enrolment_token", &bind_device_request::enrolment_token,
                    max_length{max_secret_token_chars}, non_empty)
          .required("public_key", &bind_device_request::public_key,
                    max_length{max_public_key_chars}, non_empty)
          .required("device_name", &bind_device_request::device_name,
                    max_length{max_device_name_chars}, non_empty)
          .required("mpin", &bind_device_request::mpin, max_length{6}, min_length{4});
  return s;
}
const body_schema<bind_device_reply>& bind_device_reply_schema() {
  static const auto s = body_schema<bind_device_reply>{}.required(
      "device_id", &bind_device_reply::device_id, max_length{max_identity_id_chars});
  return s;
}
const body_schema<challenge_request>& challenge_request_schema() {
  static const auto s = body_schema<challenge_request>{}.required(
      "device_id", &challenge_request::device_id, max_length{max_identity_id_chars}, non_empty);
  return s;
}
const body_schema<challenge_reply>& challenge_reply_schema() {
  static const auto s =
      body_schema<challenge_reply>{}
          .required("challenge_id", &challenge_reply::challenge_id,
                    max_length{max_identity_id_chars})
          .required("challenge", &challenge_reply::challenge, max_length{512})
          .required("expires_at", &challenge_reply::expires_at, non_negative);
  return s;
}
const body_schema<login_request>& login_request_schema() {
  static const auto s =
      body_schema<login_request>{}
          .required("device_id", &login_request::device_id, max_length{max_identity_id_chars},
                    non_empty)
          .required("challenge_id", &login_request::challenge_id,
                    max_length{max_identity_id_chars}, non_empty)
          .required("signature", &login_request::signature, max_length{128}, non_empty)
          .optional("mpin", &login_request::mpin, max_length{6}, min_length{4})
          .optional("password", &login_request::password, max_length{max_password_chars},
                    min_length{min_password_chars});
  return s;
}
const body_schema<set_password_request>& set_password_request_schema() {
  static const auto s =
      body_schema<set_password_request>{}
          .required("mpin", &set_password_request::mpin, max_length{6}, min_length{4})
          .required("password", &set_password_request::password, max_length{max_password_chars},
                    min_length{min_password_chars});
  return s;
}
const body_schema<password_set_reply>& password_set_reply_schema() {
  static const auto s = body_schema<password_set_reply>{}.required(
      "password_set", &password_set_reply::password_set);
  return s;
}
const body_schema<token_reply>& token_reply_schema() {
  static const auto s =
      body_schema<token_reply>{}
          .required("access_token", &token_reply::access_token,
                    max_length{max_access_token_chars})
          .required("refresh_token", &token_reply::refresh_token,
                    max_length{max_secret_token_chars})
          .required("token_type", &token_reply::token_type, max_length{16})
          .required("expires_in_s", &token_reply::expires_in_s, non_negative)
          .required("user_id", &token_reply::user_id, max_length{max_identity_id_chars})
          .required("device_id", &token_reply::device_id, max_length{max_identity_id_chars});
  return s;
}
const body_schema<refresh_request>& refresh_request_schema() {
  static const auto s = body_schema<refresh_request>{}.required(
      "refresh_token", &refresh_request::refresh_token, max_length{max_secret_token_chars},
      non_empty);
  return s;
}
const body_schema<revoked_reply>& revoked_reply_schema() {
  static const auto s = body_schema<revoked_reply>{}.required("revoked", &revoked_reply::revoked);
  return s;
}
const body_schema<logout_all_reply>& logout_all_reply_schema() {
  static const auto s = body_schema<logout_all_reply>{}.required(
      "sessions_revoked", &logout_all_reply::sessions_revoked, non_negative);
  return s;
}
const body_schema<devices_reply>& devices_reply_schema() {
  static const auto entry =
      body_schema<device_entry>{}
          .required("device_id", &device_entry::device_id, max_length{max_identity_id_chars})
          .required("device_name", &device_entry::device_name, max_length{max_device_name_chars})
          .required("bound_at", &device_entry::bound_at, non_negative)
          .required("current", &device_entry::current);
  static const auto s = body_schema<devices_reply>{}.required(
      "devices", &devices_reply::devices, entry, max_items{max_devices_listed});
  return s;
}
const body_schema<device_ref>& device_ref_schema() {
  static const auto s = body_schema<device_ref>{}.required(
      "device_id", &device_ref::device_id, max_length{max_identity_id_chars}, non_empty);
  return s;
}
const body_schema<jwks_reply>& jwks_reply_schema() {
  static const auto key = body_schema<jwk_entry>{}
                              .required("kty", &jwk_entry::kty, max_length{8})
                              .required("crv", &jwk_entry::crv, max_length{16})
                              .required("kid", &jwk_entry::kid, max_length{max_identity_id_chars})
                              .required("use", &jwk_entry::use, max_length{8})
                              .required("alg", &jwk_entry::alg, max_length{16})
                              .required("x", &jwk_entry::x, max_length{64})
                              .required("y", &jwk_entry::y, max_length{64});
  static const auto s = body_schema<jwks_reply>{}.required("keys", &jwks_reply::keys, key,
                                                           max_items{max_jwks_keys});
  return s;
}

const body_schema<partner_token_request>& partner_token_request_schema() {
  static const auto s =
      body_schema<partner_token_request>{}
          .required("client_id", &partner_token_request::client_id, max_length{64}, non_empty)
          .required("client_secret", &partner_token_request::client_secret,
                    max_length{max_secret_token_chars}, non_empty)
          .optional("scope", &partner_token_request::scope, max_length{1024});
  return s;
}
const body_schema<partner_token_reply>& partner_token_reply_schema() {
  static const auto s =
      body_schema<partner_token_reply>{}
          .required("access_token", &partner_token_reply::access_token,
                    max_length{max_access_token_chars})
          .required("token_type", &partner_token_reply::token_type, max_length{16})
          .required("expires_in_s", &partner_token_reply::expires_in_s, non_negative)
          .required("scope", &partner_token_reply::scope, max_length{1024});
  return s;
}
const body_schema<step_up_request>& step_up_request_schema() {
  static const auto s =
      body_schema<step_up_request>{}
          .required("operation", &step_up_request::operation, max_length{max_operation_chars},
                    non_empty)
          .required("amount", &step_up_request::amount, money_schema())
          .required("payee", &step_up_request::payee, max_length{max_payee_chars}, non_empty)
          .required("method", &step_up_request::method, max_length{16}, non_empty);
  return s;
}
const body_schema<step_up_reply>& step_up_reply_schema() {
  static const auto s =
      body_schema<step_up_reply>{}
          .required("step_up_id", &step_up_reply::step_up_id, max_length{max_identity_id_chars})
          .required("method", &step_up_reply::method, max_length{16})
          .optional("challenge", &step_up_reply::challenge, max_length{512})
          .required("expires_at", &step_up_reply::expires_at, non_negative);
  return s;
}
const body_schema<authorise_request>& authorise_request_schema() {
  static const auto proof =
      body_schema<step_up_proof>{}
          .required("step_up_id", &step_up_proof::step_up_id, max_length{max_identity_id_chars},
                    non_empty)
          .optional("otp", &step_up_proof::otp, max_length{6}, min_length{6})
          .optional("signature", &step_up_proof::signature, max_length{128}, non_empty);
  static const auto s =
      body_schema<authorise_request>{}
          .required("operation", &authorise_request::operation, max_length{max_operation_chars},
                    non_empty)
          .required("amount", &authorise_request::amount, money_schema())
          .required("payee", &authorise_request::payee, max_length{max_payee_chars}, non_empty)
          .optional("mpin", &authorise_request::mpin, max_length{6}, min_length{4})
          .optional("password", &authorise_request::password, max_length{max_password_chars},
                    min_length{min_password_chars})
          .optional("step_up", &authorise_request::step_up, proof);
  return s;
}
const body_schema<approval_reply>& approval_reply_schema() {
  static const auto s =
      body_schema<approval_reply>{}
          .required("approval", &approval_reply::approval, max_length{max_access_token_chars})
          .required("approval_id", &approval_reply::approval_id, max_length{max_identity_id_chars})
          .required("tier", &approval_reply::tier, max_length{64})
          .required("expires_in_s", &approval_reply::expires_in_s, non_negative);
  return s;
}

void add_identity_ops(op_catalogue& c) {
  const auto tx = lane::transactional;
  c.add(public_op(make_op("identity.register", tx,
                          "Starts sign-up (or a new device's enrolment) for a phone number: "
                          "sends a 6-digit code by SMS.",
                          register_request_schema(), register_reply_schema())));
  c.add(public_op(make_op("identity.verify_otp", tx,
                          "Checks the SMS code; answers a single-use enrolment token.",
                          verify_otp_request_schema(), verify_otp_reply_schema())));
  c.add(public_op(make_op("identity.bind_device", tx,
                          "Binds the device's P-256 public key to the user (and sets the mPIN "
                          "on first enrolment).",
                          bind_device_request_schema(), bind_device_reply_schema())));
  c.add(public_op(make_op("identity.challenge", tx,
                          "Issues a single-use login challenge for a bound device.",
                          challenge_request_schema(), challenge_reply_schema())));
  c.add(public_op(make_op("identity.login", tx,
                          "Logs in with the device's signature over the challenge and the mPIN "
                          "(or the password); answers an access and a refresh token.",
                          login_request_schema(), token_reply_schema())));
  c.add(public_op(make_op("identity.refresh", tx,
                          "Rotates a refresh token: a new pair; a reused one revokes its family.",
                          refresh_request_schema(), token_reply_schema())));
  c.add(public_op(make_op("identity.logout", tx,
                          "Revokes the login (refresh-token family) the token belongs to.",
                          refresh_request_schema(), revoked_reply_schema())));
  c.add(scoped_op(make_op("identity.logout_all", tx,
                "Revokes every login of the caller on every device (log out everywhere).",
                empty_body_schema(), logout_all_reply_schema()), "user"));
  c.add(scoped_op(make_op("identity.set_password", tx,
                "Sets or replaces the caller's password (Argon2id); the mPIN must be given.",
                set_password_request_schema(), password_set_reply_schema()), "user"));
  c.add(scoped_op(make_op("identity.devices", lane::query, "Lists the caller's bound devices.",
                empty_body_schema(), devices_reply_schema()), "user"));
  c.add(scoped_op(make_op("identity.revoke_device", tx,
                "Revokes one of the caller's devices and every login made from it.",
                device_ref_schema(), revoked_reply_schema()), "user"));
  c.add(scoped_op(make_op("identity.step_up", tx,
                "Starts a step-up for one operation (amount, payee): an SMS code that names it, "
                "or a challenge naming it for the device's biometric key to sign.",
                step_up_request_schema(), step_up_reply_schema()), "user"));
  c.add(scoped_op(make_op("identity.authorise", tx,
                "Proves what the tier policy asks for one operation (mPIN or password, and a "
                "step-up when needed); answers a signed, single-use, 2-minute approval for it.",
                authorise_request_schema(), approval_reply_schema()), "user"));
  c.add(public_op(make_op("identity.partner_token", tx,
                          "Client credentials: a partner's id and secret for an access token "
                          "carrying (a subset of) its scopes and its daily quota.",
                          partner_token_request_schema(), partner_token_reply_schema())));
  c.add(public_op(make_op("identity.jwks", lane::query,
                          "The public keys access tokens are signed with, as a JWK set.",
                          empty_body_schema(), jwks_reply_schema())));
}

}  // namespace superapp::ws
