// The ledger's speed (issue 7), each target beside its baselines in one invocation:
//   PostgreSQL: the ledger writer (checks in memory, group commit) against pgbench running a
//   one-call plpgsql transfer at 16 clients, and against a bare libpq program writing the same
//   transfers in set-based batches of 1,000 per transaction (the ceiling); random transfers
//   between many accounts, then a hot run where every transfer leaves one account.
//   With the default commits in flight (ADR 0021) the same writer with one commit in flight
//   runs first on the same server, as the baseline for that choice; with the index pass by
//   engine (beside the commits on PostgreSQL, ADR 0022), the same writer with the pass in a
//   commit runs next, as the baseline for that one.
//   SQLite (WAL, synchronous=FULL): the ledger writer against raw batch-of-one inserts.
// Every transfer has a random idempotency key, as clients send. The ledger is driven in-process
// (no gateway) by `--in-flight` concurrent requesters, as many sessions would. A ledger run
// starts once everything before it is indexed and ends once every transfer is answered and no
// index pass it started is still running; its row also gives the waits of the answered
// transfers (p50, p99, p99.9, max).
#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actors/banking/banking_domain.hpp"
#include "persistence/connection.hpp"
#include "protocols/hex.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/node/node_config.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

struct options {
  std::string engine = "both";  // sqlite | postgres | both
  std::string conninfo;         // empty: a throwaway server (scripts/pg-test-server)
  // 0: twice index_every (131,072 by default), so that every run, started with everything
  // indexed, holds exactly two index passes: the rate a busy ledger keeps, passes included.
  std::int64_t transfers = 0;
  std::int64_t accounts = 10'000;
  int in_flight = 4096;
  int request_timeout_s = 0;  // 0: requesters wait without a timer
  int pgbench_clients = 16;
  int pgbench_seconds = 10;
  // Batch-of-one inserts are slow: fewer, but enough for about as long a run as the ledger's
  // (a second or more, WAL checkpoints included). 3,000 of them took 0.2 s and spread 6.9-15.6k/s.
  std::int64_t sqlite_raw = 15'000;
  std::size_t index_every = ledger_settings{}.index_every;
  std::size_t recent_ids = ledger_settings{}.recent_transfer_ids;  // ADR 0020
  std::size_t commits_in_flight = ledger_settings{}.commits_in_flight;  // ADR 0021
  index_pass_mode index_pass = ledger_settings{}.index_pass;            // ADR 0022
  // The scheduler as `superapp run` sets it up (node.scheduler_idle_polls), so idle workers'
  // naps take the writer's core here no more than they do in the node.
  std::size_t scheduler_idle_polls = node::node_config{}.node.scheduler_idle_polls;
};

// 128 random bits, as a client's idempotency key: from a per-thread generator seeded by the OS.
// The requesters are the load generator, not the ledger; drawn from OpenSSL's DRBG, whose lock
// the scheduler's threads share, the keys alone took 6% of the run's CPU (perf, 2026-12-07).
std::string random_key() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t words[2] = {rng(), rng()};
  unsigned char b[16];
  std::memcpy(b, words, sizeof b);
  return to_hex(b, sizeof b);
}

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// Every row's transfers/s, by "engine|run", for the ratios printed at the end.
std::map<std::string, double>& rates() {
  static std::map<std::string, double> r;
  return r;
}

void row(const char* engine, const char* run, std::int64_t n, double secs, const char* note = "") {
  rates()[std::string{engine} + "|" + run] = n / secs;
  std::printf("| %s | %s | %lld | %.2f | %.0f | %s |\n", engine, run, static_cast<long long>(n), secs,
              n / secs, note);
  std::fflush(stdout);
}

// ---- the ledger writer, in-process -------------------------------------------------------

