// The identity domain's schema and its SQL: reads on a reader connection, writes as units of
// work for the group-commit writer. No CAF.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/identity/identity_rules.hpp"
#include "actors/identity/tiers.hpp"
#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "protocols/events/event.hpp"

namespace superapp::identity::store {

std::vector<persistence::migration> migrations();

struct otp_row {
  std::string salt;
  std::string code_digest;
  otp_state state;
};
struct enrolment_row {
  std::string user_id;
  time_point expires_at;
  bool used = false;
};
struct device_row {
  std::string device_id;
  std::string user_id;
  std::string device_name;
  std::string public_key;
  time_point bound_at;
  bool revoked = false;
};
struct credential_row {
  std::string hash;
  lockout_state lockout;
};
struct challenge_row {
  std::string nonce;
  challenge_record record;
};
struct refresh_row {
  std::string family_id;
  std::string user_id;
  std::string device_id;
  refresh_record record;
};
struct key_row {
  std::string kid;
  std::string private_pem;
};
// One step-up: what it approves, for whom, on which device, and its one-time secret (an OTP's
// salted digest, or the nonce in the text the device key signs).
struct step_up_row {
  std::string step_up_id;
  std::string user_id;
  std::string device_id;
  factor method = factor::otp;
  operation_binding operation;
  std::string nonce;        // biometric: in the signed text; otp: the digest's salt
  std::string code_digest;  // otp only
  int tries = 0;            // wrong codes or signatures so far
  time_point created_at;
  time_point expires_at;
  bool used = false;
};

using conn = persistence::connection;

caf::expected<std::optional<std::string>> user_by_phone(conn& c, const std::string& phone);
caf::expected<std::optional<otp_row>> otp_by_phone(conn& c, const std::string& phone);
caf::expected<std::optional<enrolment_row>> enrolment(conn& c, const std::string& digest);
caf::expected<std::optional<device_row>> device(conn& c, const std::string& device_id);
caf::expected<std::vector<device_row>> active_devices(conn& c, const std::string& user_id);
caf::expected<std::optional<credential_row>> credential(conn& c, const std::string& user_id,
                                                        credential_kind kind);
caf::expected<std::optional<challenge_row>> challenge(conn& c, const std::string& challenge_id);
caf::expected<std::optional<refresh_row>> refresh_token(conn& c, const std::string& digest);
// Published keys, newest first (the first one signs).
caf::expected<std::vector<key_row>> published_keys(conn& c);
caf::expected<std::optional<std::string>> phone_of_user(conn& c, const std::string& user_id);
caf::expected<std::optional<step_up_row>> step_up(conn& c, const std::string& step_up_id);
// OTP step-ups sent to the user since `since` (the SMS budget per user).
caf::expected<std::int64_t> otp_step_ups_since(conn& c, const std::string& user_id, time_point since);
// Whether the user was approved for `operation` to `payee` before.
caf::expected<bool> payee_known(conn& c, const std::string& user_id, const std::string& operation,
                                const std::string& payee);

using persistence::unit_of_work;

void add_user_if_new(unit_of_work& u, const std::string& user_id, const std::string& phone,
                     time_point now);
void put_otp(unit_of_work& u, const std::string& phone, const otp_row& row);
void count_otp_try(unit_of_work& u, const std::string& phone);
void use_otp(unit_of_work& u, const std::string& phone);  // expects 1 row: still unused
void add_enrolment(unit_of_work& u, const std::string& digest, const std::string& user_id,
                   time_point expires_at);
void use_enrolment(unit_of_work& u, const std::string& digest);  // expects 1 row
// Identity's events (topic superapp.identity.events) are about a user: aggregate = user id,
// sequence = the user's event_seq + 1. The unit also moves event_seq from `seq_before` (read
// with user_event_seq) and fails with unexpected_rows_affected if another write moved it first.
caf::expected<std::int64_t> user_event_seq(conn& c, const std::string& user_id);
void add_user_event(unit_of_work& u, const std::string& user_id, std::int64_t seq_before,
                    events::event e, std::int64_t now_ms);

void add_device(unit_of_work& u, const device_row& d);
void revoke_device(unit_of_work& u, const std::string& device_id, time_point now);
void put_credential(unit_of_work& u, const std::string& user_id, credential_kind kind,
                    const std::string& hash);
void set_lockout(unit_of_work& u, const std::string& user_id, credential_kind kind,
                 const lockout_state& s);
void add_challenge(unit_of_work& u, const std::string& challenge_id, const std::string& device_id,
                   const std::string& nonce, time_point expires_at);
void use_challenge(unit_of_work& u, const std::string& challenge_id);  // expects 1 row
void add_family(unit_of_work& u, const std::string& family_id, const std::string& user_id,
                const std::string& device_id, time_point now);
void add_refresh_token(unit_of_work& u, const std::string& digest, const std::string& family_id,
                       time_point expires_at);
void use_refresh_token(unit_of_work& u, const std::string& digest);  // expects 1 row
void revoke_family(unit_of_work& u, const std::string& family_id, time_point now);
void revoke_user_families(unit_of_work& u, const std::string& user_id, time_point now);
void revoke_device_families(unit_of_work& u, const std::string& device_id, time_point now);
void add_key(unit_of_work& u, const key_row& k, time_point now);
void add_step_up(unit_of_work& u, const step_up_row& s);
void count_step_up_try(unit_of_work& u, const std::string& step_up_id);
void use_step_up(unit_of_work& u, const std::string& step_up_id);  // expects 1 row: unused
void add_known_payee(unit_of_work& u, const std::string& user_id, const std::string& operation,
                     const std::string& payee, time_point now);  // no-op when known
// The audit trail of approvals issued (never the token itself: it is a bearer credential).
void add_approval(unit_of_work& u, const tokens::approval& a, time_point issued_at);
// A key's stored form changes (sealed under the storage key); the key itself does not.
void replace_stored_key(unit_of_work& u, const std::string& kid, const std::string& stored);
void retire_keys_except(unit_of_work& u, const std::string& keep_a, const std::string& keep_b,
                        time_point now);

}  // namespace superapp::identity::store
