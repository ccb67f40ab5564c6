// Transactional outbox and inbox: events written in the state change's own transaction, and
// consumers' "already applied?" checked in the effect's own transaction.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "persistence/value.hpp"
#include "protocols/events/event.hpp"

namespace superapp::persistence {

// The tables event_outbox and event_inbox, as one migration the domain puts in its list under
// a version of its choosing (versions are never reused, so pick one and keep it).
inline constexpr std::string_view outbox_migration_name = "event_outbox_and_inbox";
migration outbox_migration(std::int64_t version);

// True when `migrations` holds the outbox migration: the node then runs an outbox relay.
bool has_outbox(const std::vector<migration>& migrations);

// Adds the outbox insert of `e` (encoded) for `topic` to `unit`. Put it in the same unit as the
// state change it records: the group-commit writer commits both or neither. Two events of one
// aggregate with the same sequence fail the unit (constraint_violation): a domain bug.
void append_to_outbox(unit_of_work& unit, const events::event& e, std::string_view topic,
                      std::int64_t now_ms);

// A committed outbox row. `position` orders rows in commit order: one writer per database
// commits them, so positions are assigned in the order transactions commit.
struct outbox_row {
  std::int64_t position = 0;
  std::string topic;
  std::string aggregate_id;
  std::vector<std::uint8_t> payload;  // events::encode() of the event
  std::int64_t created_at_ms = 0;
};

// The oldest `limit` committed rows not yet marked published, by position, after
// `after_position` (a relay with batches in flight reads on from the last row it sent).
caf::expected<std::vector<outbox_row>> read_unpublished(connection& conn, std::size_t limit,
                                                        std::int64_t after_position = 0);

// The newest `limit` rows published at or after `since_ms`, in position order: what a relay
// publishes again when the bus it publishes to is new (ADR 0019).
caf::expected<std::vector<outbox_row>> read_recently_published(connection& conn,
                                                               std::int64_t since_ms,
                                                               std::size_t limit);

// Marks these rows published (one UPDATE per run of consecutive positions; the relay submits
// it as one unit).
unit_of_work mark_published(const std::vector<std::int64_t>& positions, std::int64_t now_ms);

struct outbox_backlog {
  std::int64_t events = 0;             // committed, not yet published
  std::int64_t oldest_created_at_ms = 0;  // 0 when there are none
};
caf::expected<outbox_backlog> read_backlog(connection& conn);

// Deletes published rows older than `before_ms` (retention; the relay calls it now and then).
statement purge_published(std::int64_t before_ms);

// Inbox. A consumer's unit starts with inbox_claim: it inserts (consumer, event id) and
// expects one row; for an event already applied the insert hits nothing, so the whole unit —
// the effect included — fails with db_errc::unexpected_rows_affected and nothing is applied
// twice. applied_before() then tells a duplicate from a failure of the effect's own checks.
statement inbox_claim_statement(std::string_view consumer, const events::event_id& id,
                                std::int64_t now_ms);
void inbox_claim(unit_of_work& unit, std::string_view consumer, const events::event_id& id,
                 std::int64_t now_ms);
caf::expected<bool> applied_before(connection& conn, std::string_view consumer,
                                   const events::event_id& id);

}  // namespace superapp::persistence
