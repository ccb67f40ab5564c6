// Outbox and inbox on the engine under test: same-transaction append, ordered reads, marking,
// backlog, and inbox dedup inside the effect's own transaction.
#include "persistence/outbox.hpp"

#include "persistence/db_errc.hpp"
#include "persistence/tests/test_database.hpp"
#include "persistence/writer.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::persistence;
using namespace superapp::persistence::testing;

namespace {

constexpr std::string_view topic = "superapp.banking.events";

std::vector<migration> domain_migrations() {
  auto list = item_migrations();
  list.push_back(outbox_migration(3));
  return list;
}

std::unique_ptr<connection> migrated(test_database& t) {
  auto conn = t.connect();
  auto version = apply_migrations(*conn, domain_migrations());
  REQUIRE(version);
  CHECK(*version == 3);
  return conn;
}

events::event transfer_event(const superapp::clock& c, std::string account, std::int64_t seq) {
  return events::make_event(c, "banking.transfer.completed", 1, std::move(account), seq,
                            R"({"amount_minor":100})");
}

// The state change and its event, as a domain writes them.
unit_of_work insert_with_event(std::int64_t id, const events::event& e, std::int64_t now_ms) {
  unit_of_work unit;
  unit.add({"INSERT INTO items (id, label) VALUES ($1, $2)", {id, "item-" + std::to_string(id)}},
           1);
  append_to_outbox(unit, e, topic, now_ms);
  return unit;
}

std::vector<std::int64_t> positions(const std::vector<outbox_row>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.position);
  return out;
}

}  // namespace

TEST_CASE("the outbox migration is found in a domain's list and applies on the engine") {
  CHECK(has_outbox(domain_migrations()));
  CHECK_FALSE(has_outbox(item_migrations()));
  test_database t;
  auto conn = migrated(t);
  auto backlog = read_backlog(*conn);
  REQUIRE(backlog);
  CHECK(backlog->events == 0);
  CHECK(backlog->oldest_created_at_ms == 0);
}

TEST_CASE("an event commits with its state change and disappears with it") {
  test_database t;
  auto conn = migrated(t);
  manual_clock c;
  auto first = transfer_event(c, "acct-1", 1);
  REQUIRE(commit_one(*conn, insert_with_event(1, first, 1000)));

  // The same item id again: the state change fails its constraint, so its event is not written.
  auto second = transfer_event(c, "acct-1", 2);
  auto failed = commit_one(*conn, insert_with_event(1, second, 1001));
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == db_errc::constraint_violation);

  auto rows = read_unpublished(*conn, 10);
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  CHECK(rows->at(0).topic == topic);
  CHECK(rows->at(0).aggregate_id == "acct-1");
  CHECK(rows->at(0).created_at_ms == 1000);
  auto decoded = events::decode(rows->at(0).payload);
  REQUIRE(decoded);
  CHECK(*decoded == first);
}

TEST_CASE("unpublished rows come in commit order and marked rows leave the backlog") {
  test_database t;
  auto conn = migrated(t);
  manual_clock c;
  std::vector<events::event> written;
  for (int i = 1; i <= 5; ++i) {
    written.push_back(transfer_event(c, "acct-" + std::to_string(i % 2), i));
    REQUIRE(commit_one(*conn, insert_with_event(i, written.back(), 1000 + i)));
  }
  auto backlog = read_backlog(*conn);
  REQUIRE(backlog);
  CHECK(backlog->events == 5);
  CHECK(backlog->oldest_created_at_ms == 1001);

  auto first_three = read_unpublished(*conn, 3);
  REQUIRE(first_three);
  REQUIRE(first_three->size() == 3);
  auto pos = positions(*first_three);
  CHECK(std::is_sorted(pos.begin(), pos.end()));
  for (std::size_t i = 0; i < 3; ++i) CHECK(*events::decode(first_three->at(i).payload) == written[i]);

  // Mark the 1st and 3rd (delivery reports can come back in any order across partitions).
  REQUIRE(commit_one(*conn, mark_published({pos[0], pos[2]}, 2000)));
  auto rest = read_unpublished(*conn, 10);
  REQUIRE(rest);
  REQUIRE(rest->size() == 3);
  CHECK(*events::decode(rest->at(0).payload) == written[1]);
  CHECK(*events::decode(rest->at(1).payload) == written[3]);
  backlog = read_backlog(*conn);
  REQUIRE(backlog);
  CHECK(backlog->events == 3);
  CHECK(backlog->oldest_created_at_ms == 1002);

  // Reading on after a position skips what a relay already has in flight.
  auto after = read_unpublished(*conn, 10, rest->at(0).position);
  REQUIRE(after);
  REQUIRE(after->size() == 2);
  CHECK(after->at(0).position == rest->at(1).position);

  // Retention removes published rows only.
  REQUIRE(conn->execute(purge_published(2001)));
  auto all = conn->execute({"SELECT COUNT(*) FROM event_outbox", {}});
  REQUIRE(all);
  CHECK(as_int(all->rows.at(0).at(0)) == 3);

  // A run of consecutive positions is one statement, and only the listed rows are marked.
  auto tail = positions(*rest);
  auto unit = mark_published({tail[2], tail[1]}, 3000);
  CHECK(unit.steps.size() == (tail[2] == tail[1] + 1 ? 1u : 2u));
  REQUIRE(commit_one(*conn, std::move(unit)));
  auto left = read_unpublished(*conn, 10);
  REQUIRE(left);
  REQUIRE(left->size() == 1);
  CHECK(left->at(0).position == tail[0]);
}

