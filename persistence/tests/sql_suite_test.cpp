// The shared SQL suite: every case runs against the engine named by SUPERAPP_TEST_ENGINE.
#include <doctest/doctest.h>

#include <caf/message.hpp>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "persistence/db_errc.hpp"
#include "persistence/tests/test_database.hpp"
#include "protocols/error_catalogue.hpp"

using namespace superapp;
using namespace superapp::persistence;
using namespace superapp::persistence::testing;

namespace {

blob all_bytes() {
  blob b;
  for (int i = 0; i < 256; ++i) b.bytes.push_back(static_cast<std::uint8_t>(i));
  return b;
}

std::unique_ptr<connection> migrated(test_database& t) {
  auto conn = t.connect();
  auto version = apply_migrations(*conn, item_migrations());
  REQUIRE(version);
  REQUIRE(*version == 2);
  return conn;
}

}  // namespace

TEST_CASE("every value type survives an insert and a select unchanged") {
  test_database t;
  auto conn = migrated(t);
  const auto big = std::numeric_limits<std::int64_t>::max();
  const auto small = std::numeric_limits<std::int64_t>::min();
  const std::string unicode = "Grüße, 世界 \xF0\x9F\x92\xB8 with 'quotes' and \"doubles\"";
  auto ins =
      conn->execute({"INSERT INTO items (id, amount_minor, label, payload, note) "
                     "VALUES ($1, $2, $3, $4, $5)",
                     {std::int64_t{1}, big, unicode, all_bytes(), null}});
  REQUIRE(ins);
  CHECK(ins->rows_affected == 1);
  REQUIRE(
      conn->execute({"INSERT INTO items (id, amount_minor, label, payload, note) "
                     "VALUES ($1, $2, $3, $4, $5)",
                     {std::int64_t{2}, small, std::string{}, blob{}, std::string{"n"}}}));

  auto sel =
      conn->execute({"SELECT id, amount_minor, label, payload, note FROM items ORDER BY id", {}});
  REQUIRE(sel);
  CHECK(sel->columns == std::vector<std::string>{"id", "amount_minor", "label", "payload", "note"});
  REQUIRE(sel->rows.size() == 2);
  CHECK(sel->rows_affected == 2);
  CHECK(sel->rows[0] == row{std::int64_t{1}, big, unicode, all_bytes(), null});
  CHECK(sel->rows[1] == row{std::int64_t{2}, small, std::string{}, blob{}, std::string{"n"}});

  auto upd = conn->execute(
      {"UPDATE items SET note = $1 WHERE id >= $2", {std::string{"u"}, std::int64_t{1}}});
  REQUIRE(upd);
  CHECK(upd->rows_affected == 2);
  auto del = conn->execute({"DELETE FROM items WHERE id = $1", {std::int64_t{2}}});
  REQUIRE(del);
  CHECK(del->rows_affected == 1);
  CHECK(count_items(*conn) == 1);
}

TEST_CASE("placeholders bind by number, may repeat, and must all be supplied") {
  test_database t;
  auto conn = t.connect();
  auto r = conn->execute({"SELECT $2, $1, $2", {std::int64_t{7}, std::string{"b"}}});
  REQUIRE(r);
  CHECK(r->rows.at(0) == row{std::string{"b"}, std::int64_t{7}, std::string{"b"}});

  auto too_few = conn->execute({"SELECT $1, $2", {std::int64_t{1}}});
  REQUIRE_FALSE(too_few);
  CHECK(too_few.error() == db_errc::invalid_statement);
  auto too_many = conn->execute({"SELECT $1", {std::int64_t{1}, std::int64_t{2}}});
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error() == db_errc::invalid_statement);
  // The session stays usable after a rejected statement.
  CHECK(conn->execute({"SELECT 1", {}}));
}

TEST_CASE("engine failures become db errors without the engine's text") {
  test_database t;
  auto conn = migrated(t);
  statement insert{"INSERT INTO items (id, label) VALUES ($1, $2)",
                   {std::int64_t{1}, std::string{"a"}}};
  REQUIRE(conn->execute(insert));
  auto dup = conn->execute(insert);
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == db_errc::constraint_violation);
  CHECK(dup.error().category() == db_category);
  CHECK(dup.error().context().empty());
  CHECK(describe(dup.error()).wire_code == "constraint_violation");

  auto bad = conn->execute({"SELEC nonsense", {}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == db_errc::invalid_statement);
}

