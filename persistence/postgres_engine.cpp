// The PostgreSQL engine over libpq: schema or database per domain, pipelined group commit.
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "persistence/db_errc.hpp"
#include "persistence/engines.hpp"
#include "protocols/assert.hpp"

namespace superapp::persistence::detail {
namespace {

// Type OIDs from pg_type.h; the server headers are not part of libpq-dev.
constexpr Oid bool_oid = 16;
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;
constexpr Oid int2_oid = 21;
constexpr Oid int4_oid = 23;
constexpr Oid oid_oid = 26;

db_errc classify_sqlstate(std::string_view state) {
  auto has_class = [&](std::string_view cls) { return state.substr(0, 2) == cls; };
  if (has_class("23")) return db_errc::constraint_violation;
  if (state == "40001" || state == "40P01") return db_errc::conflict;
  // A wrong parameter count is a protocol violation (08P01), but the session is still fine.
  if (state == "08P01") return db_errc::invalid_statement;
  if (has_class("08") || state == "57P01" || state == "57P02" || state == "57P03")
    return db_errc::connection_lost;
  if (state == "55P03" || state == "57014") return db_errc::busy;
  if (has_class("42")) return db_errc::invalid_statement;
  if (has_class("22")) return db_errc::invalid_value;
  if (has_class("53") || has_class("58")) return db_errc::io_failure;
  return db_errc::internal;
}

// The server's text goes to the log only; the error carries our code and nothing else.
caf::error fail(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* text = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  spdlog::warn("postgres {}: [{}] {}", what, state ? state : "-", text ? text : "");
  if (PQstatus(conn) != CONNECTION_OK) return make_error(db_errc::connection_lost);
  if (state == nullptr) return make_error(db_errc::internal);
  return make_error(classify_sqlstate(state));
}

struct pg_result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result_ptr = std::unique_ptr<PGresult, pg_result_deleter>;

// Parameters in libpq's parallel-array form. int64 and blob carry their type so `SELECT $1`
// round-trips; text stays untyped (OID 0) so the server may read it as varchar, jsonb, date...
struct bound_params {
  bound_params(const bound_params&) = delete;  // `values` points into `numbers`
  bound_params& operator=(const bound_params&) = delete;
  explicit bound_params(const statement& stmt) {
    auto n = stmt.params.size();
    types.resize(n);
    values.resize(n);
    lengths.resize(n);
    formats.resize(n);
    numbers.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& v = stmt.params[i];
      if (auto p = std::get_if<std::int64_t>(&v)) {
        numbers[i] = std::to_string(*p);
        types[i] = int8_oid;
        values[i] = numbers[i].c_str();
      } else if (auto t = std::get_if<std::string>(&v)) {
        values[i] = t->c_str();
      } else if (auto b = std::get_if<blob>(&v)) {
        types[i] = bytea_oid;
        // Binary format needs a non-null pointer even for zero bytes, or it reads as NULL.
        values[i] = b->bytes.empty() ? "" : reinterpret_cast<const char*>(b->bytes.data());
        lengths[i] = static_cast<int>(b->bytes.size());
        formats[i] = 1;
      }
    }
  }
  int count() const { return static_cast<int>(values.size()); }
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  std::vector<std::string> numbers;
};

value cell(const PGresult* res, int r, int c) {
  if (PQgetisnull(res, r, c)) return null;
  const char* text = PQgetvalue(res, r, c);
  auto size = static_cast<std::size_t>(PQgetlength(res, r, c));
  switch (PQftype(res, c)) {
    case int2_oid:
    case int4_oid:
    case int8_oid:
    case oid_oid: {
      std::int64_t n = 0;
      std::from_chars(text, text + size, n);
      return n;
    }
    case bool_oid:
      return std::int64_t{text[0] == 't' ? 1 : 0};
    case bytea_oid: {
      std::size_t length = 0;
      auto bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &length);
      SUPERAPP_ASSERT(bytes != nullptr);
      blob out{std::vector<std::uint8_t>(bytes, bytes + length)};
      PQfreemem(bytes);
      return out;
    }
    default:
      return std::string(text, size);
  }
}