TEST_CASE("the recently published rows are the newest published in the window, in position order") {
  test_database t;
  auto conn = migrated(t);
  manual_clock c;
  std::vector<events::event> written;
  for (int i = 1; i <= 6; ++i) {
    written.push_back(transfer_event(c, "acct-" + std::to_string(i), 1));
    REQUIRE(commit_one(*conn, insert_with_event(i, written.back(), 1000 + i)));
  }
  auto rows = read_unpublished(*conn, 10);
  REQUIRE(rows);
  auto pos = positions(*rows);
  // 1 and 2 published long ago, 3..5 lately, 6 not yet.
  REQUIRE(commit_one(*conn, mark_published({pos[0], pos[1]}, 1'000)));
  REQUIRE(commit_one(*conn, mark_published({pos[2], pos[3], pos[4]}, 9'000)));
  auto recent = read_recently_published(*conn, 5'000, 10);
  REQUIRE(recent);
  REQUIRE(recent->size() == 3);
  CHECK(positions(*recent) == std::vector<std::int64_t>{pos[2], pos[3], pos[4]});
  CHECK(*events::decode(recent->at(0).payload) == written[2]);
  CHECK(recent->at(2).topic == topic);
  // The cap keeps the newest.
  auto capped = read_recently_published(*conn, 0, 2);
  REQUIRE(capped);
  CHECK(positions(*capped) == std::vector<std::int64_t>{pos[3], pos[4]});
  auto none = read_recently_published(*conn, 9'001, 10);
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("two events of one aggregate under the same sequence are refused") {
  test_database t;
  auto conn = migrated(t);
  manual_clock c;
  REQUIRE(commit_one(*conn, insert_with_event(1, transfer_event(c, "acct-9", 1), 1)));
  auto dup = commit_one(*conn, insert_with_event(2, transfer_event(c, "acct-9", 1), 2));
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == db_errc::constraint_violation);
  CHECK(count_items(*conn) == 1);
}

TEST_CASE("the inbox applies an event's effect once per consumer, in the effect's transaction") {
  test_database t;
  auto conn = migrated(t);
  manual_clock c;
  auto e = transfer_event(c, "acct-1", 1);
  auto effect = [&](std::string_view consumer, std::int64_t item_id) {
    unit_of_work unit;
    inbox_claim(unit, consumer, e.id, 5000);
    unit.add({"INSERT INTO items (id, label) VALUES ($1, $2)",
              {item_id, std::string{consumer} + std::to_string(item_id)}},
             1);
    return unit;
  };
  auto applied = applied_before(*conn, "rewards", e.id);
  REQUIRE(applied);
  CHECK_FALSE(*applied);

  REQUIRE(commit_one(*conn, effect("rewards", 1)));
  CHECK(count_items(*conn) == 1);

  // Redelivered (Kafka at-least-once): the claim hits nothing and the effect is not applied.
  auto again = commit_one(*conn, effect("rewards", 2));
  REQUIRE_FALSE(again);
  CHECK(again.error() == db_errc::unexpected_rows_affected);
  CHECK(count_items(*conn) == 1);
  applied = applied_before(*conn, "rewards", e.id);
  REQUIRE(applied);
  CHECK(*applied);

  // Another consumer of the same event has its own claim.
  REQUIRE(commit_one(*conn, effect("notifications", 3)));
  CHECK(count_items(*conn) == 2);

  // An effect that fails leaves no claim behind: the event can be retried.
  auto other = transfer_event(c, "acct-2", 1);
  unit_of_work failing;
  inbox_claim(failing, "rewards", other.id, 5001);
  failing.add({"INSERT INTO items (id, label) VALUES ($1, $2)", {std::int64_t{1}, std::string{"x"}}},
              1);
  REQUIRE_FALSE(commit_one(*conn, failing));
  applied = applied_before(*conn, "rewards", other.id);
  REQUIRE(applied);
  CHECK_FALSE(*applied);
}

TEST_CASE_FIXTURE(test_coordinator_fixture<>,
                  "the group-commit writer commits events with their state changes in one batch") {
  test_database t;
  auto w = spawn_writer_scheduled(sys, migrated(t));
  run();
  manual_clock c;
  std::vector<events::event> written;
  for (int i = 1; i <= 4; ++i) {
    written.push_back(transfer_event(c, "acct-1", i));
    self->request(w, caf::infinite, write_atom::value, insert_with_event(i, written.back(), i));
  }
  run();
  auto stats = request<writer_stats>(w, stats_atom::value);
  CHECK(stats.committed_units == 4);
  CHECK(stats.commits == 1);
  auto reader = t.connect(connection_role::reader);
  auto rows = read_unpublished(*reader, 10);
  REQUIRE(rows);
  REQUIRE(rows->size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(*events::decode(rows->at(i).payload) == written[i]);
  anon_send_exit(w, caf::exit_reason::user_shutdown);
  run();
}