// A requester: sends a transfer, and the next when the answer comes, until `left` runs out.
// By default it waits without a timeout: with one (`--request-timeout-s`), each request also
// puts a timer into CAF 0.17's clock thread (a mutex and a multimap), which costs the run about
// a fifth of its throughput, in the driver, not in the ledger (BENCHMARKS.md).
struct drive_state {
  std::atomic<std::int64_t>* left;
  std::atomic<std::int64_t>* refused;
  ledger_actor ledger;
  std::int64_t accounts;
  bool hot;
  caf::duration timeout;
  std::mt19937_64 rng;
  std::latch* done;
  steady::time_point sent;
  std::vector<std::int64_t> waited_us;  // each answered transfer's wait, request to answer
};

void send_next(caf::event_based_actor* self, std::shared_ptr<drive_state> st) {
  if (st->left->fetch_sub(1) <= 0) {
    st->done->count_down();
    self->quit();
    return;
  }
  transfer t;
  t.id = random_key();
  auto from = st->hot ? 0 : static_cast<std::int64_t>(st->rng() % st->accounts);
  auto to = static_cast<std::int64_t>(st->rng() % (st->accounts - 1)) + 1;
  if (to == from) to = 0;
  t.debit_account = "w" + std::to_string(from);
  t.credit_account = "w" + std::to_string(to);
  t.amount = 1;
  t.currency = "EUR";
  st->sent = steady::now();
  self->request(st->ledger, st->timeout, transfer_atom::value, t)
      .then(
          [self, st](transfer_result r) {
            if (r != transfer_result::ok) ++*st->refused;
            st->waited_us.push_back(
                std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - st->sent)
                    .count());
            send_next(self, st);
          },
          [self, st](caf::error&) {
            ++*st->refused;
            send_next(self, st);
          });
}

caf::behavior driver(caf::event_based_actor* self, std::shared_ptr<drive_state> st) {
  send_next(self, st);
  return {[](caf::unit_t) {}};
}