caf::expected<result> to_result(PGconn* conn, const PGresult* res, std::string_view what) {
  auto status = PQresultStatus(res);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(conn, res, what);
  result out;
  auto columns = PQnfields(res);
  auto rows = PQntuples(res);
  for (int c = 0; c < columns; ++c) out.columns.emplace_back(PQfname(res, c));
  out.rows.reserve(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    row cells;
    cells.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) cells.push_back(cell(res, r, c));
    out.rows.push_back(std::move(cells));
  }
  const char* affected = PQcmdTuples(const_cast<PGresult*>(res));
  if (affected && *affected)
    std::from_chars(affected, affected + std::strlen(affected), out.rows_affected);
  return out;
}

// The highest $N the statement references, skipping literals, quoted names and comments.
// PostgreSQL silently accepts extra parameters whose type we supplied; SQLite does not. Checking
// the count ourselves makes "params.size() == highest $N" the rule on both engines.
int highest_placeholder(std::string_view sql) {
  int highest = 0;
  std::size_t i = 0;
  auto skip_to = [&](std::string_view end) {
    auto at = sql.find(end, i);
    i = at == std::string_view::npos ? sql.size() : at + end.size();
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      ++i;
      skip_to(std::string_view{&c, 1});
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      skip_to("\n");
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      skip_to("*/");
    } else if (c == '$' && i + 1 < sql.size() &&
               std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      int n = 0;
      for (++i; i < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i])); ++i)
        n = std::min(n * 10 + (sql[i] - '0'), 1'000'000);
      highest = std::max(highest, n);
    } else if (c == '$') {
      // A dollar-quoted body ($$...$$ or $tag$...$tag$) is text, not placeholders.
      auto close = sql.find('$', i + 1);
      if (close == std::string_view::npos) break;
      std::string tag{sql.substr(i, close - i + 1)};
      i = close + 1;
      skip_to(tag);
    } else {
      ++i;
    }
  }
  return highest;
}

caf::error check_param_count(const statement& stmt) {
  auto wanted = static_cast<std::size_t>(highest_placeholder(stmt.sql));
  if (wanted == stmt.params.size()) return {};
  spdlog::warn("postgres bind: statement has {} parameters, {} given", wanted, stmt.params.size());
  return make_error(db_errc::invalid_statement);
}