TEST_CASE("a group commit sends one statement again and again, whatever its values' types") {
  // PostgreSQL prepares a commit's statements once per connection, under the statement and its
  // parameters' types: a NULL or a number where text came before must still bind right.
  test_database t;
  auto conn = migrated(t);
  auto insert = [](std::int64_t id, value amount, value note) {
    unit_of_work u;
    u.add({"INSERT INTO items (id, amount_minor, note) VALUES ($1, $2, $3)",
           {id, std::move(amount), std::move(note)}},
          1);
    return u;
  };
  std::int64_t id = 0;
  for (int round = 0; round < 8; ++round) {  // past PostgreSQL's five custom plans
    auto a = insert(++id, std::int64_t{round}, std::string{"text"});
    auto b = insert(++id, null, null);
    auto c = insert(++id, std::int64_t{-round}, null);
    auto out = conn->commit_batch({&a, &b, &c});
    REQUIRE(out.units.size() == 3);
    for (const auto& u : out.units) CHECK(u);
    CHECK_FALSE(out.used_fallback);
  }
  CHECK(count_items(*conn) == 24);
  // A unit that fails (a taken id) is rolled back alone, prepared statements or not.
  auto fresh = insert(++id, std::int64_t{1}, std::string{"kept"});
  auto taken = insert(1, std::int64_t{1}, null);
  auto out = conn->commit_batch({&fresh, &taken});
  REQUIRE(out.units.size() == 2);
  CHECK(out.units[0]);
  CHECK_FALSE(out.units[1]);
  CHECK(count_items(*conn) == 25);
  auto sel = conn->execute(
      {"SELECT amount_minor, note FROM items WHERE id IN (2, 22, 25) ORDER BY id", {}});
  REQUIRE(sel);
  REQUIRE(sel->rows.size() == 3);
  CHECK(sel->rows[0] == row{null, null});
  CHECK(sel->rows[1] == row{std::int64_t{7}, std::string{"text"}});
  CHECK(sel->rows[2] == row{std::int64_t{1}, std::string{"kept"}});
}

TEST_CASE("a rollback to a savepoint keeps the work done before it") {
  test_database t;
  auto conn = migrated(t);
  REQUIRE_FALSE(conn->begin());
  REQUIRE(conn->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{1}}}));
  REQUIRE_FALSE(conn->savepoint("before_second"));
  REQUIRE(conn->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{2}}}));
  REQUIRE_FALSE(conn->rollback_to_savepoint("before_second"));
  REQUIRE_FALSE(conn->release_savepoint("before_second"));
  REQUIRE_FALSE(conn->commit());
  CHECK(count_items(*conn) == 1);

  REQUIRE_FALSE(conn->begin());
  REQUIRE(conn->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{3}}}));
  REQUIRE_FALSE(conn->rollback());
  CHECK(count_items(*conn) == 1);
}

TEST_CASE("migrations apply in order, once, and refuse a database newer than the code") {
  test_database t;
  auto conn = t.connect();
  auto migrations = item_migrations();
  auto first = apply_migrations(*conn, migrations);
  REQUIRE(first);
  CHECK(*first == 2);

  auto again = apply_migrations(*conn, migrations);
  REQUIRE(again);
  CHECK(*again == 2);
  auto recorded =
      conn->execute({"SELECT version, name FROM schema_migrations ORDER BY version", {}});
  REQUIRE(recorded);
  CHECK(recorded->rows == std::vector<row>{{std::int64_t{1}, std::string{"create_items"}},
                                           {std::int64_t{2}, std::string{"items_label_unique"}}});

  migrations.push_back({3, "items_add_owner", "ALTER TABLE items ADD COLUMN owner TEXT"});
  auto third = apply_migrations(*conn, migrations);
  REQUIRE(third);
  CHECK(*third == 3);
  CHECK(conn->execute({"SELECT owner FROM items", {}}));

  // An older build meeting this database must refuse to start.
  auto older = apply_migrations(*conn, item_migrations());
  REQUIRE_FALSE(older);
  CHECK(older.error() == platform_errc::database_newer_than_code);

  auto renamed = migrations;
  renamed[0].name = "something_else";
  auto mismatch = apply_migrations(*conn, renamed);
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error() == db_errc::migration_mismatch);
}

