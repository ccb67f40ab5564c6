// Test support: a fresh, uniquely named database on the engine this test run targets.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"

namespace superapp::persistence::testing {

// SUPERAPP_TEST_ENGINE=postgres (set by ctest for the PostgreSQL run) or sqlite (default).
inline engine engine_under_test() {
  const char* name = std::getenv("SUPERAPP_TEST_ENGINE");
  return name != nullptr && std::string{name} == "postgres" ? engine::postgres : engine::sqlite;
}

inline const char* engine_name(engine e) { return e == engine::sqlite ? "sqlite" : "postgres"; }

// The PostgreSQL run must fail, not skip, when the fixture's server is missing.
inline std::string pg_conninfo() {
  const char* path = std::getenv("SUPERAPP_PG_CONNINFO_FILE");
  REQUIRE_MESSAGE(path != nullptr, "SUPERAPP_PG_CONNINFO_FILE is not set; run via ctest");
  std::ifstream in{path};
  REQUIRE_MESSAGE(in.good(), "cannot read the conninfo file written by scripts/pg-test-server");
  std::string line;
  std::getline(in, line);
  REQUIRE_MESSAGE(!line.empty(), "the conninfo file is empty");
  return line;
}

inline std::string unique_domain() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

// Owns a test database and removes what it created (SQLite files; PostgreSQL schemas go away
// with the throwaway server).
struct test_database {
  database_config cfg;
  std::string domain;
  std::filesystem::path sqlite_dir;
  std::unique_ptr<database> db;

  explicit test_database(engine e = engine_under_test(),
                         pg_domain_layout layout = pg_domain_layout::schema_per_domain) {
    domain = unique_domain();
    cfg.engine_kind = e;
    cfg.busy_timeout_ms = 2000;
    cfg.pool_borrow_timeout_ms = 5000;
    cfg.reader_connections = 3;
    if (e == engine::sqlite) {
      sqlite_dir = std::filesystem::temp_directory_path() / ("superapp-persistence-" + domain);
      cfg.sqlite_directory = sqlite_dir.string();
    } else {
      cfg.pg_conninfo = pg_conninfo();
      cfg.pg_layout = layout;
    }
    reopen();
  }

  void reopen() {
    db.reset();
    auto opened = open_database(cfg, domain);
    REQUIRE_MESSAGE(opened, "open_database failed for engine ", engine_name(cfg.engine_kind));
    db = std::move(*opened);
  }

  std::unique_ptr<connection> connect(connection_role role = connection_role::writer) {
    auto conn = db->connect(role);
    REQUIRE(conn);
    return std::move(*conn);
  }

  ~test_database() {
    db.reset();
    if (!sqlite_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(sqlite_dir, ec);
    }
  }
};

// The table most tests use; BYTEA on PostgreSQL shows the per-engine override at work.
inline std::vector<migration> item_migrations() {
  return {
      {1, "create_items",
       "CREATE TABLE items (id BIGINT PRIMARY KEY, amount_minor BIGINT, label TEXT, "
       "payload BLOB, note TEXT)",
       std::nullopt,
       "CREATE TABLE items (id BIGINT PRIMARY KEY, amount_minor BIGINT, label TEXT, "
       "payload BYTEA, note TEXT)"},
      {2, "items_label_unique", "CREATE UNIQUE INDEX items_label ON items (label)"},
  };
}

// A connection to `t` with the items migrations and then `extra` applied.
inline std::unique_ptr<connection> connect_migrated(test_database& t,
                                                    std::vector<migration> extra = {}) {
  auto conn = t.connect();
  auto list = item_migrations();
  for (auto& m : extra) list.push_back(std::move(m));
  REQUIRE(apply_migrations(*conn, list));
  return conn;
}

// Commits one unit in its own transaction, as the writer would.
inline caf::expected<std::vector<result>> commit_one(connection& conn, const unit_of_work& unit) {
  auto outcome = conn.commit_batch({&unit});
  REQUIRE(outcome.units.size() == 1);
  return std::move(outcome.units[0]);
}

inline std::int64_t count_items(connection& conn) {
  auto r = conn.execute({"SELECT COUNT(*) FROM items", {}});
  REQUIRE(r);
  return as_int(r->rows.at(0).at(0)).value_or(-1);
}

}  // namespace superapp::persistence::testing