// One cell in COPY's text format: \N for NULL; a backslash, tab, newline or carriage return in
// text escaped; bytea in its hex form (\x..., the backslash itself escaped).
void append_copy_cell(std::string& out, const value& v) {
  if (std::holds_alternative<null_value>(v)) {
    out += "\\N";
  } else if (auto n = std::get_if<std::int64_t>(&v)) {
    char digits[24];
    auto end = std::to_chars(std::begin(digits), std::end(digits), *n).ptr;
    out.append(digits, end);
  } else if (auto t = std::get_if<std::string>(&v)) {
    for (char c : *t) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out += c;
      }
    }
  } else if (auto b = std::get_if<blob>(&v)) {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\\\x";
    for (auto byte : b->bytes) {
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
}

void log_notice(void*, const char* message) { spdlog::debug("postgres notice: {}", message); }

class pg_connection final : public connection {
 public:
  explicit pg_connection(PGconn* conn) : conn_(conn) {}
  ~pg_connection() override { PQfinish(conn_); }

  engine kind() const override { return engine::postgres; }
  bool healthy() const override { return PQstatus(conn_) == CONNECTION_OK; }

  caf::expected<result> execute(const statement& stmt) override {
    if (auto err = check_param_count(stmt)) return err;
    bound_params p{stmt};
    pg_result_ptr res{PQexecParams(conn_, stmt.sql.c_str(), p.count(), p.types.data(),
                                   p.values.data(), p.lengths.data(), p.formats.data(), 0)};
    return to_result(conn_, res.get(), "execute");
  }

  caf::expected<result> insert_rows(const row_set& rows) override {
    if (rows.row_count() < copy_min_rows) return connection::insert_rows(rows);
    return copy_in(rows);
  }

  caf::error execute_script(std::string_view sql) override {
    std::string text{sql};
    pg_result_ptr res{PQexec(conn_, text.c_str())};
    auto r = to_result(conn_, res.get(), "script");
    return r ? caf::error{} : std::move(r.error());
  }

  caf::error begin() override { return execute_script("BEGIN"); }
  caf::error commit() override { return execute_script("COMMIT"); }
  caf::error rollback() override { return execute_script("ROLLBACK"); }

  // Fast path: the whole batch in one pipelined transaction, one round trip for all units.
  // Any failure (SQL error or a failed row-count check) rolls it back and reruns the batch unit
  // by unit under savepoints, so only the failing unit is lost.
  batch_outcome commit_batch(const std::vector<const unit_of_work*>& units) override {
    if (auto fast = commit_pipelined(units)) return std::move(*fast);
    if (!healthy()) return fail_all(units, make_error(db_errc::connection_lost));
    auto out = commit_batch_with_savepoints(*this, units);
    out.used_fallback = true;
    return out;
  }

 private:
  static batch_outcome fail_all(const std::vector<const unit_of_work*>& units, caf::error err) {
    batch_outcome out;
    for (std::size_t i = 0; i < units.size(); ++i) out.units.emplace_back(err);
    return out;
  }

  bool send(const statement& stmt, const bound_params& p, const std::string& prepared) {
    if (!prepared.empty())
      return PQsendQueryPrepared(conn_, prepared.c_str(), p.count(), p.values.data(),
                                 p.lengths.data(), p.formats.data(), 0) == 1;
    return PQsendQueryParams(conn_, stmt.sql.c_str(), p.count(), p.types.data(), p.values.data(),
                             p.lengths.data(), p.formats.data(), 0) == 1;
  }

  // The name of `stmt` prepared on this connection (with these parameter types), preparing it
  // on first use; empty to send it unprepared. A group commit sends the same few multi-row
  // shapes over and over, each with hundreds of parameters: prepared once, the server no longer
  // parses and analyses them at every commit. Called outside pipeline mode.
  const std::string& prepared_name(const statement& stmt, const bound_params& p) {
    static const std::string none;
    if (stmt.params.empty()) return none;
    std::string key = stmt.sql;
    key.push_back('\0');
    for (auto t : p.types) key += std::to_string(t) + ",";
    if (auto it = prepared_.find(key); it != prepared_.end()) return it->second;
    if (prepared_.size() >= max_prepared) return none;
    auto name = "superapp_" + std::to_string(prepared_.size() + 1);
    pg_result_ptr res{PQprepare(conn_, name.c_str(), stmt.sql.c_str(), p.count(), p.types.data())};
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      spdlog::debug("postgres: not prepared: {}", PQerrorMessage(conn_));
      return none;
    }
    return prepared_.emplace(std::move(key), std::move(name)).first->second;
  }

  // Flushes the queued pipeline without deadlocking: while our output is blocked we keep
  // reading, so the server never stalls on a full socket of results we have not read. (libpq's
  // blocking flush does this too; the libpq docs still advise non-blocking mode for pipelines.)
  bool flush_nonblocking() {
    if (PQsetnonblocking(conn_, 1) != 0) return false;
    int rc = 0;
    while ((rc = PQflush(conn_)) == 1) {
      pollfd fd{PQsocket(conn_), POLLIN | POLLOUT, 0};
      if (poll(&fd, 1, -1) < 0) return false;
      if ((fd.revents & POLLIN) && PQconsumeInput(conn_) == 0) return false;
    }
    return PQsetnonblocking(conn_, 0) == 0 && rc == 0;
  }

  // One query's result; libpq ends each query's results with a null.
  pg_result_ptr next_result() {
    pg_result_ptr res{PQgetResult(conn_)};
    if (res) {
      while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    }
    return res;
  }

  bool read_sync() {
    pg_result_ptr sync{PQgetResult(conn_)};
    return sync && PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC;
  }

  // `rows` by COPY ... FROM STDIN, outside pipeline mode (libpq allows no COPY in a pipeline).
  // COPY writes a page's rows as one log record and skips the per-row executor: about half the
  // time of the same rows as prepared multi-row INSERTs (ADR 0023).
  caf::expected<result> copy_in(const row_set& rows) {
    // The same checks as the INSERT form (names, shape), so both paths refuse the same sets.
    if (auto err = check_row_set(rows)) return err;
    std::string sql = "COPY " + rows.table + " (";
    for (std::size_t c = 0; c < rows.columns.size(); ++c) sql += (c ? ", " : "") + rows.columns[c];
    sql += ") FROM STDIN";
    pg_result_ptr started{PQexec(conn_, sql.c_str())};
    if (!started || PQresultStatus(started.get()) != PGRES_COPY_IN)
      return fail(conn_, started.get(), "copy");
    constexpr std::size_t chunk = 1 << 20;
    std::string buffer;
    buffer.reserve(chunk + 4096);
    bool sent = true;
    const auto columns = rows.columns.size();
    for (std::size_t i = 0; i < rows.values.size(); ++i) {
      append_copy_cell(buffer, rows.values[i]);
      buffer += (i + 1) % columns == 0 ? '\n' : '\t';
      if (buffer.size() >= chunk || i + 1 == rows.values.size()) {
        sent = sent && PQputCopyData(conn_, buffer.data(), static_cast<int>(buffer.size())) == 1;
        buffer.clear();
      }
    }
    // An error message makes the server fail the COPY: nothing half-sent is kept.
    sent = PQputCopyEnd(conn_, sent ? nullptr : "superapp: copy data not sent") == 1 && sent;
    pg_result_ptr res{PQgetResult(conn_)};
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    auto r = to_result(conn_, res.get(), "copy");
    if (r && !sent) return make_error(db_errc::connection_lost);
    return r;
  }

  // What commit_pipelined runs: a statement (sent in a pipeline), or a row set to COPY between
  // two pipelines. `unit` is npos for the BEGIN.
  struct planned_op {
    std::size_t unit;
    std::size_t step;
    const statement* stmt;
    const row_set* rows;
  };
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Sends ops[from, to) (statements only) as one pipeline and reads their results into
  // `results`; false at the first failure (the transaction is then aborted).
  bool run_pipeline(const std::vector<planned_op>& ops, std::size_t from, std::size_t to,
                    const std::deque<bound_params>& params,
                    const std::vector<std::size_t>& param_of,
                    const std::vector<const std::string*>& names,
                    std::vector<std::vector<result>>& results) {
    if (PQenterPipelineMode(conn_) != 1) {
      spdlog::warn("postgres: cannot enter pipeline mode: {}", PQerrorMessage(conn_));
      return false;
    }
    bool sent = true;
    for (auto i = from; i < to && sent; ++i)
      sent = send(*ops[i].stmt, params[param_of[i]], *names[i]);
    sent = sent && PQpipelineSync(conn_) == 1 && flush_nonblocking();
    bool clean = sent;
    if (!sent) spdlog::warn("postgres: pipeline send failed: {}", PQerrorMessage(conn_));
    for (auto i = from; i < to && sent; ++i) {
      auto res = next_result();
      if (!res) {
        clean = false;
        break;
      }
      // Statements after the first failure come back PIPELINE_ABORTED; they are not errors
      // of their own, the fallback will run them again.
      if (PQresultStatus(res.get()) == PGRES_PIPELINE_ABORTED) {
        clean = false;
        continue;
      }
      auto r = to_result(conn_, res.get(), "pipeline");
      if (!r) {
        clean = false;
        continue;
      }
      const auto& op = ops[i];
      if (op.unit == npos) continue;
      auto& slot = results[op.unit][op.step];
      if (op.rows != nullptr)
        slot.rows_affected += r->rows_affected;  // one of a small row set's INSERTs
      else
        slot = std::move(*r);
    }
    if (sent && !read_sync()) clean = false;
    if (PQexitPipelineMode(conn_) != 1) {
      spdlog::warn("postgres: cannot leave pipeline mode: {}", PQerrorMessage(conn_));
      clean = false;
    }
    return clean;
  }

  // The batch in one transaction, its statements pipelined: one round trip for all of them,
  // plus one for each row set large enough to COPY (a COPY cannot be pipelined) and one for the
  // COMMIT, sent only once every result and row count has been checked.
  std::optional<batch_outcome> commit_pipelined(const std::vector<const unit_of_work*>& units) {
    static const statement begin_statement{"BEGIN", {}};
    std::deque<statement> inserts;  // small row sets as INSERTs; never moved
    std::vector<planned_op> ops{{npos, npos, &begin_statement, nullptr}};
    std::vector<std::vector<result>> results(units.size());
    for (std::size_t u = 0; u < units.size(); ++u) {
      const auto& steps = units[u]->steps;
      results[u].resize(steps.size());
      for (std::size_t s = 0; s < steps.size(); ++s) {
        const auto& step = steps[s];
        if (!step.rows) {
          if (check_param_count(step.stmt)) return std::nullopt;
          ops.push_back({u, s, &step.stmt, nullptr});
        } else if (step.rows->row_count() >= copy_min_rows) {
          ops.push_back({u, s, nullptr, &*step.rows});
        } else {
          auto statements = multi_row_inserts(*step.rows);
          if (!statements) return std::nullopt;  // the fallback reports it as the unit's error
          for (auto& statement : *statements) {
            inserts.push_back(std::move(statement));
            ops.push_back({u, s, &inserts.back(), &*step.rows});
          }
        }
      }
    }
    std::deque<bound_params> params;  // never moved: each points into its own strings
    std::vector<std::size_t> param_of(ops.size(), 0);
    std::vector<const std::string*> names(ops.size(), nullptr);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].stmt == nullptr) continue;
      params.emplace_back(*ops[i].stmt);
      param_of[i] = params.size() - 1;
      names[i] = &prepared_name(*ops[i].stmt, params.back());  // outside pipeline mode
    }
    bool clean = true;
    for (std::size_t at = 0; clean && at < ops.size();) {
      if (ops[at].stmt == nullptr) {
        auto r = copy_in(*ops[at].rows);
        if (r) results[ops[at].unit][ops[at].step].rows_affected = r->rows_affected;
        clean = static_cast<bool>(r);
        ++at;
        continue;
      }
      auto end = at;
      while (end < ops.size() && ops[end].stmt != nullptr) ++end;
      clean = run_pipeline(ops, at, end, params, param_of, names, results);
      at = end;
    }
    for (std::size_t u = 0; clean && u < units.size(); ++u)
      for (std::size_t s = 0; s < units[u]->steps.size(); ++s) {
        const auto& expected = units[u]->steps[s].expected_rows_affected;
        if (expected && *expected != results[u][s].rows_affected) clean = false;
      }
    if (!healthy()) return fail_all(units, make_error(db_errc::connection_lost));
    // Failed: roll back whatever ran (a ROLLBACK outside a transaction only warns) and let the
    // fallback find the failing unit.
    if (!clean) {
      (void)execute_script("ROLLBACK");
      return std::nullopt;
    }
    if (execute_script("COMMIT")) return std::nullopt;
    batch_outcome out;
    for (auto& r : results) out.units.emplace_back(std::move(r));
    out.commits = 1;
    return out;
  }

  // Rows in a set that COPY loads; a smaller set goes as INSERTs inside the pipeline. A COPY
  // costs about two more round trips (end a pipeline, COPY, start another), ~0.1 ms on
  // loopback, and saves ~1.5 us a row: a wash at about 70 rows.
  static constexpr std::size_t copy_min_rows = 100;
  static constexpr std::size_t max_prepared = 512;
  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // sql and types -> name
};

