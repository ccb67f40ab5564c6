// Versioned schema migrations per domain, applied at start-up, refusing a newer database.
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/connection.hpp"

namespace superapp::persistence {

struct migration {
  std::int64_t version;  // strictly increasing, never reused
  std::string name;      // recorded; a different name under an applied version is refused
  std::string sql;       // runs on both engines unless overridden below
  std::optional<std::string> sqlite_sql = {};    // replaces sql on SQLite
  std::optional<std::string> postgres_sql = {};  // replaces sql on PostgreSQL

  const std::string& sql_for(engine e) const {
    if (e == engine::sqlite && sqlite_sql) return *sqlite_sql;
    if (e == engine::postgres && postgres_sql) return *postgres_sql;
    return sql;
  }
};

// Brings the database up to the newest migration, each in its own transaction with its row in
// schema_migrations. Returns the schema version afterwards. Fails with
// platform_errc::database_newer_than_code when the database holds a version `migrations` lacks,
// and with db_errc::migration_mismatch when an applied version's name differs.
caf::expected<std::int64_t> apply_migrations(connection& conn,
                                             const std::vector<migration>& migrations);

// The highest applied version, 0 for a fresh database.
caf::expected<std::int64_t> schema_version(connection& conn);

}  // namespace superapp::persistence
