// The group-commit writer against the engine under test: batching, isolation, durability.
#include "persistence/writer.hpp"

#include <atomic>
#include <caf/all.hpp>
#include <thread>

#include "persistence/db_errc.hpp"
#include "persistence/tests/test_database.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::persistence;
using namespace superapp::persistence::testing;

namespace {

std::unique_ptr<connection> migrated_writer(test_database& t) { return connect_migrated(t); }

unit_of_work insert_item(std::int64_t id, std::string label) {
  unit_of_work unit;
  unit.add({"INSERT INTO items (id, label) VALUES ($1, $2)", {id, std::move(label)}}, 1);
  return unit;
}

struct real_system_config : caf::actor_system_config {
  real_system_config() { set("scheduler.max-threads", 2); }
};

writer_stats fetch_stats(caf::scoped_actor& self, const writer_actor& w) {
  writer_stats stats;
  self->request(w, caf::infinite, stats_atom::value)
      .receive([&](writer_stats& s) { stats = s; },
               [&](caf::error& err) { FAIL("stats failed: " << caf::to_string(err)); });
  return stats;
}

// Deterministic runs: the test_coordinator delivers one message at a time.
struct stepped_writer : test_coordinator_fixture<> {
  test_database t;
  std::unique_ptr<connection> reader = t.connect(connection_role::reader);
  writer_actor w;

  explicit stepped_writer(std::size_t max_batch_units = 1000) {
    w = spawn_writer_scheduled(sys, migrated_writer(t), writer_options{max_batch_units});
    run();
  }
  ~stepped_writer() {
    anon_send_exit(w, caf::exit_reason::user_shutdown);
    run();
  }

  writer_stats stats() {
    auto stats = request<writer_stats>(w, stats_atom::value);
    return stats;
  }
};

}  // namespace

TEST_CASE_FIXTURE(stepped_writer,
                  "units queued before the flush commit together and replies wait for the commit") {
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
  for (std::int64_t id = 1; id <= 4; ++id)
    replies.push_back(self->request(caf::actor_cast<caf::actor>(w), caf::infinite,
                                    write_atom::value,
                                    insert_item(id, "item-" + std::to_string(id))));
  // Four units, then the flush the first one queued: nothing is committed or answered yet.
  for (int i = 0; i < 4; ++i) REQUIRE(sched.try_run_once());
  CHECK(self->mailbox().empty());
  CHECK(count_items(*reader) == 0);
  // The flush: one transaction, then the four replies.
  REQUIRE(sched.try_run_once());
  CHECK(count_items(*reader) == 4);
  for (auto& reply : replies)
    reply.receive([](unit_results& r) { CHECK(r.results.at(0).rows_affected == 1); },
                  [](caf::error& err) { FAIL("unexpected error " << caf::to_string(err)); });
  auto s = stats();
  CHECK(s.units == 4);
  CHECK(s.committed_units == 4);
  CHECK(s.commits == 1);
  CHECK(s.batches == 1);
  CHECK(s.fallback_batches == 0);
}

TEST_CASE_FIXTURE(stepped_writer,
                  "a failing unit is rolled back alone and the rest of its batch commits") {
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
  auto send = [&](unit_of_work unit) {
    replies.push_back(self->request(caf::actor_cast<caf::actor>(w), caf::infinite,
                                    write_atom::value, std::move(unit)));
  };
  send(insert_item(1, "first"));
  send(insert_item(2, "first"));  // violates the unique label
  unit_of_work stale_update = insert_item(3, "third");
  stale_update.add(
      {"UPDATE items SET note = $1 WHERE id = $2", {std::string{"x"}, std::int64_t{99}}},
      1);  // matches no row: the check fails and must undo the insert above too
  send(std::move(stale_update));
  send(insert_item(4, "fourth"));
  run();

  std::vector<caf::error> errors;
  for (auto& reply : replies)
    reply.receive([&](unit_results&) { errors.emplace_back(); },
                  [&](caf::error& err) { errors.push_back(err); });
  REQUIRE(errors.size() == 4);
  CHECK_FALSE(errors[0]);
  CHECK(errors[1] == db_errc::constraint_violation);
  CHECK(errors[2] == db_errc::unexpected_rows_affected);
  CHECK_FALSE(errors[3]);

  auto ids = reader->execute({"SELECT id FROM items ORDER BY id", {}});
  REQUIRE(ids);
  CHECK(ids->rows == std::vector<row>{{std::int64_t{1}}, {std::int64_t{4}}});
  auto s = stats();
  CHECK(s.commits == 1);
  CHECK(s.committed_units == 2);
  CHECK(s.failed_units == 2);
  // Both engines try the whole batch without savepoints first (PostgreSQL pipelined) and rerun
  // it under savepoints when a unit fails.
  CHECK(s.fallback_batches == 1);
}

TEST_CASE_FIXTURE(stepped_writer, "an orderly stop commits and answers the units already accepted") {
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
  for (std::int64_t id = 1; id <= 3; ++id)
    replies.push_back(self->request(caf::actor_cast<caf::actor>(w), std::chrono::seconds{5},
                                    write_atom::value,
                                    insert_item(id, "item-" + std::to_string(id))));
  // The exit lands behind the three units and ahead of the flush the first one queues.
  self->send_exit(w, caf::exit_reason::user_shutdown);
  for (int i = 0; i < 3; ++i) REQUIRE(sched.try_run_once());  // accepted, not yet flushed
  CHECK(count_items(*reader) == 0);
  run();
  CHECK(count_items(*reader) == 3);
  for (auto& reply : replies)
    reply.receive([](unit_results& r) { CHECK(r.results.at(0).rows_affected == 1); },
                  [](caf::error& err) { FAIL("unexpected error " << caf::to_string(err)); });
}

