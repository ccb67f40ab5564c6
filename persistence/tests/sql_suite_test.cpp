// The shared SQL suite: every case runs against the engine named by SUPERAPP_TEST_ENGINE.
#include <doctest/doctest.h>

#include <caf/message.hpp>
#include <chrono>
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

TEST_CASE(
    "sqlite: an attached file's tables answer to their bare names, and its writer does not "
    "hold up the main file's") {
  test_database t;
  if (t.cfg.engine_kind != engine::sqlite) return;  // PostgreSQL attaches nothing
  // The companion file: a table of its own, made by its own connection.
  auto side_cfg = t.cfg;
  side_cfg.sqlite_file = sqlite_companion_path(t.cfg, t.domain, "side");
  CHECK(side_cfg.sqlite_file == (t.sqlite_dir / (t.domain + "-side.db")).string());
  auto side = open_database(side_cfg, t.domain);
  REQUIRE(side);
  auto side_writer = (*side)->connect(connection_role::writer);
  REQUIRE(side_writer);
  REQUIRE_FALSE((*side_writer)->execute_script("CREATE TABLE notes (id BIGINT PRIMARY KEY)"));
  // The domain's file with it attached.
  t.cfg.sqlite_attach.emplace_back("side", side_cfg.sqlite_file);
  t.reopen();
  auto writer = migrated(t);
  REQUIRE(writer->execute({"INSERT INTO notes (id) VALUES ($1)", {std::int64_t{7}}}));
  auto reader = t.connect(connection_role::reader);
  auto notes = reader->execute({"SELECT COUNT(*) FROM notes", {}});
  REQUIRE(notes);
  CHECK(as_int(notes->rows.at(0).at(0)) == 1);
  // The companion's writer holds its file's lock; a transaction of the domain's writer that
  // writes only the main file begins and commits meanwhile (BEGIN IMMEDIATE would have waited
  // for every attached file's lock, and failed after busy_timeout).
  REQUIRE_FALSE((*side_writer)->begin());
  REQUIRE((*side_writer)->execute({"INSERT INTO notes (id) VALUES ($1)", {std::int64_t{8}}}));
  const auto started = std::chrono::steady_clock::now();
  REQUIRE_FALSE(writer->begin());
  REQUIRE(writer->execute({"INSERT INTO items (id) VALUES ($1)", {std::int64_t{1}}}));
  REQUIRE_FALSE(writer->commit());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds{1000});
  CHECK(count_items(*reader) == 1);
  REQUIRE_FALSE((*side_writer)->commit());
  notes = reader->execute({"SELECT COUNT(*) FROM notes", {}});
  REQUIRE(notes);
  CHECK(as_int(notes->rows.at(0).at(0)) == 2);
  // A name that is not an identifier is refused when the database opens.
  auto bad = t.cfg;
  bad.sqlite_attach.emplace_back("x; DROP TABLE items", side_cfg.sqlite_file);
  CHECK_FALSE(open_database(bad, t.domain));
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

