// Idempotent replies on SQLite and PostgreSQL (the same SQL).
#include "persistence/idempotency.hpp"

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::persistence {

migration idempotency_migration(std::int64_t version) {
  return migration{version, std::string{idempotency_migration_name},
                   "CREATE TABLE idempotent_replies ("
                   " scope TEXT NOT NULL,"
                   " idem_key TEXT NOT NULL,"
                   " request_digest TEXT NOT NULL,"
                   " reply_json TEXT NOT NULL,"
                   " created_at_ms BIGINT NOT NULL,"
                   " PRIMARY KEY (scope, idem_key));"
                   "CREATE INDEX idempotent_replies_by_age ON idempotent_replies (created_at_ms)"};
}

std::string idempotency_scope(std::string_view caller, std::string_view op) {
  SUPERAPP_ASSERT(caller.find('|') == std::string_view::npos);
  std::string out{caller};
  out += '|';
  out += op;
  return out;
}

caf::expected<std::optional<stored_reply>> find_reply(connection& conn, std::string_view scope,
                                                      std::string_view key) {
  auto r = conn.execute({"SELECT request_digest, reply_json FROM idempotent_replies"
                         " WHERE scope = $1 AND idem_key = $2",
                         {std::string{scope}, std::string{key}}});
  if (!r) return std::move(r.error());
  if (r->rows.empty()) return std::optional<stored_reply>{};
  const auto& row = r->rows[0];
  return std::optional<stored_reply>{
      stored_reply{as_text(row[0]).value_or(""), as_text(row[1]).value_or("")}};
}

replay_verdict judge_replay(const std::optional<stored_reply>& stored,
                            std::string_view request_digest) {
  if (!stored) return replay_verdict::fresh;
  return stored->request_digest == request_digest ? replay_verdict::replay
                                                  : replay_verdict::key_conflict;
}

caf::expected<std::optional<std::string>> replayed_reply(connection& conn, std::string_view scope,
                                                         std::string_view key,
                                                         std::string_view request_digest) {
  auto stored = find_reply(conn, scope, key);
  if (!stored) return std::move(stored.error());
  switch (judge_replay(*stored, request_digest)) {
    case replay_verdict::fresh:
      return std::optional<std::string>{};
    case replay_verdict::replay:
      return std::optional<std::string>{std::move((*stored)->reply_json)};
    case replay_verdict::key_conflict:
      break;
  }
  return make_error(platform_errc::idempotency_key_reused);
}

void record_reply(unit_of_work& unit, std::string_view scope, std::string_view key,
                  std::string_view request_digest, std::string_view reply_json,
                  std::int64_t now_ms) {
  SUPERAPP_ASSERT(!scope.empty() && !key.empty());
  unit.add({"INSERT INTO idempotent_replies (scope, idem_key, request_digest, reply_json,"
            " created_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, idem_key) DO NOTHING",
            {std::string{scope}, std::string{key}, std::string{request_digest},
             std::string{reply_json}, now_ms}},
           1);
}

statement purge_replies(std::int64_t before_ms) {
  return {"DELETE FROM idempotent_replies WHERE created_at_ms < $1", {before_ms}};
}

}  // namespace superapp::persistence