struct ledger_node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor root;
  std::shared_ptr<sup::service_slot> slot = std::make_shared<sup::service_slot>();

  std::unique_ptr<persistence::database> database;
  std::unique_ptr<persistence::connection> reader;
  std::int64_t index_every = 0;

  ledger_node(persistence::database_config db, const std::string& name, const options& o)
      : index_every(static_cast<std::int64_t>(o.index_every)) {
    add_error_renderers(cfg);
    cfg.set("work-stealing.moderate-poll-attempts", o.scheduler_idle_polls);
    sys = std::make_unique<caf::actor_system>(cfg);
    banking_settings s;
    s.ledger_slot = slot;
    s.ledger.index_every = o.index_every;
    s.ledger.recent_transfer_ids = o.recent_ids;
    s.ledger.commits_in_flight = o.commits_in_flight;
    s.ledger.index_pass = o.index_pass;
    sup::domain_settings ds;
    ds.database = db;
    ds.directory = std::make_shared<sup::front_door_directory>();
    root = sup::spawn_supervisor(*sys, sup::domain_supervisor(banking_domain(s, name), ds));
    caf::scoped_actor self{*sys};
    if (auto err = sup::await_ready(self, root, 60s)) {
      std::fprintf(stderr, "ledger_bench: the banking tree did not start: %s\n", describe(err).wire_code.data());
      std::exit(1);
    }
    auto opened =
        persistence::open_database(sup::with_companions(banking_domain(s, name), db), name);
    auto conn = opened ? (*opened)->connect(persistence::connection_role::reader)
                       : caf::expected<std::unique_ptr<persistence::connection>>{opened.error()};
    if (!conn) {
      std::fprintf(stderr, "ledger_bench: no reader: %s\n",
                   describe(conn.error()).wire_code.data());
      std::exit(1);
    }
    database = std::move(*opened);
    reader = std::move(*conn);
  }

  // Waits until the unindexed tail is below `below`. After a run, index_every: no index pass
  // the run started is still running (a pass beside the commits, ADR 0022, may outlive the last
  // answer; its time counts in the run's). Before a run, 1: the idle ledger has indexed
  // everything (its expiry tick, every second), so each run's passes fall at the same
  // transfers whatever the setup or the run before left unindexed.
  void settle(std::int64_t below) {
    for (;;) {
      auto r =
          reader->execute({"SELECT (SELECT COALESCE(MAX(seq), 0) FROM transfers)"
                           " - indexed_through FROM index_progress",
                           {}});
      if (!r || r->rows.empty() || persistence::as_int(r->rows[0][0]).value_or(0) < below) return;
      std::this_thread::sleep_for(1ms);
    }
  }
  ~ledger_node() {
    caf::scoped_actor self{*sys};
    sup::shutdown(self, root, 30s);
  }
  ledger_actor ledger() { return caf::actor_cast<ledger_actor>(slot->get()); }

  // Accounts w0..w<n-1>: w0 a funding account (hot runs debit it), the others wallets, each
  // funded so no transfer of the run is refused for funds. In chunks of 4,096 requests in
  // flight, each chunk's accounts answered before their funding is sent: one at a time, a
  // million accounts took longer than the runs (two commits each). Answers any request refused.
  std::int64_t open(std::int64_t n) {
    caf::scoped_actor self{*sys};
    constexpr std::int64_t chunk = 4096;
    std::int64_t refused = 0;
    const auto failed = [&refused](caf::error&) { ++refused; };
    for (std::int64_t lo = 0; lo < n; lo += chunk) {
      const auto hi = std::min(n, lo + chunk);
      using open_handle =
          decltype(self->request(ledger(), 60s, open_account_atom::value, account{}));
      std::vector<open_handle> opens;
      for (auto i = lo; i < hi; ++i)
        opens.push_back(self->request(
            ledger(), 60s, open_account_atom::value,
            account{"w" + std::to_string(i), "EUR", i == 0 ? 0u : debits_must_not_exceed_credits}));
      for (auto& h : opens) h.receive([&refused](bool ok) { refused += ok ? 0 : 1; }, failed);
      using pay_handle = decltype(self->request(ledger(), 60s, transfer_atom::value, transfer{}));
      std::vector<pay_handle> fundings;
      for (auto i = std::max<std::int64_t>(lo, 1); i < hi; ++i) {
        transfer t;
        t.id = "fund-" + std::to_string(i);
        t.debit_account = "w0";
        t.credit_account = "w" + std::to_string(i);
        t.amount = 1'000'000;
        t.currency = "EUR";
        fundings.push_back(self->request(ledger(), 60s, transfer_atom::value, std::move(t)));
      }
      for (auto& h : fundings)
        h.receive([&refused](transfer_result r) { refused += r == transfer_result::ok ? 0 : 1; },
                  failed);
    }
    return refused;
  }

  // The run's seconds; `waits` gets the answered transfers' waits (p50, p99, p99.9, max).
  double run(std::int64_t n, int in_flight, std::int64_t accounts, bool hot, int timeout_s,
             std::int64_t& refused_out, std::string& waits) {
    const caf::duration timeout =
        timeout_s > 0 ? caf::duration{std::chrono::seconds{timeout_s}} : caf::infinite;
    settle(1);
    std::atomic<std::int64_t> left{n}, refused{0};
    std::latch done{in_flight};
    std::vector<std::shared_ptr<drive_state>> drivers;
    auto t0 = steady::now();
    for (int i = 0; i < in_flight; ++i) {
      auto st = std::make_shared<drive_state>(drive_state{&left,
                                                          &refused,
                                                          ledger(),
                                                          accounts,
                                                          hot,
                                                          timeout,
                                                          std::mt19937_64{static_cast<unsigned>(i)},
                                                          &done,
                                                          {},
                                                          {}});
      drivers.push_back(st);
      sys->spawn(driver, st);
    }
    done.wait();
    settle(index_every);
    const auto secs = seconds_since(t0);
    refused_out = refused;
    std::vector<std::int64_t> all;
    for (const auto& d : drivers) all.insert(all.end(), d->waited_us.begin(), d->waited_us.end());
    std::sort(all.begin(), all.end());
    auto at = [&all](double q) {
      return all.empty() ? 0.0 : all[static_cast<std::size_t>(q * (all.size() - 1))] / 1000.0;
    };
    char text[160];
    std::snprintf(text, sizeof text, "wait ms p50 %.0f, p99 %.0f, p99.9 %.0f, max %.0f", at(0.5),
                  at(0.99), at(0.999), all.empty() ? 0.0 : all.back() / 1000.0);
    waits = text;
    return secs;
  }
};

