// The identity domain's tables and statements (the same SQL on SQLite and PostgreSQL).
#include "actors/identity/identity_store.hpp"

#include "persistence/idempotency.hpp"
#include "persistence/outbox.hpp"

namespace superapp::identity::store {
namespace {

using persistence::int_at;
using persistence::text_at;
using persistence::is_null;
using persistence::statement;
using persistence::value;

constexpr auto schema_v1 = R"sql(
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  phone TEXT NOT NULL UNIQUE,
  created_at_s BIGINT NOT NULL
);
CREATE TABLE otp_codes (
  phone TEXT PRIMARY KEY,
  salt TEXT NOT NULL,
  code_digest TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  tries BIGINT NOT NULL,
  used BIGINT NOT NULL,
  last_sent_at_s BIGINT NOT NULL,
  window_started_at_s BIGINT NOT NULL,
  sends_in_window BIGINT NOT NULL
);
CREATE TABLE enrolments (
  token_digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  used BIGINT NOT NULL
);
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_name TEXT NOT NULL,
  public_key TEXT NOT NULL,
  bound_at_s BIGINT NOT NULL,
  revoked_at_s BIGINT
);
CREATE INDEX devices_by_user ON devices (user_id);
CREATE TABLE credentials (
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  hash TEXT NOT NULL,
  failed_attempts BIGINT NOT NULL,
  lockouts BIGINT NOT NULL,
  locked_until_s BIGINT,
  PRIMARY KEY (user_id, kind)
);
CREATE TABLE login_challenges (
  challenge_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  used BIGINT NOT NULL
);
CREATE TABLE refresh_families (
  family_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  created_at_s BIGINT NOT NULL,
  revoked_at_s BIGINT
);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_device ON refresh_families (device_id);
CREATE TABLE refresh_tokens (
  token_digest TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  used BIGINT NOT NULL
);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  private_pem TEXT NOT NULL,
  created_at_s BIGINT NOT NULL,
  retired_at_s BIGINT
);
)sql";

constexpr auto schema_v4 = R"sql(
CREATE TABLE step_ups (
  step_up_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  method TEXT NOT NULL,
  operation TEXT NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  payee TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_digest TEXT NOT NULL,
  tries BIGINT NOT NULL,
  created_at_s BIGINT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  used BIGINT NOT NULL
);
CREATE INDEX step_ups_by_user ON step_ups (user_id, created_at_s);
CREATE TABLE known_payees (
  user_id TEXT NOT NULL,
  operation TEXT NOT NULL,
  payee TEXT NOT NULL,
  first_approved_at_s BIGINT NOT NULL,
  PRIMARY KEY (user_id, operation, payee)
);
CREATE TABLE approvals (
  approval_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  operation TEXT NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  payee TEXT NOT NULL,
  tier TEXT NOT NULL,
  issued_at_s BIGINT NOT NULL,
  expires_at_s BIGINT NOT NULL
);
CREATE INDEX approvals_by_user ON approvals (user_id, issued_at_s);
)sql";

statement st(std::string sql, std::vector<value> params = {}) {
  return statement{std::move(sql), std::move(params)};
}

std::int64_t s(time_point t) { return to_unix_s(t); }

caf::expected<persistence::result> run(conn& c, statement q) { return c.execute(q); }


}  // namespace

std::vector<persistence::migration> migrations() {
  return {persistence::migration{1, "identity: users, otp, devices, credentials, tokens, keys",
                                 schema_v1},
          persistence::migration{2, "identity: per-user event sequence",
                                 "ALTER TABLE users ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0"},
          persistence::outbox_migration(3),
          persistence::migration{4, "identity: step-ups, known payees, approvals", schema_v4},
          persistence::idempotency_migration(5)};
}

