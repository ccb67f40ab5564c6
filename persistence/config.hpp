// How a node's domains reach their databases: engine choice and limits, read from node config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace superapp::persistence {

enum class engine { sqlite, postgres };

// PostgreSQL isolates domains either as schemas of one database or as databases of one server.
enum class pg_domain_layout { schema_per_domain, database_per_domain };

struct database_config {
  engine engine_kind = engine::sqlite;

  // SQLite: one file per domain, `<sqlite_directory>/<domain>.db` unless sqlite_file is set.
  std::string sqlite_directory = "./data";
  std::string sqlite_file;
  // SQLite: other files attached to every connection, as (schema name, path): a table of
  // theirs is reached by its bare name where the connection's own file has none of that name.
  // Each is put in WAL mode and, on the writer, given the same cache and mapping as the main
  // file. A domain's companion files (supervisors/domain.hpp) come here.
  std::vector<std::pair<std::string, std::string>> sqlite_attach;

  // PostgreSQL: libpq conninfo of the server (and, for schema_per_domain, the database).
  std::string pg_conninfo;
  pg_domain_layout pg_layout = pg_domain_layout::schema_per_domain;

  std::size_t reader_connections = 2;
  std::int64_t busy_timeout_ms = 5000;         // SQLite lock wait; PostgreSQL lock_timeout
  std::int64_t pool_borrow_timeout_ms = 5000;  // how long a reader waits for a free connection
  std::size_t max_batch_units = 1000;          // group-commit cap per transaction
  std::size_t statement_cache_entries = 256;   // SQLite prepared statements kept per connection
};

}  // namespace superapp::persistence