// `label` follows "ledger writer" in the rows; `suffix` makes the database its own.
void ledger_runs(const char* engine, persistence::database_config db, const options& o,
                 const std::string& label = "", const std::string& suffix = "") {
  ledger_node node{std::move(db), "bench_ledger_" + std::to_string(::getpid()) + suffix, o};
  if (auto refused = node.open(o.accounts); refused > 0) {
    std::fprintf(stderr, "ledger_bench: %lld of the accounts' openings and fundings refused\n",
                 static_cast<long long>(refused));
    std::exit(1);
  }
  std::int64_t refused = 0;
  std::string waits;
  auto note = [&] { return refused ? waits + "; refused " + std::to_string(refused) : waits; };
  auto secs =
      node.run(o.transfers, o.in_flight, o.accounts, false, o.request_timeout_s, refused, waits);
  row(engine, ("ledger writer" + label + ", random accounts").c_str(), o.transfers, secs,
      note().c_str());
  secs = node.run(o.transfers, o.in_flight, o.accounts, true, o.request_timeout_s, refused, waits);
  row(engine, ("ledger writer" + label + ", hot account").c_str(), o.transfers, secs,
      note().c_str());
}

// ---- PostgreSQL baselines --------------------------------------------------------------

PGconn* pg_connect(const std::string& conninfo) {
  auto* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "ledger_bench: %s\n", PQerrorMessage(c));
    std::exit(1);
  }
  return c;
}

void pg_exec(PGconn* c, const std::string& sql) {
  auto* r = PQexec(c, sql.c_str());
  auto s = PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "ledger_bench: %s: %s\n", sql.substr(0, 80).c_str(), PQerrorMessage(c));
    std::exit(1);
  }
  PQclear(r);
}

void pg_reset_accounts(PGconn* c, std::int64_t accounts) {
  pg_exec(c, "DROP TABLE IF EXISTS pgb_transfers; DROP TABLE IF EXISTS pgb_accounts");
  pg_exec(c, "CREATE TABLE pgb_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)");
  pg_exec(c, "CREATE TABLE pgb_transfers (id TEXT PRIMARY KEY, debit BIGINT NOT NULL, credit BIGINT NOT NULL,"
             " amount BIGINT NOT NULL, at_ms BIGINT NOT NULL)");
  pg_exec(c, "INSERT INTO pgb_accounts SELECT g, 1000000000 FROM generate_series(0, " + std::to_string(accounts - 1) +
                 ") g");
}

// The bare libpq ceiling: the same transfers, 1,000 per transaction, one multi-row INSERT and
// one set-based UPDATE of the balances per batch (netted: it checks nothing).
void raw_batches(const std::string& conninfo, const options& o) {
  auto* c = pg_connect(conninfo);
  pg_reset_accounts(c, o.accounts);
  std::mt19937_64 rng{7};
  auto t0 = steady::now();
  for (std::int64_t done = 0; done < o.transfers; done += 1000) {
    std::string insert = "INSERT INTO pgb_transfers (id, debit, credit, amount, at_ms) VALUES ";
    std::map<std::int64_t, std::int64_t> delta;
    for (int i = 0; i < 1000; ++i) {
      auto d = static_cast<std::int64_t>(rng() % o.accounts), cr = static_cast<std::int64_t>(rng() % o.accounts);
      if (i) insert += ',';
      insert += "('" + random_key() + "'," + std::to_string(d) + "," + std::to_string(cr) + ",1,0)";
      --delta[d];
      ++delta[cr];
    }
    std::string update = "UPDATE pgb_accounts a SET balance = a.balance + v.d FROM (VALUES ";
    bool first = true;
    for (auto [id, d] : delta) {
      if (!first) update += ',';
      first = false;
      update += "(" + std::to_string(id) + "::BIGINT," + std::to_string(d) + "::BIGINT)";
    }
    update += ") AS v(id, d) WHERE a.id = v.id";
    pg_exec(c, "BEGIN");
    pg_exec(c, insert);
    pg_exec(c, update);
    pg_exec(c, "COMMIT");
  }
  row("postgres", "baseline: bare libpq, set-based batches of 1,000", o.transfers, seconds_since(t0));
  PQfinish(c);
}