caf::expected<std::int64_t> user_event_seq(conn& c, const std::string& user_id) {
  auto r = run(c, st("SELECT event_seq FROM users WHERE user_id = $1", {user_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::int64_t{0};
  return int_at(r->rows[0], 0);
}

void add_user_event(unit_of_work& u, const std::string& user_id, std::int64_t seq_before,
                    events::event e, std::int64_t now_ms) {
  e.aggregate_id = user_id;
  e.sequence = seq_before + 1;
  u.add(st("UPDATE users SET event_seq = $2 WHERE user_id = $1 AND event_seq = $3",
           {user_id, e.sequence, seq_before}),
        1);
  persistence::append_to_outbox(u, e, events::topic_for_domain("identity"), now_ms);
}

caf::expected<std::optional<std::string>> user_by_phone(conn& c, const std::string& phone) {
  auto r = run(c, st("SELECT user_id FROM users WHERE phone = $1", {phone}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<std::string>{};
  return std::optional<std::string>{text_at(r->rows[0], 0)};
}

caf::expected<std::optional<otp_row>> otp_by_phone(conn& c, const std::string& phone) {
  auto r = run(c, st("SELECT salt, code_digest, expires_at_s, tries, used, last_sent_at_s, "
                     "window_started_at_s, sends_in_window FROM otp_codes WHERE phone = $1",
                     {phone}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<otp_row>{};
  const auto& row = r->rows[0];
  otp_row o;
  o.salt = text_at(row, 0);
  o.code_digest = text_at(row, 1);
  o.state.expires_at = from_unix_s(int_at(row, 2));
  o.state.tries = static_cast<int>(int_at(row, 3));
  o.state.used = int_at(row, 4) != 0;
  o.state.last_sent_at = from_unix_s(int_at(row, 5));
  o.state.window_started_at = from_unix_s(int_at(row, 6));
  o.state.sends_in_window = static_cast<int>(int_at(row, 7));
  return std::optional<otp_row>{std::move(o)};
}

caf::expected<std::optional<enrolment_row>> enrolment(conn& c, const std::string& digest) {
  auto r = run(c, st("SELECT user_id, expires_at_s, used FROM enrolments WHERE token_digest = $1",
                     {digest}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<enrolment_row>{};
  const auto& row = r->rows[0];
  return std::optional<enrolment_row>{
      enrolment_row{text_at(row, 0), from_unix_s(int_at(row, 1)), int_at(row, 2) != 0}};
}

namespace {
device_row device_from(const persistence::row& row) {
  return device_row{text_at(row, 0), text_at(row, 1), text_at(row, 2), text_at(row, 3),
                    from_unix_s(int_at(row, 4)), !is_null(row[5])};
}
constexpr auto device_columns =
    "SELECT device_id, user_id, device_name, public_key, bound_at_s, revoked_at_s FROM devices ";
}  // namespace

caf::expected<std::optional<device_row>> device(conn& c, const std::string& device_id) {
  auto r = run(c, st(std::string{device_columns} + "WHERE device_id = $1", {device_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<device_row>{};
  return std::optional<device_row>{device_from(r->rows[0])};
}

caf::expected<std::vector<device_row>> active_devices(conn& c, const std::string& user_id) {
  auto r = run(c, st(std::string{device_columns} +
                         "WHERE user_id = $1 AND revoked_at_s IS NULL ORDER BY bound_at_s, device_id",
                     {user_id}));
  if (!r) return r.error();
  std::vector<device_row> out;
  for (const auto& row : r->rows) out.push_back(device_from(row));
  return out;
}

caf::expected<std::optional<credential_row>> credential(conn& c, const std::string& user_id,
                                                        credential_kind kind) {
  auto r = run(c, st("SELECT hash, failed_attempts, lockouts, locked_until_s FROM credentials "
                     "WHERE user_id = $1 AND kind = $2",
                     {user_id, std::string{to_string(kind)}}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<credential_row>{};
  const auto& row = r->rows[0];
  credential_row out;
  out.hash = text_at(row, 0);
  out.lockout.failed_attempts = static_cast<int>(int_at(row, 1));
  out.lockout.lockouts = static_cast<int>(int_at(row, 2));
  if (!is_null(row[3]) && int_at(row, 3) != 0)
    out.lockout.locked_until = from_unix_s(int_at(row, 3));
  return std::optional<credential_row>{std::move(out)};
}

caf::expected<std::optional<challenge_row>> challenge(conn& c, const std::string& challenge_id) {
  auto r = run(c, st("SELECT device_id, nonce, expires_at_s, used FROM login_challenges "
                     "WHERE challenge_id = $1",
                     {challenge_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<challenge_row>{};
  const auto& row = r->rows[0];
  challenge_row out;
  out.nonce = text_at(row, 1);
  out.record = challenge_record{text_at(row, 0), from_unix_s(int_at(row, 2)), int_at(row, 3) != 0};
  return std::optional<challenge_row>{std::move(out)};
}

caf::expected<std::optional<refresh_row>> refresh_token(conn& c, const std::string& digest) {
  auto r = run(c, st("SELECT f.family_id, f.user_id, f.device_id, t.used, t.expires_at_s, "
                     "f.revoked_at_s, d.revoked_at_s FROM refresh_tokens t "
                     "JOIN refresh_families f ON f.family_id = t.family_id "
                     "LEFT JOIN devices d ON d.device_id = f.device_id "
                     "WHERE t.token_digest = $1",
                     {digest}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<refresh_row>{};
  const auto& row = r->rows[0];
  refresh_row out;
  out.family_id = text_at(row, 0);
  out.user_id = text_at(row, 1);
  out.device_id = text_at(row, 2);
  out.record.used = int_at(row, 3) != 0;
  out.record.expires_at = from_unix_s(int_at(row, 4));
  out.record.family_revoked = !is_null(row[5]);
  out.record.device_active = is_null(row[6]);
  return std::optional<refresh_row>{std::move(out)};
}

caf::expected<std::vector<key_row>> published_keys(conn& c) {
  auto r = run(c, st("SELECT kid, private_pem FROM signing_keys WHERE retired_at_s IS NULL "
                     "ORDER BY created_at_s DESC, kid DESC"));
  if (!r) return r.error();
  std::vector<key_row> out;
  for (const auto& row : r->rows) out.push_back(key_row{text_at(row, 0), text_at(row, 1)});
  return out;
}

void add_user_if_new(unit_of_work& u, const std::string& user_id, const std::string& phone,
                     time_point now) {
  u.add(st("INSERT INTO users (user_id, phone, created_at_s) VALUES ($1, $2, $3) "
           "ON CONFLICT (phone) DO NOTHING",
           {user_id, phone, s(now)}));
}

void put_otp(unit_of_work& u, const std::string& phone, const otp_row& o) {
  u.add(st("DELETE FROM otp_codes WHERE phone = $1", {phone}));
  u.add(st("INSERT INTO otp_codes (phone, salt, code_digest, expires_at_s, tries, used, "
           "last_sent_at_s, window_started_at_s, sends_in_window) "
           "VALUES ($1, $2, $3, $4, 0, 0, $5, $6, $7)",
           {phone, o.salt, o.code_digest, s(o.state.expires_at), s(o.state.last_sent_at),
            s(o.state.window_started_at), std::int64_t{o.state.sends_in_window}}),
        1);
}

void count_otp_try(unit_of_work& u, const std::string& phone) {
  u.add(st("UPDATE otp_codes SET tries = tries + 1 WHERE phone = $1", {phone}), 1);
}

void use_otp(unit_of_work& u, const std::string& phone) {
  u.add(st("UPDATE otp_codes SET used = 1 WHERE phone = $1 AND used = 0", {phone}), 1);
}

void add_enrolment(unit_of_work& u, const std::string& digest, const std::string& user_id,
                   time_point expires_at) {
  u.add(st("INSERT INTO enrolments (token_digest, user_id, expires_at_s, used) "
           "VALUES ($1, $2, $3, 0)",
           {digest, user_id, s(expires_at)}),
        1);
}

void use_enrolment(unit_of_work& u, const std::string& digest) {
  u.add(st("UPDATE enrolments SET used = 1 WHERE token_digest = $1 AND used = 0", {digest}), 1);
}

void add_device(unit_of_work& u, const device_row& d) {
  u.add(st("INSERT INTO devices (device_id, user_id, device_name, public_key, bound_at_s, "
           "revoked_at_s) VALUES ($1, $2, $3, $4, $5, NULL)",
           {d.device_id, d.user_id, d.device_name, d.public_key, s(d.bound_at)}),
        1);
}

void revoke_device(unit_of_work& u, const std::string& device_id, time_point now) {
  u.add(st("UPDATE devices SET revoked_at_s = $2 WHERE device_id = $1 AND revoked_at_s IS NULL",
           {device_id, s(now)}),
        1);
}

void put_credential(unit_of_work& u, const std::string& user_id, credential_kind kind,
                    const std::string& hash) {
  auto k = std::string{to_string(kind)};
  u.add(st("DELETE FROM credentials WHERE user_id = $1 AND kind = $2", {user_id, k}));
  u.add(st("INSERT INTO credentials (user_id, kind, hash, failed_attempts, lockouts, "
           "locked_until_s) VALUES ($1, $2, $3, 0, 0, NULL)",
           {user_id, k, hash}),
        1);
}

void set_lockout(unit_of_work& u, const std::string& user_id, credential_kind kind,
                 const lockout_state& l) {
  // No lock is written as 0 (the epoch): never in the future, so never locked.
  std::int64_t until = l.locked_until ? s(*l.locked_until) : 0;
  u.add(st("UPDATE credentials SET failed_attempts = $3, lockouts = $4, locked_until_s = $5 "
           "WHERE user_id = $1 AND kind = $2",
           {user_id, std::string{to_string(kind)}, std::int64_t{l.failed_attempts},
            std::int64_t{l.lockouts}, until}),
        1);
}

void add_challenge(unit_of_work& u, const std::string& challenge_id, const std::string& device_id,
                   const std::string& nonce, time_point expires_at) {
  u.add(st("INSERT INTO login_challenges (challenge_id, device_id, nonce, expires_at_s, used) "
           "VALUES ($1, $2, $3, $4, 0)",
           {challenge_id, device_id, nonce, s(expires_at)}),
        1);
}

void use_challenge(unit_of_work& u, const std::string& challenge_id) {
  u.add(st("UPDATE login_challenges SET used = 1 WHERE challenge_id = $1 AND used = 0",
           {challenge_id}),
        1);
}

void add_family(unit_of_work& u, const std::string& family_id, const std::string& user_id,
                const std::string& device_id, time_point now) {
  u.add(st("INSERT INTO refresh_families (family_id, user_id, device_id, created_at_s, "
           "revoked_at_s) VALUES ($1, $2, $3, $4, NULL)",
           {family_id, user_id, device_id, s(now)}),
        1);
}

void add_refresh_token(unit_of_work& u, const std::string& digest, const std::string& family_id,
                       time_point expires_at) {
  u.add(st("INSERT INTO refresh_tokens (token_digest, family_id, expires_at_s, used) "
           "VALUES ($1, $2, $3, 0)",
           {digest, family_id, s(expires_at)}),
        1);
}

void use_refresh_token(unit_of_work& u, const std::string& digest) {
  u.add(st("UPDATE refresh_tokens SET used = 1 WHERE token_digest = $1 AND used = 0", {digest}),
        1);
}

void revoke_family(unit_of_work& u, const std::string& family_id, time_point now) {
  u.add(st("UPDATE refresh_families SET revoked_at_s = $2 "
           "WHERE family_id = $1 AND revoked_at_s IS NULL",
           {family_id, s(now)}));
}

void revoke_user_families(unit_of_work& u, const std::string& user_id, time_point now) {
  u.add(st("UPDATE refresh_families SET revoked_at_s = $2 "
           "WHERE user_id = $1 AND revoked_at_s IS NULL",
           {user_id, s(now)}));
}

void revoke_device_families(unit_of_work& u, const std::string& device_id, time_point now) {
  u.add(st("UPDATE refresh_families SET revoked_at_s = $2 "
           "WHERE device_id = $1 AND revoked_at_s IS NULL",
           {device_id, s(now)}));
}

void add_key(unit_of_work& u, const key_row& k, time_point now) {
  u.add(st("INSERT INTO signing_keys (kid, private_pem, created_at_s, retired_at_s) "
           "VALUES ($1, $2, $3, NULL)",
           {k.kid, k.private_pem, s(now)}),
        1);
}

void replace_stored_key(unit_of_work& u, const std::string& kid, const std::string& stored) {
  u.add(st("UPDATE signing_keys SET private_pem = $2 WHERE kid = $1", {kid, stored}), 1);
}

void retire_keys_except(unit_of_work& u, const std::string& keep_a, const std::string& keep_b,
                        time_point now) {
  u.add(st("UPDATE signing_keys SET retired_at_s = $3 "
           "WHERE retired_at_s IS NULL AND kid <> $1 AND kid <> $2",
           {keep_a, keep_b, s(now)}));
}

// ---- tiers ----

caf::expected<std::optional<std::string>> phone_of_user(conn& c, const std::string& user_id) {
  auto r = run(c, st("SELECT phone FROM users WHERE user_id = $1", {user_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<std::string>{};
  return std::optional<std::string>{text_at(r->rows[0], 0)};
}

caf::expected<std::optional<step_up_row>> step_up(conn& c, const std::string& step_up_id) {
  auto r = run(c, st("SELECT user_id, device_id, method, operation, amount_minor, currency, payee,"
                     " nonce, code_digest, tries, created_at_s, expires_at_s, used"
                     " FROM step_ups WHERE step_up_id = $1",
                     {step_up_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<step_up_row>{};
  const auto& row = r->rows[0];
  step_up_row out;
  out.step_up_id = step_up_id;
  out.user_id = text_at(row, 0);
  out.device_id = text_at(row, 1);
  out.method = factor_from(text_at(row, 2)).value_or(factor::otp);
  out.operation = {text_at(row, 3), int_at(row, 4), text_at(row, 5), text_at(row, 6)};
  out.nonce = text_at(row, 7);
  out.code_digest = text_at(row, 8);
  out.tries = static_cast<int>(int_at(row, 9));
  out.created_at = from_unix_s(int_at(row, 10));
  out.expires_at = from_unix_s(int_at(row, 11));
  out.used = int_at(row, 12) != 0;
  return std::optional<step_up_row>{std::move(out)};
}

caf::expected<std::int64_t> otp_step_ups_since(conn& c, const std::string& user_id,
                                               time_point since) {
  auto r = run(c, st("SELECT COUNT(*) FROM step_ups WHERE user_id = $1 AND method = 'otp'"
                     " AND created_at_s >= $2",
                     {user_id, s(since)}));
  if (!r) return r.error();
  return r->rows.empty() ? std::int64_t{0} : int_at(r->rows[0], 0);
}

caf::expected<bool> payee_known(conn& c, const std::string& user_id, const std::string& operation,
                                const std::string& payee) {
  auto r = run(c, st("SELECT 1 FROM known_payees WHERE user_id = $1 AND operation = $2"
                     " AND payee = $3",
                     {user_id, operation, payee}));
  if (!r) return r.error();
  return !r->rows.empty();
}

void add_step_up(unit_of_work& u, const step_up_row& x) {
  u.add(st("INSERT INTO step_ups (step_up_id, user_id, device_id, method, operation, amount_minor,"
           " currency, payee, nonce, code_digest, tries, created_at_s, expires_at_s, used)"
           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0)",
           {x.step_up_id, x.user_id, x.device_id, std::string{to_string(x.method)},
            x.operation.operation, x.operation.amount_minor, x.operation.currency,
            x.operation.payee, x.nonce, x.code_digest, std::int64_t{x.tries}, s(x.created_at),
            s(x.expires_at)}),
        1);
}

void count_step_up_try(unit_of_work& u, const std::string& step_up_id) {
  u.add(st("UPDATE step_ups SET tries = tries + 1 WHERE step_up_id = $1", {step_up_id}), 1);
}

void use_step_up(unit_of_work& u, const std::string& step_up_id) {
  u.add(st("UPDATE step_ups SET used = 1 WHERE step_up_id = $1 AND used = 0", {step_up_id}), 1);
}

void add_known_payee(unit_of_work& u, const std::string& user_id, const std::string& operation,
                     const std::string& payee, time_point now) {
  u.add(st("INSERT INTO known_payees (user_id, operation, payee, first_approved_at_s)"
           " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, operation, payee) DO NOTHING",
           {user_id, operation, payee, s(now)}));
}

void add_approval(unit_of_work& u, const tokens::approval& a, time_point issued_at) {
  u.add(st("INSERT INTO approvals (approval_id, user_id, device_id, operation, amount_minor,"
           " currency, payee, tier, issued_at_s, expires_at_s)"
           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
           {a.approval_id, a.user_id, a.device_id, a.operation.operation, a.operation.amount_minor,
            a.operation.currency, a.operation.payee, a.tier, s(issued_at), s(a.expires_at)}),
        1);
}

}  // namespace superapp::identity::store
