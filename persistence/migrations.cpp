// Applies a domain's migrations in order, one transaction each, recorded in schema_migrations.
#include "persistence/migrations.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "persistence/db_errc.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::persistence {
namespace {

caf::error create_table(connection& conn) {
  return conn.execute_script(conn.kind() == engine::sqlite
                                 ? "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                                   " applied_at TEXT NOT NULL DEFAULT (CURRENT_TIMESTAMP))"
                                 : "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                                   " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
}

caf::expected<std::map<std::int64_t, std::string>> applied(connection& conn) {
  auto rows = conn.execute({"SELECT version, name FROM schema_migrations ORDER BY version", {}});
  if (!rows) return std::move(rows.error());
  std::map<std::int64_t, std::string> out;
  for (const auto& r : rows->rows)
    out.emplace(as_int(r[0]).value_or(0), as_text(r[1]).value_or(""));
  return out;
}

// Refuses a database that has moved past or away from this build's migrations.
caf::error check_known(const std::map<std::int64_t, std::string>& done,
                       const std::map<std::int64_t, const migration*>& known) {
  for (const auto& [version, name] : done) {
    auto i = known.find(version);
    if (i == known.end()) {
      spdlog::error("schema_migrations has version {} ({}) that this build does not know", version,
                    name);
      return make_error(platform_errc::database_newer_than_code);
    }
    if (i->second->name != name) {
      spdlog::error("migration {} is '{}' in the database but '{}' in the code", version, name,
                    i->second->name);
      return make_error(db_errc::migration_mismatch);
    }
  }
  return {};
}

}  // namespace

caf::expected<std::int64_t> schema_version(connection& conn) {
  if (auto err = create_table(conn)) return err;
  auto rows = conn.execute({"SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}});
  if (!rows) return std::move(rows.error());
  return as_int(rows->rows.at(0).at(0)).value_or(0);
}

caf::expected<std::int64_t> apply_migrations(connection& conn,
                                             const std::vector<migration>& migrations) {
  std::map<std::int64_t, const migration*> known;
  for (const auto& m : migrations) {
    SUPERAPP_ASSERT(m.version > 0);
    SUPERAPP_ASSERT(known.emplace(m.version, &m).second);  // a version is declared once
  }
  if (auto err = create_table(conn)) return err;
  auto done = applied(conn);
  if (!done) return std::move(done.error());
  if (auto err = check_known(*done, known)) return err;
  std::int64_t version = done->empty() ? 0 : done->rbegin()->first;
  for (const auto& [v, m] : known) {
    if (done->count(v)) continue;
    if (auto err = conn.begin()) return err;
    // Another process may be migrating too: BEGIN IMMEDIATE (SQLite) or this table lock
    // (PostgreSQL) serialises us, and the loser sees the winner's row below and skips.
    if (conn.kind() == engine::postgres) {
      if (auto err = conn.execute_script("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")) {
        conn.rollback();
        return err;
      }
    }
    auto again = applied(conn);
    if (!again) {
      conn.rollback();
      return std::move(again.error());
    }
    if (again->count(v)) {
      conn.rollback();
      version = std::max(version, v);
      continue;
    }
    spdlog::info("applying migration {} ({})", v, m->name);
    caf::error err = conn.execute_script(m->sql_for(conn.kind()));
    if (!err) {
      auto recorded = conn.execute(
          {"INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", {v, m->name}});
      if (!recorded) err = std::move(recorded.error());
    }
    if (!err) err = conn.commit();
    if (err) {
      spdlog::error("migration {} ({}) failed", v, m->name);
      conn.rollback();
      return err;
    }
    version = v;
  }
  return version;
}

}  // namespace superapp::persistence