// pgbench with a one-call plpgsql transfer (balance checked, rows locked in id order).
void pgbench_runs(const std::string& conninfo, const options& o) {
  auto* c = pg_connect(conninfo);
  pg_reset_accounts(c, o.accounts);
  pg_exec(c, R"sql(
CREATE OR REPLACE FUNCTION pgb_transfer(k TEXT, d BIGINT, c BIGINT, a BIGINT) RETURNS BOOLEAN AS $$
BEGIN
  IF d = c THEN RETURN FALSE; END IF;
  PERFORM 1 FROM pgb_accounts WHERE id IN (d, c) ORDER BY id FOR UPDATE;
  UPDATE pgb_accounts SET balance = balance - a WHERE id = d AND balance >= a;
  IF NOT FOUND THEN RETURN FALSE; END IF;
  UPDATE pgb_accounts SET balance = balance + a WHERE id = c;
  INSERT INTO pgb_transfers (id, debit, credit, amount, at_ms) VALUES (k, d, c, a, 0);
  RETURN TRUE;
END $$ LANGUAGE plpgsql)sql");
  PQfinish(c);
  auto dir = std::filesystem::temp_directory_path() / ("ledger-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (bool hot : {false, true}) {
    auto script = (dir / (hot ? "hot.sql" : "random.sql")).string();
    std::ofstream{script} << (hot ? "\\set d 0\n" : "\\set d random(0, " + std::to_string(o.accounts - 1) + ")\n")
                          << "\\set c random(1, " << o.accounts - 1 << ")\n"
                          << "SELECT pgb_transfer(md5(random()::text || clock_timestamp()::text), :d, :c, 1);\n";
    auto out = (dir / "pgbench.out").string();
    auto cmd = "pgbench -n -c " + std::to_string(o.pgbench_clients) + " -j 2 -T " + std::to_string(o.pgbench_seconds) +
               " -f " + script + " \"" + conninfo + "\" > " + out + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "ledger_bench: pgbench failed:\n");
      [[maybe_unused]] int shown = std::system(("cat " + out + " >&2").c_str());
      std::exit(1);
    }
    std::ifstream in{out};
    std::string line;
    std::int64_t processed = 0;
    while (std::getline(in, line))
      if (line.rfind("number of transactions actually processed: ", 0) == 0)
        processed = std::strtoll(line.c_str() + 43, nullptr, 10);
    row("postgres",
        hot ? "baseline: pgbench one-call plpgsql, 16 clients, hot account"
            : "baseline: pgbench one-call plpgsql, 16 clients, random accounts",
        processed, o.pgbench_seconds);
  }
  std::filesystem::remove_all(dir);
}

// ---- SQLite baseline -------------------------------------------------------------------

void sqlite_raw(const std::filesystem::path& dir, const options& o) {
  sqlite3* db = nullptr;
  sqlite3_open((dir / "raw.db").string().c_str(), &db);
  auto exec = [db](const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::fprintf(stderr, "ledger_bench: sqlite: %s\n", err);
      std::exit(1);
    }
  };
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
       "CREATE TABLE transfers (id TEXT PRIMARY KEY, debit INTEGER, credit INTEGER, amount INTEGER);");
  exec("WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < " + std::to_string(o.accounts - 1) +
       ") INSERT INTO accounts SELECT x, 1000000000 FROM g;");
  sqlite3_stmt *ins = nullptr, *debit = nullptr, *credit = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO transfers VALUES (?1, ?2, ?3, 1)", -1, &ins, nullptr);
  sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance - 1 WHERE id = ?1 AND balance >= 1", -1, &debit, nullptr);
  sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + 1 WHERE id = ?1", -1, &credit, nullptr);
  std::mt19937_64 rng{3};
  auto t0 = steady::now();
  for (std::int64_t i = 0; i < o.sqlite_raw; ++i) {
    auto d = static_cast<sqlite3_int64>(rng() % o.accounts), c = static_cast<sqlite3_int64>(rng() % o.accounts);
    auto key = random_key();
    exec("BEGIN");
    sqlite3_bind_text(ins, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 2, d);
    sqlite3_bind_int64(ins, 3, c);
    sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_bind_int64(debit, 1, d);
    sqlite3_step(debit);
    sqlite3_reset(debit);
    sqlite3_bind_int64(credit, 1, c);
    sqlite3_step(credit);
    sqlite3_reset(credit);
    exec("COMMIT");
  }
  row("sqlite", "baseline: raw batch-of-one inserts (a transaction each)", o.sqlite_raw, seconds_since(t0));
  sqlite3_finalize(ins);
  sqlite3_finalize(debit);
  sqlite3_finalize(credit);
  sqlite3_close(db);
}

