// Idempotent replies: a client that retries a write with the same idempotency key gets the
// first answer back, not a second effect. The reply is recorded in the effect's own unit of
// work, so "done" and "remembered" commit together or not at all.
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "persistence/value.hpp"

namespace superapp::persistence {

// The table idempotent_replies, as one migration the domain puts in its list under a version
// of its choosing.
inline constexpr std::string_view idempotency_migration_name = "idempotent_replies";
migration idempotency_migration(std::int64_t version);

// A key is remembered per scope: the caller and the op ("<user>|identity.authorise"), so two
// users (or two ops) never collide on a key.
std::string idempotency_scope(std::string_view caller, std::string_view op);

struct stored_reply {
  std::string request_digest;  // what the first request was (a digest of its body)
  std::string reply_json;
};

caf::expected<std::optional<stored_reply>> find_reply(connection& conn, std::string_view scope,
                                                      std::string_view key);

// What a retried request should get, given what is stored under its key.
enum class replay_verdict {
  fresh,        // nothing stored: do the work
  replay,       // the same request again: answer the stored reply
  key_conflict  // the key was used for a different request: refuse (idempotency_key_reused)
};
replay_verdict judge_replay(const std::optional<stored_reply>& stored,
                            std::string_view request_digest);

// find_reply and judge_replay in one: the stored reply to answer again (replay), nothing
// (fresh: do the work), or platform `idempotency_key_reused`; database errors as they come.
caf::expected<std::optional<std::string>> replayed_reply(connection& conn, std::string_view scope,
                                                         std::string_view key,
                                                         std::string_view request_digest);

// Adds the insert of the reply to `unit` (expects one row: a second writer of the same key
// fails the whole unit, effect included).
void record_reply(unit_of_work& unit, std::string_view scope, std::string_view key,
                  std::string_view request_digest, std::string_view reply_json,
                  std::int64_t now_ms);

// Deletes replies older than `before_ms` (a retry after that is a new request; keep this longer
// than any client retries: a day by default in the domains).
statement purge_replies(std::int64_t before_ms);

}  // namespace superapp::persistence