TEST_CASE("a failing migration leaves neither its changes nor its version behind") {
  test_database t;
  auto conn = t.connect();
  auto migrations = item_migrations();
  migrations.push_back(
      {3, "half_broken", "CREATE TABLE extra (id BIGINT PRIMARY KEY); CREATE TABLE broken (("});
  auto failed = apply_migrations(*conn, migrations);
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == db_errc::invalid_statement);
  auto version = schema_version(*conn);
  REQUIRE(version);
  CHECK(*version == 2);
  CHECK_FALSE(conn->execute({"SELECT id FROM extra", {}}));
}

TEST_CASE("each domain gets a database of its own") {
  test_database a;
  auto conn_a = migrated(a);
  REQUIRE(conn_a->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{1}}}));
  test_database b;
  auto conn_b = migrated(b);
  CHECK(count_items(*conn_b) == 0);
  if (a.cfg.engine_kind == engine::sqlite) {
    CHECK(std::filesystem::exists(a.sqlite_dir / (a.domain + ".db")));
  } else {
    // The other PostgreSQL layout: a database per domain instead of a schema.
    test_database c{engine::postgres, pg_domain_layout::database_per_domain};
    auto conn_c = migrated(c);
    auto name = conn_c->execute({"SELECT current_database()", {}});
    REQUIRE(name);
    CHECK(as_text(name->rows.at(0).at(0)) == c.domain);
  }
}

TEST_CASE("a reader is not blocked by an open write transaction and sees only committed rows") {
  test_database t;
  auto writer = migrated(t);
  connection_pool readers{*t.db, 2, connection_role::reader};
  REQUIRE_FALSE(writer->begin());
  REQUIRE(writer->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{1}}}));
  {
    auto reader = readers.borrow();
    REQUIRE(reader);
    CHECK(count_items(**reader) == 0);
  }
  REQUIRE_FALSE(writer->commit());
  auto reader = readers.borrow();
  REQUIRE(reader);
  CHECK(count_items(**reader) == 1);
  // Readers are read-only: a write through one is refused.
  CHECK_FALSE((*reader)->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{2}}}));
}

TEST_CASE("the reader pool hands each connection to one thread at a time") {
  test_database t;
  migrated(t);
  constexpr std::size_t pool_size = 3;
  constexpr int threads = 6;
  constexpr int borrows_per_thread = 40;
  connection_pool pool{*t.db, pool_size, connection_role::reader};
  std::mutex in_use_mutex;
  std::set<connection*> in_use;
  std::atomic<int> successes{0};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w)
    workers.emplace_back([&, w] {
      for (int i = 0; i < borrows_per_thread; ++i) {
        auto lease = pool.borrow();
        if (!lease) continue;
        connection* c = &**lease;
        {
          std::lock_guard<std::mutex> guard{in_use_mutex};
          if (!in_use.insert(c).second) ++overlaps;
        }
        auto tag = std::int64_t{w * 1000 + i};
        auto r = (*lease)->execute({"SELECT $1", {tag}});
        if (r && as_int(r->rows.at(0).at(0)) == tag) ++successes;
        std::lock_guard<std::mutex> guard{in_use_mutex};
        in_use.erase(c);
      }
    });
  for (auto& w : workers) w.join();
  CHECK(overlaps == 0);
  CHECK(successes == threads * borrows_per_thread);
  CHECK(pool.idle() == pool_size);

  std::vector<connection_pool::lease> all;
  for (std::size_t i = 0; i < pool_size; ++i) {
    auto lease = pool.borrow();
    REQUIRE(lease);
    all.push_back(std::move(*lease));
  }
  auto none = pool.borrow(std::chrono::milliseconds{20});
  REQUIRE_FALSE(none);
  CHECK(none.error() == db_errc::pool_exhausted);
}