std::string start_pg(const std::filesystem::path& state) {
  auto cmd = std::string{SUPERAPP_SOURCE_DIR} + "/scripts/pg-test-server start " + state.string() + " >&2";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "ledger_bench: no PostgreSQL server (scripts/pg-test-server)\n");
    std::exit(1);
  }
  std::string line;
  std::getline(std::ifstream{(state / "conninfo").string()}, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i += 2) {
    // A flag without its value (`--help` too) falls through to the usage below.
    std::string flag = argv[i], value = i + 1 < argc ? argv[i + 1] : "";
    if (value.empty()) flag.clear();
    if (flag == "--engine") o.engine = value;
    else if (flag == "--conninfo") o.conninfo = value;
    else if (flag == "--transfers") o.transfers = std::atoll(value.c_str());
    else if (flag == "--accounts") o.accounts = std::atoll(value.c_str());
    else if (flag == "--in-flight") o.in_flight = std::atoi(value.c_str());
    else if (flag == "--request-timeout-s")
      o.request_timeout_s = std::atoi(value.c_str());
    else if (flag == "--pgbench-seconds") o.pgbench_seconds = std::atoi(value.c_str());
    else if (flag == "--sqlite-raw") o.sqlite_raw = std::atoll(value.c_str());
    else if (flag == "--index-every") o.index_every = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--recent-ids")
      o.recent_ids = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--commits-in-flight")
      o.commits_in_flight = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--scheduler-idle-polls")
      o.scheduler_idle_polls = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--index-pass" &&
             (value == "engine" || value == "commit" || value == "beside"))
      o.index_pass = value == "commit"   ? index_pass_mode::in_commit
                     : value == "beside" ? index_pass_mode::beside
                                         : index_pass_mode::by_engine;
    else {
      std::fprintf(
          stderr,
          "usage: bench_ledger [--engine sqlite|postgres|both] [--conninfo CONNINFO] "
          "[--transfers N]\n"
          "                    [--accounts N] [--in-flight N] [--pgbench-seconds S] "
          "[--sqlite-raw N]\n"
          "                    [--request-timeout-s S] [--index-every N] [--recent-ids N]\n"
          "                    [--commits-in-flight N] [--index-pass engine|commit|beside]\n"
          "                    [--scheduler-idle-polls N]\n");
      return 2;
    }
  }
  if (o.transfers <= 0) o.transfers = 2 * static_cast<std::int64_t>(o.index_every);
  spdlog::set_level(spdlog::level::warn);
  auto dir = std::filesystem::temp_directory_path() / ("superapp-ledger-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::printf(
      "ledger_bench: %lld transfers, %lld accounts, %d in flight, index every %zu, %zu recent ids,"
      " commits in flight %s, index pass %s, request timeout %s, scheduler idle polls %zu;"
      " ratios are target / baseline\n\n",
      static_cast<long long>(o.transfers), static_cast<long long>(o.accounts), o.in_flight,
      o.index_every, o.recent_ids,
      o.commits_in_flight > 0 ? std::to_string(o.commits_in_flight).c_str()
                              : "by engine (PostgreSQL 2, SQLite 1)",
      o.index_pass == index_pass_mode::in_commit ? "in a commit"
      : o.index_pass == index_pass_mode::beside  ? "beside the commits"
                                                 : "by engine (beside the commits)",
      o.request_timeout_s > 0 ? (std::to_string(o.request_timeout_s) + " s").c_str() : "none",
      o.scheduler_idle_polls);
  std::printf("| engine | run | transfers | s | transfers/s | note |\n|---|---|---|---|---|---|\n");
  if (o.engine == "sqlite" || o.engine == "both") {
    sqlite_raw(dir, o);
    persistence::database_config db;
    db.sqlite_directory = dir.string();
    if (o.index_pass == index_pass_mode::by_engine) {
      // ADR 0025's baseline: the index pass in a commit, which held the one write lock before
      // the index had a file of its own.
      auto in_commit = o;
      in_commit.index_pass = index_pass_mode::in_commit;
      ledger_runs("sqlite", db, in_commit, " (index pass in a commit)", "_commit");
    }
    ledger_runs("sqlite", db, o);
  }
  if (o.engine == "postgres" || o.engine == "both") {
    bool own = o.conninfo.empty();
    if (own) o.conninfo = start_pg(dir / "pg");
    pgbench_runs(o.conninfo, o);
    raw_batches(o.conninfo, o);
    persistence::database_config db;
    db.engine_kind = persistence::engine::postgres;
    db.pg_conninfo = o.conninfo;
    if (o.commits_in_flight == 0) {
      // ADR 0021's baseline: the same writer with one commit in flight, on the same server.
      auto one = o;
      one.commits_in_flight = 1;
      ledger_runs("postgres", db, one, " (one commit in flight)", "_one");
    }
    if (o.index_pass == index_pass_mode::by_engine) {
      // ADR 0022's baseline: the index pass in a commit, chained with the others.
      auto in_commit = o;
      in_commit.index_pass = index_pass_mode::in_commit;
      ledger_runs("postgres", db, in_commit, " (index pass in a commit)", "_commit");
    }
    ledger_runs("postgres", db, o);
    if (own) std::system((std::string{SUPERAPP_SOURCE_DIR} + "/scripts/pg-test-server stop " + (dir / "pg").string()).c_str());
  }
  // Issue 7's goals, and the in-run baselines of ADR 0021 and 0022, from the rows above.
  struct goal {
    const char* engine;
    const char* target;
    const char* baseline;
    const char* wanted;
  };
  const goal goals[] = {
      {"sqlite", "ledger writer, random accounts",
       "baseline: raw batch-of-one inserts (a transaction each)", "at least 10x"},
      {"postgres", "ledger writer, random accounts",
       "baseline: pgbench one-call plpgsql, 16 clients, random accounts", "at least 5x"},
      {"postgres", "ledger writer, random accounts",
       "baseline: bare libpq, set-based batches of 1,000", "at least 0.5x"},
      {"postgres", "ledger writer, hot account",
       "baseline: pgbench one-call plpgsql, 16 clients, hot account", "at least 5x"},
      {"postgres", "ledger writer, random accounts",
       "ledger writer (one commit in flight), random accounts", "ADR 0021"},
      {"postgres", "ledger writer, random accounts",
       "ledger writer (index pass in a commit), random accounts", "ADR 0022"},
      {"sqlite", "ledger writer, random accounts",
       "ledger writer (index pass in a commit), random accounts", "ADR 0025"},
      {"sqlite", "ledger writer, hot account",
       "ledger writer (index pass in a commit), hot account", "ADR 0025"},
  };
  bool header = false;
  for (const auto& g : goals) {
    auto t = rates().find(std::string{g.engine} + "|" + g.target);
    auto b = rates().find(std::string{g.engine} + "|" + g.baseline);
    if (t == rates().end() || b == rates().end() || b->second <= 0) continue;
    if (!header)
      std::printf(
          "\n| engine | target | baseline | target / baseline | goal |\n"
          "|---|---|---|---|---|\n");
    header = true;
    std::printf("| %s | %s | %s | %.2fx | %s |\n", g.engine, g.target, g.baseline,
                t->second / b->second, g.wanted);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
