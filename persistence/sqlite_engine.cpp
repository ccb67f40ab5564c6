// The SQLite engine: a WAL file per domain, FULL sync, and a per-connection statement cache.
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "persistence/db_errc.hpp"
#include "persistence/engines.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::persistence::detail {
namespace {

db_errc classify(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      return db_errc::constraint_violation;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return db_errc::busy;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
      return db_errc::invalid_statement;
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return db_errc::invalid_value;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
      return db_errc::io_failure;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return db_errc::open_failed;
    default:
      return db_errc::internal;
  }
}

// The foreign text goes to the log only; the error carries our code and nothing else.
caf::error fail(sqlite3* db, int code, std::string_view what) {
  spdlog::warn("sqlite {}: {} ({})", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(code), code);
  return make_error(classify(code));
}

class sqlite_connection final : public connection {
 public:
  // A prepared statement and, for each $k, the SQLite parameter index it is bound at (0: unused).
  struct cached {
    sqlite3_stmt* s = nullptr;
    std::vector<int> slot_of;
  };

  sqlite_connection(sqlite3* db, std::size_t cache_entries)
      : db_(db), cache_limit_(cache_entries) {}

  ~sqlite_connection() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt.s);
    sqlite3_close_v2(db_);
  }

  engine kind() const override { return engine::sqlite; }
  bool healthy() const override { return true; }

  caf::expected<result> execute(const statement& stmt) override {
    return run(stmt.sql, stmt.params);
  }

  // The INSERTs bound from the set's own cells: no value is copied.
  caf::expected<result> insert_rows(const row_set& rows) override {
    auto chunks = multi_row_insert_chunks(rows);
    if (!chunks) return std::move(chunks.error());
    result total;
    std::span<const value> left{rows.values};
    for (const auto& chunk : *chunks) {
      const auto cells = chunk.rows * rows.columns.size();
      auto r = run(chunk.sql, left.first(cells));
      if (!r) return r;
      total.rows_affected += r->rows_affected;
      left = left.subspan(cells);
    }
    return total;
  }

  caf::error execute_script(std::string_view sql) override {
    std::string text{sql};
    char* message = nullptr;
    auto rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      spdlog::warn("sqlite script: {} ({})", message ? message : "", rc);
      sqlite3_free(message);
      return make_error(classify(rc));
    }
    return {};
  }

  batch_outcome commit_batch(const std::vector<const unit_of_work*>& units) override {
    return commit_batch_optimistic(*this, units);
  }

  // BEGIN IMMEDIATE takes the write lock of every file the connection has attached, so a
  // connection with companion files attached begins DEFERRED: its first write takes the lock of
  // the file it writes, and only that one, waiting for it as BEGIN IMMEDIATE would. (A
  // transaction that reads a file before it writes it fails with SQLITE_BUSY instead if another
  // connection wrote that file in between; the domain's writer is its file's only writer.)
  // Otherwise a domain's commits would wait for its companion's writer, the very wait the
  // companion file is there to end.
  caf::error begin() override { return simple(deferred_ ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE"); }
  void begin_deferred() { deferred_ = true; }
  caf::error commit() override { return simple("COMMIT"); }
  caf::error rollback() override {
    // After some errors SQLite has already rolled back; a second ROLLBACK would fail.
    if (sqlite3_get_autocommit(db_)) return {};
    return simple("ROLLBACK");
  }

 private:
  // Binds `params` to $1..$N of `sql` (prepared once, cached) and steps it. Text and blobs are
  // bound without a copy (SQLITE_STATIC): they outlive the step, and the bindings are cleared
  // before this returns.
  caf::expected<result> run(const std::string& sql, std::span<const value> params) {
    auto prepared = prepare(sql);
    if (!prepared) return std::move(prepared.error());
    sqlite3_stmt* s = (*prepared)->s;
    // Reset even on early return so the cached statement holds no read transaction open.
    struct reset_guard {
      sqlite3_stmt* s;
      ~reset_guard() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } guard{s};
    if (auto err = bind(**prepared, params)) return err;
    result out;
    auto columns = sqlite3_column_count(s);
    for (int i = 0; i < columns; ++i) out.columns.emplace_back(sqlite3_column_name(s, i));
    auto changes_before = sqlite3_total_changes64(db_);
    for (;;) {
      auto rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail(db_, rc, "step");
      row r;
      r.reserve(static_cast<std::size_t>(columns));
      for (int i = 0; i < columns; ++i) r.push_back(column(s, i));
      out.rows.push_back(std::move(r));
    }
    if (sqlite3_stmt_readonly(s)) {
      out.rows_affected = static_cast<std::int64_t>(out.rows.size());
    } else {
      // sqlite3_changes() keeps the count of the last DML, so DDL would report a stale number.
      out.rows_affected =
          sqlite3_total_changes64(db_) != changes_before ? sqlite3_changes64(db_) : 0;
    }
    return out;
  }

  bool deferred_ = false;

  caf::error simple(const char* sql) {
    auto rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail(db_, rc, sql);
    return {};
  }

  caf::expected<const cached*> prepare(const std::string& sql) {
    if (auto i = cache_.find(sql); i != cache_.end()) return &i->second;
    sqlite3_stmt* s = nullptr;
    const char* tail = nullptr;
    auto rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                 SQLITE_PREPARE_PERSISTENT, &s, &tail);
    if (rc != SQLITE_OK) return fail(db_, rc, "prepare");
    if (s == nullptr) {
      spdlog::warn("sqlite prepare: empty statement");
      return make_error(db_errc::invalid_statement);
    }
    for (; tail && *tail; ++tail)
      if (!std::isspace(static_cast<unsigned char>(*tail)) && *tail != ';') {
        sqlite3_finalize(s);
        spdlog::warn("sqlite prepare: more than one statement; use execute_script");
        return make_error(db_errc::invalid_statement);
      }
    // An explicit limit: when full, start over rather than track recency.
    if (cache_.size() >= cache_limit_) {
      for (auto& [text, stmt] : cache_) sqlite3_finalize(stmt.s);
      cache_.clear();
    }
    // Where each $k is bound, found once per statement: looking names up at every bind is
    // linear in the parameter count, quadratic for a multi-row insert.
    cached c{s, {}};
    const int count = sqlite3_bind_parameter_count(s);
    c.slot_of.assign(static_cast<std::size_t>(count) + 1, 0);
    for (int j = 1; j <= count; ++j) {
      const char* name = sqlite3_bind_parameter_name(s, j);
      if (name == nullptr || name[0] != '$') continue;
      char* end = nullptr;
      auto k = std::strtol(name + 1, &end, 10);
      if (*end == 0 && k >= 1 && k <= count) c.slot_of[static_cast<std::size_t>(k)] = j;
    }
    return &cache_.emplace(sql, std::move(c)).first->second;
  }

  // $1..$N are named parameters to SQLite; PostgreSQL demands exactly N for the highest $N
  // referenced, and we hold SQLite to the same rule so a statement behaves alike in both.
  caf::error bind(const cached& c, std::span<const value> params) {
    sqlite3_stmt* s = c.s;
    auto wanted = sqlite3_bind_parameter_count(s);
    if (static_cast<std::size_t>(wanted) != params.size()) {
      spdlog::warn("sqlite bind: statement has {} parameters, {} given", wanted, params.size());
      return make_error(db_errc::invalid_statement);
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto index = c.slot_of[i + 1];
      if (index == 0) {
        spdlog::warn("sqlite bind: parameter ${} is not used by the statement", i + 1);
        return make_error(db_errc::invalid_statement);
      }
      int rc = SQLITE_OK;
      const auto& v = params[i];
      if (std::holds_alternative<null_value>(v)) {
        rc = sqlite3_bind_null(s, index);
      } else if (auto n = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(s, index, *n);
      } else if (auto t = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(s, index, t->data(), t->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        const auto& b = std::get<blob>(v);
        // A zero-length blob must stay a blob, not become NULL (data() may be null).
        static const std::uint8_t empty = 0;
        rc = sqlite3_bind_blob64(s, index, b.bytes.empty() ? &empty : b.bytes.data(),
                                 b.bytes.size(), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) return fail(db_, rc, "bind");
    }
    return {};
  }

  static value column(sqlite3_stmt* s, int i) {
    switch (sqlite3_column_type(s, i)) {
      case SQLITE_INTEGER:
        return std::int64_t{sqlite3_column_int64(s, i)};
      case SQLITE_BLOB: {
        auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
        auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
        return blob{std::vector<std::uint8_t>(p, p + n)};
      }
      case SQLITE_NULL:
        return null;
      default: {
        // TEXT, and FLOAT as its text form: no double crosses this interface.
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
        return std::string(p, n);
      }
    }
  }

  sqlite3* db_;
  std::size_t cache_limit_;
  std::unordered_map<std::string, cached> cache_;
};

// One file of a connection, its own (`schema` "main") or an attached one, set up alike. WAL lets
// readers run beside the writer; FULL makes an acknowledged commit survive power loss. A group
// commit dirties pages all over the indexes: the writer keeps up to 64 MiB of them (SQLite's
// default is 2 MiB, so every commit re-read most of its pages from the file), and every
// connection reads the file through a 256 MiB mapping instead of a read() per page. The ledger
// benchmark gained about 20% from both (BENCHMARKS.md); memory is only used as the database
// grows into it. A file made here is put in WAL mode; one that exists already is in it (the
// mode is kept in the file).
caf::error set_up_file(sqlite_connection& conn, const std::string& schema, const std::string& path,
                       connection_role role) {
  auto mode = conn.execute({"PRAGMA " + schema + ".journal_mode=WAL", {}});
  if (!mode) return std::move(mode.error());
  if (mode->rows.empty() || as_text(mode->rows[0][0]) != std::string{"wal"}) {
    spdlog::error("sqlite {}: journal_mode=WAL was refused", path);
    return make_error(db_errc::open_failed);
  }
  std::string pragmas =
      "PRAGMA " + schema + ".synchronous=FULL; PRAGMA " + schema + ".mmap_size=268435456;";
  if (role == connection_role::writer) pragmas += " PRAGMA " + schema + ".cache_size=-65536;";
  return conn.execute_script(pragmas);
}

class sqlite_database final : public database {
 public:
  sqlite_database(database_config cfg, std::string domain, std::string path)
      : cfg_(std::move(cfg)), domain_(std::move(domain)), path_(std::move(path)) {}

  engine kind() const override { return engine::sqlite; }
  const std::string& domain() const override { return domain_; }
  const database_config& config() const override { return cfg_; }

  caf::expected<std::unique_ptr<connection>> connect(connection_role role) override {
    sqlite3* db = nullptr;
    // NOMUTEX: a connection is used by one thread at a time (writer actor or pool lease).
    auto rc =
        sqlite3_open_v2(path_.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      auto err = fail(db, rc, "open " + path_);
      sqlite3_close_v2(db);
      return err;
    }
    auto conn = std::make_unique<sqlite_connection>(
        db, std::max<std::size_t>(cfg_.statement_cache_entries, 1));
    sqlite3_busy_timeout(db, static_cast<int>(cfg_.busy_timeout_ms));
    if (auto err = set_up_file(*conn, "main", path_, role)) return err;
    // The writer also keeps statement journals in memory: they never need to survive a crash,
    // and on disk a multi-row statement in a commit made, filled and unlinked a temp file.
    std::string pragmas = "PRAGMA foreign_keys=ON;";
    if (role == connection_role::writer) pragmas += " PRAGMA temp_store=MEMORY;";
    if (role == connection_role::reader) pragmas += " PRAGMA query_only=ON;";
    if (auto err = conn->execute_script(pragmas)) return err;
    for (const auto& [schema, file] : cfg_.sqlite_attach) {
      if (!is_identifier(schema) || schema == "main" || schema == "temp") {
        spdlog::error("sqlite {}: cannot attach {} as '{}'", path_, file, schema);
        return make_error(db_errc::open_failed);
      }
      if (auto attached = conn->execute({"ATTACH DATABASE $1 AS " + schema, {file}}); !attached)
        return std::move(attached.error());
      if (auto err = set_up_file(*conn, schema, file, role)) return err;
      conn->begin_deferred();
    }
    return std::unique_ptr<connection>{std::move(conn)};
  }

 private:
  database_config cfg_;
  std::string domain_;
  std::string path_;
};

}  // namespace

caf::expected<std::unique_ptr<database>> open_sqlite(const database_config& cfg,
                                                     std::string_view domain) {
  auto path = sqlite_path(cfg, domain);
  if (cfg.sqlite_file.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.sqlite_directory, ec);
    if (ec) {
      spdlog::error("sqlite: cannot create {}: {}", cfg.sqlite_directory, ec.message());
      return make_error(db_errc::open_failed);
    }
  }
  auto db = std::make_unique<sqlite_database>(cfg, std::string{domain}, path);
  // Open once now so a bad path or a refused WAL fails at start-up, not at the first write.
  auto probe = db->connect(connection_role::writer);
  if (!probe) return std::move(probe.error());
  return std::unique_ptr<database>{std::move(db)};
}

}  // namespace superapp::persistence::detail

namespace superapp::persistence {

std::string sqlite_path(const database_config& cfg, std::string_view domain) {
  if (!cfg.sqlite_file.empty()) return cfg.sqlite_file;
  return (std::filesystem::path{cfg.sqlite_directory} / (std::string{domain} + ".db")).string();
}

std::string sqlite_companion_path(const database_config& cfg, std::string_view domain,
                                  std::string_view name) {
  std::filesystem::path path{sqlite_path(cfg, domain)};
  auto file = path.stem().string() + "-" + std::string{name} + ".db";
  return (path.parent_path() / file).string();
}

}  // namespace superapp::persistence
