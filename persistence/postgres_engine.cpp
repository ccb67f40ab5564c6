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

  bool send(const statement& stmt) { return send(stmt, bound_params{stmt}, {}); }

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

  // Sends `sql` as its own pipeline segment and reports whether it succeeded.
  bool pipelined_simple(const char* sql) {
    if (!send({sql, {}}) || PQpipelineSync(conn_) != 1 || !flush_nonblocking()) return false;
    auto res = next_result();
    auto ok = res && PQresultStatus(res.get()) == PGRES_COMMAND_OK;
    if (!ok && res) (void)fail(conn_, res.get(), sql);
    return read_sync() && ok;
  }

  std::optional<batch_outcome> commit_pipelined(const std::vector<const unit_of_work*>& units) {
    for (const auto* unit : units)
      for (const auto& step : unit->steps)
        if (check_param_count(step.stmt)) return std::nullopt;
    std::deque<bound_params> params;  // never moved: each points into its own strings
    std::vector<const std::string*> names;
    for (const auto* unit : units)
      for (const auto& step : unit->steps) {
        params.emplace_back(step.stmt);
        names.push_back(&prepared_name(step.stmt, params.back()));
      }
    if (PQenterPipelineMode(conn_) != 1) {
      spdlog::warn("postgres: cannot enter pipeline mode: {}", PQerrorMessage(conn_));
      return std::nullopt;
    }
    auto leave = [this] {
      if (PQexitPipelineMode(conn_) != 1)
        spdlog::warn("postgres: cannot leave pipeline mode: {}", PQerrorMessage(conn_));
    };
    bool sent = send({"BEGIN", {}});
    std::size_t at = 0;
    for (const auto* unit : units)
      for (const auto& step : unit->steps) {
        sent = sent && send(step.stmt, params[at], *names[at]);
        ++at;
      }
    sent = sent && PQpipelineSync(conn_) == 1 && flush_nonblocking();
    if (!sent) {
      spdlog::warn("postgres: pipeline send failed: {}", PQerrorMessage(conn_));
      leave();
      return std::nullopt;
    }
    auto begun = next_result();
    bool clean = begun && PQresultStatus(begun.get()) == PGRES_COMMAND_OK;
    batch_outcome out;
    for (const auto* unit : units) {
      std::vector<result> results;
      caf::error unit_error;
      for (const auto& step : unit->steps) {
        auto res = next_result();
        if (!res) {
          clean = false;
          unit_error = make_error(db_errc::connection_lost);
          continue;
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
          unit_error = std::move(r.error());
          continue;
        }
        if (step.expected_rows_affected && *step.expected_rows_affected != r->rows_affected)
          clean = false;
        results.push_back(std::move(*r));
      }
      out.units.emplace_back(std::move(results));
    }
    if (!read_sync()) clean = false;
    if (!healthy()) {
      leave();
      return fail_all(units, make_error(db_errc::connection_lost));
    }
    if (!clean) {
      pipelined_simple("ROLLBACK");
      leave();
      return std::nullopt;
    }
    bool committed = pipelined_simple("COMMIT");
    leave();
    if (!committed) return std::nullopt;
    out.commits = 1;
    return out;
  }

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