std::string quoted(std::string_view identifier) { return "\"" + std::string{identifier} + "\""; }

class pg_database final : public database {
 public:
  pg_database(database_config cfg, std::string domain)
      : cfg_(std::move(cfg)), domain_(std::move(domain)) {}

  engine kind() const override { return engine::postgres; }
  const std::string& domain() const override { return domain_; }
  const database_config& config() const override { return cfg_; }

  caf::expected<std::unique_ptr<connection>> connect(connection_role role) override {
    bool own_database = cfg_.pg_layout == pg_domain_layout::database_per_domain;
    auto conn = connect_raw(own_database ? domain_ : std::string{});
    if (!conn) return std::move(conn.error());
    std::string setup = "SET client_min_messages = warning; SET lock_timeout = " +
                        std::to_string(cfg_.busy_timeout_ms) + ";";
    if (!own_database) setup += " SET search_path TO " + quoted(domain_) + ";";
    if (role == connection_role::reader) setup += " SET default_transaction_read_only = on;";
    if (auto err = (*conn)->execute_script(setup)) return err;
    return conn;
  }

  // Creates the domain's schema or database; a concurrent creator winning the race is fine.
  caf::error create_domain_namespace() {
    auto admin = connect_raw({});
    if (!admin) return std::move(admin.error());
    if (cfg_.pg_layout == pg_domain_layout::schema_per_domain) {
      auto err = (*admin)->execute_script("CREATE SCHEMA IF NOT EXISTS " + quoted(domain_));
      if (err && err != db_errc::constraint_violation) return err;
      return {};
    }
    auto exists = (*admin)->execute({"SELECT 1 FROM pg_database WHERE datname = $1", {domain_}});
    if (!exists) return std::move(exists.error());
    if (!exists->rows.empty()) return {};
    auto err = (*admin)->execute_script("CREATE DATABASE " + quoted(domain_));
    // 42P04 duplicate_database classifies as invalid_statement; check again rather than guess.
    if (err) {
      auto again = (*admin)->execute({"SELECT 1 FROM pg_database WHERE datname = $1", {domain_}});
      if (again && !again->rows.empty()) return {};
      return err;
    }
    return {};
  }