TEST_CASE_FIXTURE(stepped_writer, "the batch cap splits a long queue into several commits") {
  anon_send_exit(w, caf::exit_reason::user_shutdown);
  run();
  w = spawn_writer_scheduled(sys, t.connect(), writer_options{2});
  run();
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
  for (std::int64_t id = 1; id <= 5; ++id)
    replies.push_back(self->request(caf::actor_cast<caf::actor>(w), caf::infinite,
                                    write_atom::value, insert_item(id, std::to_string(id))));
  run();
  int ok = 0;
  for (auto& reply : replies) reply.receive([&](unit_results&) { ++ok; }, [](caf::error&) {});
  CHECK(ok == 5);
  auto s = stats();
  CHECK(s.commits == 3);
  CHECK(s.largest_batch_units == 2);
  CHECK(count_items(*reader) == 5);
}

TEST_CASE_FIXTURE(stepped_writer, "a full batch of large units commits in one transaction") {
  // 1000 units echoing 4 KiB each push megabytes both ways through one PostgreSQL pipeline,
  // more than the socket buffers hold: sending must keep reading results meanwhile.
  constexpr std::int64_t units = 1000;
  const std::string payload(4096, 'x');
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
  for (std::int64_t id = 1; id <= units; ++id) {
    auto unit = insert_item(id, std::to_string(id));
    unit.add({"SELECT $1", {payload}});
    replies.push_back(self->request(caf::actor_cast<caf::actor>(w), caf::infinite,
                                    write_atom::value, std::move(unit)));
  }
  run();
  std::int64_t echoed = 0;
  for (auto& reply : replies)
    reply.receive(
        [&](unit_results& r) {
          if (as_text(r.results.at(1).rows.at(0).at(0)) == payload) ++echoed;
        },
        [](caf::error&) {});
  CHECK(echoed == units);
  auto s = stats();
  CHECK(s.commits == 1);
  CHECK(s.largest_batch_units == units);
  CHECK(s.fallback_batches == 0);
  CHECK(count_items(*reader) == units);
}

TEST_CASE("concurrent clients get their replies after fewer commits than units") {
  test_database t;
  connection_pool readers{*t.db, 2, connection_role::reader};
  constexpr int clients = 4;
  constexpr int units_per_client = 50;
  std::atomic<int> acknowledged{0};
  std::atomic<int> visible_after_reply{0};
  writer_stats stats;
  {
    real_system_config cfg;
    caf::actor_system sys{cfg};
    auto w = spawn_writer(sys, migrated_writer(t));
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        caf::scoped_actor self{sys};
        std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> replies;
        for (int i = 0; i < units_per_client; ++i) {
          auto id = std::int64_t{c * 1000 + i};
          replies.push_back(self->request(caf::actor_cast<caf::actor>(w), caf::infinite,
                                          write_atom::value, insert_item(id, std::to_string(id))));
        }
        for (int i = 0; i < units_per_client; ++i) {
          replies[static_cast<std::size_t>(i)].receive([&](unit_results&) { ++acknowledged; },
                                                       [](caf::error&) {});
          // An acknowledged unit is committed: a reader on another connection sees it now.
          auto lease = readers.borrow();
          if (!lease) continue;
          auto r = (*lease)->execute(
              {"SELECT COUNT(*) FROM items WHERE id = $1", {std::int64_t{c * 1000 + i}}});
          if (r && as_int(r->rows.at(0).at(0)) == 1) ++visible_after_reply;
        }
      });
    for (auto& th : threads) th.join();
    caf::scoped_actor self{sys};
    stats = fetch_stats(self, w);
    self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  constexpr int total = clients * units_per_client;
  CHECK(acknowledged == total);
  CHECK(visible_after_reply == total);
  CHECK(stats.committed_units == total);
  CHECK(stats.commits >= 1);
  CHECK(stats.commits < total);
  MESSAGE(std::string{engine_name(t.cfg.engine_kind)}, ": ", total, " units in ", stats.commits,
          " commits");
}

TEST_CASE("a unit the SQLite writer acknowledged is in the file after the system is gone") {
  test_database t{engine::sqlite};
  {
    real_system_config cfg;
    caf::actor_system sys{cfg};
    auto w = spawn_writer(sys, migrated_writer(t));
    caf::scoped_actor self{sys};
    bool acknowledged = false;
    self->request(w, caf::infinite, write_atom::value, insert_item(42, "durable"))
        .receive([&](unit_results&) { acknowledged = true; },
                 [](caf::error& err) { FAIL("write failed: " << caf::to_string(err)); });
    REQUIRE(acknowledged);
    self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  t.reopen();
  auto conn = t.connect(connection_role::reader);
  auto r = conn->execute({"SELECT label FROM items WHERE id = $1", {std::int64_t{42}}});
  REQUIRE(r);
  REQUIRE(r->rows.size() == 1);
  CHECK(as_text(r->rows[0][0]) == std::string{"durable"});
}
