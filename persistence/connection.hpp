// The persistence interface: a connection, a database that opens them, a reader pool, the factory.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/config.hpp"
#include "persistence/value.hpp"

namespace superapp::persistence {

// The outcome of one group-commit batch: one entry per unit, in order.
struct batch_outcome {
  std::vector<caf::expected<std::vector<result>>> units;
  std::int64_t commits = 0;    // 1 when the transaction committed, else 0
  bool used_fallback = false;  // the fast path failed and units ran one by one
};

// One session with the database. Not thread-safe: one thread uses it at a time (the writer
// actor owns one; readers borrow one from a connection_pool).
class connection {
 public:
  virtual ~connection() = default;

  virtual engine kind() const = 0;

  // Runs one statement (no trailing second statement); binds params to $1..$N.
  virtual caf::expected<result> execute(const statement& stmt) = 0;

  // Inserts every row of `rows`; the result's rows_affected counts them. The portable way is
  // multi_row_inserts below; PostgreSQL loads a large set with COPY (ADR 0023). A malformed set
  // (a name that is no identifier, a cell count that is no multiple of the columns) is
  // db_errc::invalid_statement.
  virtual caf::expected<result> insert_rows(const row_set& rows);

  // Runs several ;-separated statements without parameters (migrations, DDL).
  virtual caf::error execute_script(std::string_view sql) = 0;

  // SQLite begins IMMEDIATE: this connection intends to write, so it takes the lock up front
  // rather than failing with busy halfway through.
  virtual caf::error begin() = 0;
  virtual caf::error commit() = 0;
  virtual caf::error rollback() = 0;

  // Names must be SQL identifiers ([a-z_][a-z0-9_]*).
  caf::error savepoint(std::string_view name);
  caf::error release_savepoint(std::string_view name);
  caf::error rollback_to_savepoint(std::string_view name);

  // False once the session is known to be broken (the pool then reopens it).
  virtual bool healthy() const = 0;

  // Commits every unit in one transaction; a failing unit is rolled back to its savepoint and
  // reported, the others still commit. Engines may override with a faster path.
  virtual batch_outcome commit_batch(const std::vector<const unit_of_work*>& units);
};

// Runs `units` in one transaction, each inside its own SAVEPOINT. The portable group commit.
batch_outcome commit_batch_with_savepoints(connection& conn,
                                           const std::vector<const unit_of_work*>& units);

// The same outcome as commit_batch_with_savepoints, but first tried without savepoints: one
// transaction over every unit, and only when a unit fails is it rolled back and the batch run
// again unit by unit under savepoints. Units rarely fail, and savepoints cost three statements
// a unit (the SQLite engine's group commit).
batch_outcome commit_batch_optimistic(connection& conn, const std::vector<const unit_of_work*>& units);

// invalid_statement (and a log line) unless `rows` is well formed: its table and columns are
// identifiers, it has 1 to 127 columns, and its cell count is a multiple of them.
caf::error check_row_set(const row_set& rows);

// `rows` as multi-row INSERT statements of 256, 64, 16, 4 or 1 rows: a few fixed shapes, so the
// engines' statement caches hold every one a set can take (with any row count allowed, SQLite
// prepared a new statement for nearly every batch), and 256 rows of at most 127 columns stay
// below both engines' parameter limits. The values move into the statements. invalid_statement
// for a malformed set.
caf::expected<std::vector<statement>> multi_row_inserts(row_set rows);

// The same statements without their values: each one's SQL and how many of the set's rows, in
// order, it takes (for an engine that binds them from the set itself).
struct insert_chunk {
  std::string sql;
  std::size_t rows = 0;
};
caf::expected<std::vector<insert_chunk>> multi_row_insert_chunks(const row_set& rows);

// Runs one unit's steps and checks expected_rows_affected; no transaction handling.
caf::expected<std::vector<result>> run_unit(connection& conn, const unit_of_work& unit);

enum class connection_role {
  writer,  // the one connection a domain's writer actor owns
  reader,  // read-only (SQLite query_only, PostgreSQL read-only transactions)
};

// A domain's database: knows how to open connections to it.
class database {
 public:
  virtual ~database() = default;
  virtual engine kind() const = 0;
  virtual const std::string& domain() const = 0;
  virtual const database_config& config() const = 0;
  virtual caf::expected<std::unique_ptr<connection>> connect(connection_role role) = 0;
};

// Opens (creating if missing) the database of `domain`: the SQLite file or PostgreSQL schema or
// database. The domain name must be an SQL identifier ([a-z][a-z0-9_]*, at most 48 characters).
caf::expected<std::unique_ptr<database>> open_database(const database_config& cfg,
                                                       std::string_view domain);

// SQLite: the file of `domain` under `cfg` (sqlite_file, else <sqlite_directory>/<domain>.db),
// and the file of its companion `name` beside it: the same path with "-<name>" before ".db".
std::string sqlite_path(const database_config& cfg, std::string_view domain);
std::string sqlite_companion_path(const database_config& cfg, std::string_view domain,
                                  std::string_view name);

// A fixed set of connections shared by threads. Thread-safe. Connections are opened lazily and
// reopened when found unhealthy. The pool must outlive every lease it hands out.
class connection_pool {
 public:
  class lease {
   public:
    lease(lease&& other) noexcept;
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    ~lease();
    connection& operator*() const { return *conn_; }
    connection* operator->() const { return conn_.get(); }

   private:
    friend class connection_pool;
    lease(connection_pool* pool, std::unique_ptr<connection> conn);
    connection_pool* pool_;
    std::unique_ptr<connection> conn_;
  };

  // `db` must outlive the pool.
  connection_pool(database& db, std::size_t size, connection_role role);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  // Waits up to `wait` for a free connection; db_errc::pool_exhausted after that.
  caf::expected<lease> borrow(std::chrono::milliseconds wait);
  caf::expected<lease> borrow();  // waits the config's pool_borrow_timeout_ms

  std::size_t size() const { return size_; }
  std::size_t idle() const;

 private:
  void give_back(std::unique_ptr<connection> conn);

  database& db_;
  const std::size_t size_;
  const connection_role role_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<connection>> idle_;  // nullptr = not opened yet
  std::size_t leased_ = 0;
};

}  // namespace superapp::persistence
