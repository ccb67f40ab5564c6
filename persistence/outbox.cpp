// The outbox and inbox tables and the statements domains, relays and consumers run on them.
#include "persistence/outbox.hpp"

#include <algorithm>

#include "protocols/assert.hpp"

namespace superapp::persistence {

migration outbox_migration(std::int64_t version) {
  // position orders the relay's reads; the partial index keeps finding unpublished rows cheap
  // however many published ones are kept. (aggregate_id, aggregate_sequence) unique catches a
  // domain that emits two events under one sequence number.
  const std::string tail =
      " event_id TEXT NOT NULL UNIQUE,"
      " topic TEXT NOT NULL,"
      " event_type TEXT NOT NULL,"
      " aggregate_id TEXT NOT NULL,"
      " aggregate_sequence BIGINT NOT NULL,"
      " payload {BLOB} NOT NULL,"
      " created_at_ms BIGINT NOT NULL,"
      " published_at_ms BIGINT,"
      " UNIQUE (aggregate_id, aggregate_sequence));"
      "CREATE INDEX event_outbox_unpublished ON event_outbox (position)"
      " WHERE published_at_ms IS NULL;"
      "CREATE TABLE event_inbox ("
      " consumer TEXT NOT NULL,"
      " event_id TEXT NOT NULL,"
      " applied_at_ms BIGINT NOT NULL,"
      " PRIMARY KEY (consumer, event_id))";
  auto with_blob = [&](std::string head, std::string blob_type) {
    auto sql = head + tail;
    sql.replace(sql.find("{BLOB}"), 6, blob_type);
    return sql;
  };
  auto sqlite = with_blob("CREATE TABLE event_outbox (position INTEGER PRIMARY KEY AUTOINCREMENT,",
                          "BLOB");
  auto postgres = with_blob(
      "CREATE TABLE event_outbox (position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
      "BYTEA");
  return migration{version, std::string{outbox_migration_name}, sqlite, sqlite, postgres};
}

bool has_outbox(const std::vector<migration>& migrations) {
  for (const auto& m : migrations)
    if (m.name == outbox_migration_name) return true;
  return false;
}

void append_to_outbox(unit_of_work& unit, const events::event& e, std::string_view topic,
                      std::int64_t now_ms) {
  SUPERAPP_ASSERT(!topic.empty());
  auto bytes = events::encode(e);  // asserts the event is valid
  unit.add({"INSERT INTO event_outbox (event_id, topic, event_type, aggregate_id,"
            " aggregate_sequence, payload, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            {events::to_string(e.id), std::string{topic}, e.type, e.aggregate_id, e.sequence,
             blob{std::move(bytes)}, now_ms}},
           1);
}

namespace {

caf::expected<std::vector<outbox_row>> rows_of(caf::expected<result> r) {
  if (!r) return std::move(r.error());
  std::vector<outbox_row> rows;
  rows.reserve(r->rows.size());
  for (auto& cells : r->rows) {
    outbox_row row;
    row.position = as_int(cells.at(0)).value_or(0);
    row.topic = as_text(cells.at(1)).value_or("");
    row.aggregate_id = as_text(cells.at(2)).value_or("");
    if (auto* b = std::get_if<blob>(&cells.at(3))) row.payload = std::move(b->bytes);
    row.created_at_ms = as_int(cells.at(4)).value_or(0);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

caf::expected<std::vector<outbox_row>> read_unpublished(connection& conn, std::size_t limit,
                                                        std::int64_t after_position) {
  SUPERAPP_ASSERT(limit > 0);
  return rows_of(
      conn.execute({"SELECT position, topic, aggregate_id, payload, created_at_ms"
                    " FROM event_outbox WHERE published_at_ms IS NULL AND position > $2"
                    " ORDER BY position LIMIT $1",
                    {static_cast<std::int64_t>(limit), after_position}}));
}

caf::expected<std::vector<outbox_row>> read_recently_published(connection& conn,
                                                               std::int64_t since_ms,
                                                               std::size_t limit) {
  SUPERAPP_ASSERT(limit > 0);
  // Newest first to take the last `limit`, then back into position order. Runs once per bus
  // start: the scan of the retained rows (24 h by default) needs no index of its own.
  return rows_of(conn.execute(
      {"SELECT position, topic, aggregate_id, payload, created_at_ms FROM"
       " (SELECT position, topic, aggregate_id, payload, created_at_ms FROM event_outbox"
       "  WHERE published_at_ms IS NOT NULL AND published_at_ms >= $1"
       "  ORDER BY position DESC LIMIT $2) AS recent"
       " ORDER BY position",
       {since_ms, static_cast<std::int64_t>(limit)}}));
}

unit_of_work mark_published(const std::vector<std::int64_t>& positions, std::int64_t now_ms) {
  // One UPDATE per run of consecutive positions: a relay's batch is usually one run, and a
  // statement per row made marking cost as much as writing the events.
  auto sorted = positions;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  unit_of_work unit;
  for (std::size_t i = 0; i < sorted.size();) {
    auto j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    unit.add({"UPDATE event_outbox SET published_at_ms = $1"
              " WHERE position BETWEEN $2 AND $3 AND published_at_ms IS NULL",
              {now_ms, sorted[i], sorted[j]}});
    i = j + 1;
  }
  return unit;
}

caf::expected<outbox_backlog> read_backlog(connection& conn) {
  auto r = conn.execute({"SELECT COUNT(*), COALESCE(MIN(created_at_ms), 0) FROM event_outbox"
                         " WHERE published_at_ms IS NULL",
                         {}});
  if (!r) return std::move(r.error());
  outbox_backlog out;
  out.events = as_int(r->rows.at(0).at(0)).value_or(0);
  out.oldest_created_at_ms = as_int(r->rows.at(0).at(1)).value_or(0);
  return out;
}

statement purge_published(std::int64_t before_ms) {
  return {"DELETE FROM event_outbox WHERE published_at_ms IS NOT NULL AND published_at_ms < $1",
          {before_ms}};
}

statement inbox_claim_statement(std::string_view consumer, const events::event_id& id,
                                std::int64_t now_ms) {
  SUPERAPP_ASSERT(!consumer.empty());
  return {"INSERT INTO event_inbox (consumer, event_id, applied_at_ms) VALUES ($1, $2, $3)"
          " ON CONFLICT (consumer, event_id) DO NOTHING",
          {std::string{consumer}, events::to_string(id), now_ms}};
}

void inbox_claim(unit_of_work& unit, std::string_view consumer, const events::event_id& id,
                 std::int64_t now_ms) {
  unit.add(inbox_claim_statement(consumer, id, now_ms), 1);
}

caf::expected<bool> applied_before(connection& conn, std::string_view consumer,
                                   const events::event_id& id) {
  auto r = conn.execute({"SELECT 1 FROM event_inbox WHERE consumer = $1 AND event_id = $2",
                         {std::string{consumer}, events::to_string(id)}});
  if (!r) return std::move(r.error());
  return !r->rows.empty();
}

}  // namespace superapp::persistence