namespace {

// `n` rows for `items` from id `first`: every value type, and text that COPY's format must
// escape (tab, newline, carriage return, backslash, a literal \N, quotes, non-ASCII).
row_set item_rows(std::int64_t first, std::size_t n) {
  row_set rows{"items", {"id", "amount_minor", "label", "payload", "note"}, {}};
  const std::string awkward[] = {"tab\there", "line\nbreak\r\n", "back\\slash \\N",
                                 "Grüße 世界 \xF0\x9F\x92\xB8 'q' \"d\"", ""};
  for (std::size_t i = 0; i < n; ++i) {
    const auto id = first + static_cast<std::int64_t>(i);
    value amount = i % 3 == 0   ? value{std::numeric_limits<std::int64_t>::min() + id}
                   : i % 3 == 1 ? value{std::numeric_limits<std::int64_t>::max() - id}
                                : value{null};
    value payload = i % 2 == 0 ? value{all_bytes()} : value{blob{}};
    rows.values.insert(rows.values.end(),
                       {id, amount, awkward[i % 5] + "#" + std::to_string(id), payload,
                        i % 4 == 0 ? value{null} : value{awkward[(i + 2) % 5]}});
  }
  return rows;
}

// What `items` holds with ids from `first` to `last`, as cells in a row set's order.
std::vector<value> stored_items(connection& conn, std::int64_t first, std::int64_t last) {
  auto sel =
      conn.execute({"SELECT id, amount_minor, label, payload, note FROM items"
                    " WHERE id >= $1 AND id <= $2 ORDER BY id",
                    {first, last}});
  REQUIRE(sel);
  std::vector<value> out;
  for (auto& r : sel->rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

}  // namespace

TEST_CASE("a row set goes in whole with every value unchanged, small or large") {
  // PostgreSQL loads 100 rows or more with COPY and fewer as INSERTs; SQLite always INSERTs.
  test_database t;
  auto conn = migrated(t);
  for (std::size_t n : {1u, 7u, 99u, 100u, 613u}) {
    CAPTURE(n);
    const std::int64_t first = static_cast<std::int64_t>(n) * 1000;
    auto rows = item_rows(first, n);
    auto r = conn->insert_rows(rows);
    REQUIRE(r);
    CHECK(r->rows_affected == static_cast<std::int64_t>(n));
    CHECK(stored_items(*conn, first, first + 999) == rows.values);
  }
}

TEST_CASE("a row set in a group commit lands in order with the statements around it") {
  test_database t;
  auto conn = migrated(t);
  // Statements before and after each set, in two units of one transaction: the UPDATE after
  // a set must see its rows, and the second unit the first one's.
  unit_of_work a, b;
  a.add({"INSERT INTO items (id, label) VALUES ($1, $2)", {std::int64_t{1}, std::string{"one"}}},
        1);
  a.add_rows(item_rows(100, 250));
  a.add({"UPDATE items SET note = $1 WHERE id >= 100", {std::string{"a"}}}, 250);
  b.add_rows(item_rows(1000, 5));
  b.add_rows(item_rows(2000, 300));
  b.add({"UPDATE items SET note = $1 WHERE id >= 100", {std::string{"b"}}}, 555);
  b.add_rows(row_set{"items", {"id"}, {}});  // an empty set adds no step
  CHECK(b.steps.size() == 3);
  auto out = conn->commit_batch({&a, &b});
  REQUIRE(out.units.size() == 2);
  REQUIRE(out.units[0]);
  REQUIRE(out.units[1]);
  CHECK(out.commits == 1);
  CHECK_FALSE(out.used_fallback);
  CHECK((*out.units[0])[1].rows_affected == 250);
  CHECK((*out.units[1])[1].rows_affected == 300);
  CHECK(count_items(*conn) == 556);
  auto notes = conn->execute({"SELECT COUNT(*) FROM items WHERE note = 'b'", {}});
  REQUIRE(notes);
  CHECK(int_at(notes->rows.at(0), 0) == 555);
  // A second batch of the same shapes on the same connection (prepared statements reused).
  unit_of_work c;
  c.add_rows(item_rows(5000, 120));
  c.add_rows(item_rows(6000, 3));
  auto again = conn->commit_batch({&c});
  REQUIRE(again.units.size() == 1);
  CHECK(again.units[0]);
  CHECK(count_items(*conn) == 679);
}

TEST_CASE("a row set that breaks a constraint fails its own unit and loses no other") {
  test_database t;
  auto conn = migrated(t);
  REQUIRE(conn->execute({"INSERT INTO items (id, label) VALUES (7777, 'taken')", {}}));
  for (std::size_t n : {5u, 300u}) {
    CAPTURE(n);
    const std::int64_t first = static_cast<std::int64_t>(n) * 10'000;
    unit_of_work before, bad, after;
    before.add_rows(item_rows(first, n));
    auto clash = item_rows(first + 5000, n);
    clash.values[clash.columns.size() * (n - 1)] = std::int64_t{7777};  // the last row's id
    bad.add({"INSERT INTO items (id) VALUES ($1)", {first + 9000}}, 1);
    bad.add_rows(std::move(clash));
    after.add_rows(item_rows(first + 8000, n));
    auto out = conn->commit_batch({&before, &bad, &after});
    REQUIRE(out.units.size() == 3);
    CHECK(out.units[0]);
    REQUIRE_FALSE(out.units[1]);
    CHECK(out.units[1].error() == db_errc::constraint_violation);
    CHECK(out.units[2]);
    CHECK(out.used_fallback);
    CHECK(stored_items(*conn, first, first + 9999).size() == 2 * n * 5);  // nothing of `bad`
  }
  CHECK(conn->execute({"SELECT 1", {}}));
}

TEST_CASE("a malformed row set is refused before it reaches the database") {
  test_database t;
  auto conn = migrated(t);
  for (const auto& rows :
       {row_set{"items; DROP TABLE items", {"id"}, {std::int64_t{1}}},
        row_set{"items", {"id", "label"}, {std::int64_t{1}, std::string{"a"}, std::int64_t{2}}},
        row_set{"items", {"Id"}, {std::int64_t{1}}}}) {
    auto r = conn->insert_rows(rows);
    REQUIRE_FALSE(r);
    CHECK(r.error() == db_errc::invalid_statement);
  }
  unit_of_work u;
  u.steps.push_back({statement{}, 1, row_set{"items", {"id", "x y"}, {std::int64_t{1}, null}}});
  auto out = conn->commit_batch({&u});
  REQUIRE(out.units.size() == 1);
  REQUIRE_FALSE(out.units[0]);
  CHECK(out.units[0].error() == db_errc::invalid_statement);
  CHECK(count_items(*conn) == 0);
}

TEST_CASE("multi-row INSERTs come in a few shapes, each text its table's and columns' own") {
  // The texts are kept per thread and shape (a commit's row sets reuse them): asking again, or
  // for another table or other columns with the same shapes, must give each its own text.
  auto texts = [](const row_set& rows) {
    auto chunks = multi_row_insert_chunks(rows);
    REQUIRE(chunks);
    std::vector<std::pair<std::string, std::size_t>> out;
    for (const auto& c : *chunks) out.emplace_back(c.sql, c.rows);
    return out;
  };
  row_set items{"items", {"id", "label"}, std::vector<value>(2 * 261, std::int64_t{1})};
  auto first = texts(items);
  REQUIRE(first.size() == 3);  // 256 + 4 + 1 rows
  CHECK(first[0].second == 256);
  CHECK(first[1].second == 4);
  CHECK(first[2].second == 1);
  CHECK(first[2].first == "INSERT INTO items (id, label) VALUES ($1, $2)");
  CHECK(first[1].first ==
        "INSERT INTO items (id, label) VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)");
  CHECK(first[0].first.ends_with("($509, $510), ($511, $512)"));
  CHECK(texts(items) == first);
  row_set other{"items", {"id"}, std::vector<value>(261, std::int64_t{1})};
  auto second = texts(other);
  REQUIRE(second.size() == 3);
  CHECK(second[2].first == "INSERT INTO items (id) VALUES ($1)");
  CHECK(second[1].first == "INSERT INTO items (id) VALUES ($1), ($2), ($3), ($4)");
  row_set elsewhere{"notes", {"id", "label"}, std::vector<value>(2, std::int64_t{1})};
  CHECK(texts(elsewhere)[0].first == "INSERT INTO notes (id, label) VALUES ($1, $2)");
}
