// Engine-neutral parts of the interface: savepoints, the portable group commit, the factory, the
// pool.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <unordered_map>
#include <utility>

#include "persistence/connection.hpp"
#include "persistence/db_errc.hpp"
#include "persistence/engines.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::persistence {

namespace detail {

bool is_identifier(std::string_view name, std::size_t max_chars) {
  if (name.empty() || name.size() > max_chars) return false;
  if (!(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'))) return false;
  for (char c : name)
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace detail

caf::error connection::savepoint(std::string_view name) {
  SUPERAPP_ASSERT(detail::is_identifier(name));
  return execute_script("SAVEPOINT " + std::string{name});
}

caf::error connection::release_savepoint(std::string_view name) {
  SUPERAPP_ASSERT(detail::is_identifier(name));
  return execute_script("RELEASE SAVEPOINT " + std::string{name});
}

caf::error connection::rollback_to_savepoint(std::string_view name) {
  SUPERAPP_ASSERT(detail::is_identifier(name));
  return execute_script("ROLLBACK TO SAVEPOINT " + std::string{name});
}

batch_outcome connection::commit_batch(const std::vector<const unit_of_work*>& units) {
  return commit_batch_with_savepoints(*this, units);
}

caf::error check_row_set(const row_set& rows) {
  constexpr std::size_t max_columns = 127;
  const auto columns = rows.columns.size();
  bool valid = detail::is_identifier(rows.table) && columns > 0 && columns <= max_columns &&
               rows.values.size() % columns == 0;
  for (const auto& c : rows.columns) valid = valid && detail::is_identifier(c);
  if (valid) return {};
  spdlog::warn("persistence: malformed row set for table '{}'", rows.table);
  return make_error(db_errc::invalid_statement);
}

namespace {

// The text of one multi-row INSERT: `head`, then `n` rows of `columns` placeholders.
std::string insert_text(const std::string& head, std::size_t n, std::size_t columns) {
  std::string sql;
  sql.reserve(head.size() + n * columns * 8);
  sql += head;
  std::size_t placeholder = 1;
  char digits[24];
  for (std::size_t r = 0; r < n; ++r) {
    sql += r == 0 ? "(" : ", (";
    for (std::size_t c = 0; c < columns; ++c) {
      sql += c ? ", $" : "$";
      auto end = std::to_chars(std::begin(digits), std::end(digits), placeholder++).ptr;
      sql.append(digits, end);
    }
    sql += ')';
  }
  return sql;
}

}  // namespace

caf::expected<std::vector<insert_chunk>> multi_row_insert_chunks(const row_set& rows) {
  constexpr std::size_t shapes[] = {256, 64, 16, 4, 1};
  if (auto err = check_row_set(rows)) return err;
  const auto columns = rows.columns.size();
  std::string head = "INSERT INTO " + rows.table + " (";
  for (std::size_t c = 0; c < columns; ++c) head += (c ? ", " : "") + rows.columns[c];
  head += ") VALUES ";
  // A commit builds these for thousands of rows (the ledger's accounts, every commit), always
  // in the same few shapes: each thread keeps the texts it made, by table, columns and shape.
  // The tables and columns are the code's own, so the texts are few; the bound is a backstop.
  thread_local std::unordered_map<std::string, std::string> texts;
  constexpr std::size_t max_texts = 256;
  std::vector<insert_chunk> out;
  const auto total = rows.row_count();
  for (std::size_t at = 0, n = 0; at < total; at += n) {
    n = *std::find_if(std::begin(shapes), std::end(shapes),
                      [left = total - at](std::size_t size) { return size <= left; });
    auto key = head + std::to_string(n);
    auto it = texts.find(key);
    if (it == texts.end()) {
      if (texts.size() >= max_texts) texts.clear();
      it = texts.emplace(std::move(key), insert_text(head, n, columns)).first;
    }
    out.push_back({it->second, n});
  }
  return out;
}

caf::expected<std::vector<statement>> multi_row_inserts(row_set rows) {
  auto chunks = multi_row_insert_chunks(rows);
  if (!chunks) return std::move(chunks.error());
  std::vector<statement> out;
  auto next = rows.values.begin();
  for (auto& chunk : *chunks) {
    const auto cells = static_cast<std::ptrdiff_t>(chunk.rows * rows.columns.size());
    out.push_back(
        {std::move(chunk.sql),
         std::vector<value>(std::make_move_iterator(next), std::make_move_iterator(next + cells))});
    next += cells;
  }
  return out;
}

caf::expected<result> connection::insert_rows(const row_set& rows) {
  auto statements = multi_row_inserts(rows);
  if (!statements) return std::move(statements.error());
  result total;
  for (const auto& s : *statements) {
    auto r = execute(s);
    if (!r) return r;
    total.rows_affected += r->rows_affected;
  }
  return total;
}

caf::expected<std::vector<result>> run_unit(connection& conn, const unit_of_work& unit) {
  std::vector<result> results;
  results.reserve(unit.steps.size());
  for (const auto& step : unit.steps) {
    auto r = step.rows ? conn.insert_rows(*step.rows) : conn.execute(step.stmt);
    if (!r) return std::move(r.error());
    if (step.expected_rows_affected && *step.expected_rows_affected != r->rows_affected) {
      spdlog::info("unit failed its check: expected {} rows affected, got {}",
                   *step.expected_rows_affected, r->rows_affected);
      return make_error(db_errc::unexpected_rows_affected);
    }
    results.push_back(std::move(*r));
  }
  return results;
}

batch_outcome commit_batch_optimistic(connection& conn, const std::vector<const unit_of_work*>& units) {
  auto fallback = [&] {
    auto out = commit_batch_with_savepoints(conn, units);
    out.used_fallback = true;
    return out;
  };
  if (units.size() <= 1) return commit_batch_with_savepoints(conn, units);
  if (conn.begin()) return commit_batch_with_savepoints(conn, units);
  batch_outcome out;
  for (const auto* unit : units) {
    SUPERAPP_ASSERT(unit != nullptr);
    auto results = run_unit(conn, *unit);
    if (!results) {
      // Undo everything and let the portable path isolate the failing unit.
      conn.rollback();
      return fallback();
    }
    out.units.push_back(std::move(results));
  }
  if (conn.commit()) {
    conn.rollback();
    return fallback();
  }
  out.commits = 1;
  return out;
}

batch_outcome commit_batch_with_savepoints(connection& conn,
                                           const std::vector<const unit_of_work*>& units) {
  batch_outcome out;
  auto fail_all = [&](const caf::error& err) {
    out.units.clear();
    for (std::size_t i = 0; i < units.size(); ++i) out.units.emplace_back(err);
    out.commits = 0;
    return out;
  };
  if (auto err = conn.begin()) return fail_all(err);
  constexpr std::string_view unit_savepoint = "superapp_unit";
  for (const auto* unit : units) {
    SUPERAPP_ASSERT(unit != nullptr);
    if (auto err = conn.savepoint(unit_savepoint)) {
      conn.rollback();
      return fail_all(err);
    }
    auto results = run_unit(conn, *unit);
    if (!results) {
      // Undo this unit only; if even that fails the transaction is gone and so is the batch.
      if (auto err = conn.rollback_to_savepoint(unit_savepoint)) {
        conn.rollback();
        return fail_all(err == db_errc::connection_lost ? err : make_error(db_errc::batch_aborted));
      }
    }
    if (auto err = conn.release_savepoint(unit_savepoint)) {
      conn.rollback();
      return fail_all(err);
    }
    out.units.push_back(std::move(results));
  }
  if (auto err = conn.commit()) {
    conn.rollback();
    return fail_all(err);
  }
  out.commits = 1;
  return out;
}

caf::expected<std::unique_ptr<database>> open_database(const database_config& cfg,
                                                       std::string_view domain) {
  register_db_errors();
  // The domain becomes a file, schema or database name: keep it to a safe identifier.
  if (!detail::is_identifier(domain, 48)) {
    spdlog::error("persistence: domain name '{}' is not an identifier", domain);
    return make_error(platform_errc::invalid_argument);
  }
  if (cfg.max_batch_units == 0 || cfg.reader_connections == 0 || cfg.busy_timeout_ms < 0)
    return make_error(platform_errc::invalid_argument);
  switch (cfg.engine_kind) {
    case engine::sqlite:
      return detail::open_sqlite(cfg, domain);
    case engine::postgres:
      return detail::open_postgres(cfg, domain);
  }
  return make_error(platform_errc::invalid_argument);
}

connection_pool::lease::lease(connection_pool* pool, std::unique_ptr<connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

connection_pool::lease::lease(lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}

connection_pool::lease::~lease() {
  if (pool_ != nullptr) pool_->give_back(std::move(conn_));
}

connection_pool::connection_pool(database& db, std::size_t size, connection_role role)
    : db_(db), size_(size), role_(role) {
  SUPERAPP_ASSERT(size > 0);
  idle_.resize(size);
}

connection_pool::~connection_pool() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (leased_ != 0) spdlog::error("connection_pool destroyed with {} leases out", leased_);
}

caf::expected<connection_pool::lease> connection_pool::borrow() {
  return borrow(std::chrono::milliseconds{db_.config().pool_borrow_timeout_ms});
}

caf::expected<connection_pool::lease> connection_pool::borrow(std::chrono::milliseconds wait) {
  std::unique_ptr<connection> conn;
  {
    std::unique_lock<std::mutex> lock{mutex_};
    if (!returned_.wait_for(lock, wait, [this] { return !idle_.empty(); }))
      return make_error(db_errc::pool_exhausted);
    conn = std::move(idle_.back());
    idle_.pop_back();
    ++leased_;
  }
  // Open (or reopen a broken one) outside the lock: connecting can take a network round trip.
  if (conn == nullptr || !conn->healthy()) {
    auto fresh = db_.connect(role_);
    if (!fresh) {
      give_back(nullptr);
      return std::move(fresh.error());
    }
    conn = std::move(*fresh);
  }
  return lease{this, std::move(conn)};
}

void connection_pool::give_back(std::unique_ptr<connection> conn) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    SUPERAPP_ASSERT(leased_ > 0);
    --leased_;
    idle_.push_back(std::move(conn));
  }
  returned_.notify_one();
}

std::size_t connection_pool::idle() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return idle_.size();
}

}  // namespace superapp::persistence
