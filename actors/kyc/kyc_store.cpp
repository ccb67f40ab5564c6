// The kyc domain's tables and statements (the same SQL on SQLite and PostgreSQL).
#include "actors/kyc/kyc_store.hpp"

#include "persistence/idempotency.hpp"
#include "persistence/outbox.hpp"

namespace superapp::kyc::store {
namespace {

using persistence::int_at;
using persistence::text_at;
using persistence::statement;
using persistence::value;

constexpr auto schema_v1 = R"sql(
CREATE TABLE subjects (
  user_id TEXT PRIMARY KEY,
  level TEXT NOT NULL,
  event_seq BIGINT NOT NULL,
  updated_at_s BIGINT NOT NULL
);
CREATE TABLE checks (
  check_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  number BIGINT NOT NULL,
  level TEXT NOT NULL,
  state TEXT NOT NULL,
  provider_check_id TEXT,
  reason TEXT NOT NULL,
  documents TEXT NOT NULL,
  created_at_s BIGINT NOT NULL,
  decided_at_s BIGINT
);
CREATE UNIQUE INDEX checks_by_user ON checks (user_id, number);
)sql";

statement st(std::string sql, std::vector<value> params = {}) {
  return statement{std::move(sql), std::move(params)};
}


check_state state_from(std::string_view s) {
  for (auto x : {check_state::pending, check_state::verified, check_state::rejected, check_state::failed})
    if (to_string(x) == s) return x;
  return check_state::failed;
}

constexpr auto check_columns =
    "SELECT check_id, user_id, level, state, provider_check_id, reason, documents, created_at_s,"
    " decided_at_s, number FROM checks ";

caf::expected<std::optional<check_row>> one_check(conn& c, statement q) {
  auto r = c.execute(q);
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<check_row>{};
  const auto& row = r->rows[0];
  check_row out;
  out.check_id = text_at(row, 0);
  out.user_id = text_at(row, 1);
  out.level = text_at(row, 2);
  out.state = state_from(text_at(row, 3));
  out.provider_check_id = text_at(row, 4);
  out.reason = text_at(row, 5);
  out.documents = text_at(row, 6);
  out.created_at_s = int_at(row, 7);
  out.decided_at_s = int_at(row, 8);
  out.number = int_at(row, 9);
  return std::optional<check_row>{std::move(out)};
}

}  // namespace

std::vector<persistence::migration> migrations() {
  return {persistence::migration{1, "kyc: subjects and checks", schema_v1},
          persistence::outbox_migration(2), persistence::idempotency_migration(3)};
}

std::string_view to_string(check_state s) {
  switch (s) {
    case check_state::pending:
      return "pending";
    case check_state::verified:
      return "verified";
    case check_state::rejected:
      return "rejected";
    case check_state::failed:
      return "failed";
  }
  return "failed";
}

caf::expected<std::optional<check_row>> check(conn& c, const std::string& check_id) {
  return one_check(c, st(std::string{check_columns} + "WHERE check_id = $1", {check_id}));
}

caf::expected<std::optional<check_row>> latest_check(conn& c, const std::string& user_id) {
  return one_check(c, st(std::string{check_columns} +
                             "WHERE user_id = $1 ORDER BY number DESC LIMIT 1",
                         {user_id}));
}

caf::expected<std::optional<subject_row>> subject(conn& c, const std::string& user_id) {
  auto r = c.execute(st("SELECT level, event_seq FROM subjects WHERE user_id = $1", {user_id}));
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<subject_row>{};
  return std::optional<subject_row>{subject_row{text_at(r->rows[0], 0), int_at(r->rows[0], 1)}};
}

void add_check(unit_of_work& u, const check_row& x) {
  u.add(st("INSERT INTO checks (check_id, user_id, number, level, state, provider_check_id, reason,"
           " documents, created_at_s, decided_at_s)"
           " VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, NULL)",
           {x.check_id, x.user_id, x.number, x.level, std::string{to_string(x.state)}, x.reason,
            x.documents, x.created_at_s}),
        1);
}

void set_provider_check_id(unit_of_work& u, const std::string& check_id,
                           const std::string& provider_check_id) {
  u.add(st("UPDATE checks SET provider_check_id = $2 WHERE check_id = $1",
           {check_id, provider_check_id}),
        1);
}

void fail_check(unit_of_work& u, const std::string& check_id, const std::string& reason,
                std::int64_t now_s) {
  u.add(st("UPDATE checks SET state = 'failed', reason = $2, decided_at_s = $3"
           " WHERE check_id = $1 AND state = 'pending'",
           {check_id, reason, now_s}),
        1);
}

void decide_check(unit_of_work& u, const std::string& check_id, check_state outcome,
                  const std::string& provider_check_id, const std::string& reason,
                  std::int64_t now_s) {
  u.add(st("UPDATE checks SET state = $2, provider_check_id = $3, reason = $4, decided_at_s = $5"
           " WHERE check_id = $1 AND state IN ('pending', 'failed')",
           {check_id, std::string{to_string(outcome)}, provider_check_id, reason, now_s}),
        1);
}

void add_subject_event(unit_of_work& u, const std::string& user_id, const std::string& level,
                       std::int64_t seq_before, events::event e, std::int64_t now_ms) {
  e.aggregate_id = user_id;
  e.sequence = seq_before + 1;
  u.add(st("INSERT INTO subjects (user_id, level, event_seq, updated_at_s) VALUES ($1, $2, 0, $3)"
           " ON CONFLICT (user_id) DO NOTHING",
           {user_id, level, now_ms / 1000}));
  u.add(st("UPDATE subjects SET level = $2, event_seq = $3, updated_at_s = $4"
           " WHERE user_id = $1 AND event_seq = $5",
           {user_id, level, e.sequence, now_ms / 1000, seq_before}),
        1);
  persistence::append_to_outbox(u, e, events::topic_for_domain("kyc"), now_ms);
}

}  // namespace superapp::kyc::store