 private:
  caf::expected<std::unique_ptr<connection>> connect_raw(const std::string& dbname) {
    // Later keywords override earlier ones, so the domain's dbname wins over the conninfo's.
    const char* keywords[] = {"dbname", dbname.empty() ? nullptr : "dbname", nullptr};
    const char* values[] = {cfg_.pg_conninfo.c_str(), dbname.c_str(), nullptr};
    PGconn* raw = PQconnectdbParams(keywords, values, 1);
    if (raw == nullptr) return make_error(db_errc::open_failed);
    auto conn = std::make_unique<pg_connection>(raw);
    if (PQstatus(raw) != CONNECTION_OK) {
      spdlog::warn("postgres connect: {}", PQerrorMessage(raw));
      return make_error(db_errc::open_failed);
    }
    PQsetNoticeProcessor(raw, log_notice, nullptr);
    return std::unique_ptr<connection>{std::move(conn)};
  }

  database_config cfg_;
  std::string domain_;
};

}  // namespace

caf::expected<std::unique_ptr<database>> open_postgres(const database_config& cfg,
                                                       std::string_view domain) {
  auto db = std::make_unique<pg_database>(cfg, std::string{domain});
  if (auto err = db->create_domain_namespace()) return err;
  return std::unique_ptr<database>{std::move(db)};
}

}  // namespace superapp::persistence::detail
