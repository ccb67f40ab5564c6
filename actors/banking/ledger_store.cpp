// The ledger's tables and its set-based batch (ADR 0015).
#include "actors/banking/ledger_store.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <unordered_set>

#include "actors/banking/limits.hpp"
#include "actors/banking/payments_store.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/outbox.hpp"
#include "protocols/assert.hpp"

namespace superapp::banking::store {
namespace {

using persistence::int_at;
using persistence::is_null;
using persistence::statement;
using persistence::text_at;
using persistence::value;

// The transfers a statement shows (immediate transfers and posts; not holds or voids): the
// filter of its reads, and on PostgreSQL of what the passes list by account (ADR 0026), whose
// pages rely on every list holding such a line.
constexpr std::string_view statement_kinds = "kind IN ('immediate', 'post_pending')";

// The columns of `accounts`, and of `transfers` after its key and id, as migration 1 made them:
// the SQLite rebuilds of migrations 7 and 8 declare the same ones and copy every row.
// `moved` is what the transfer did to the balances (a post of part of a reservation moves less
// than it reserved; a void releases the reservation); `amount` is what was asked, kept to
// recognise the same request again.
constexpr auto account_columns = R"sql(
  account_id TEXT PRIMARY KEY,
  currency TEXT NOT NULL,
  flags BIGINT NOT NULL,
  debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL,
  credits_pending BIGINT NOT NULL,
  credits_posted BIGINT NOT NULL
)sql";
constexpr auto transfer_columns = R"sql(
  kind TEXT NOT NULL,
  debit_account TEXT NOT NULL,
  credit_account TEXT NOT NULL,
  amount BIGINT NOT NULL,
  moved BIGINT NOT NULL,
  currency TEXT NOT NULL,
  pending_id TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL,
  pending_state TEXT NOT NULL,
  at_ms BIGINT NOT NULL
)sql";

std::string schema_v1() {
  return std::string{"CREATE TABLE accounts ("} + account_columns +
         ");\nCREATE TABLE transfers (\n  seq BIGINT PRIMARY KEY,\n"
         "  transfer_id TEXT NOT NULL UNIQUE," +
         transfer_columns + R"sql();
CREATE INDEX transfers_by_debit ON transfers (debit_account, seq);
CREATE INDEX transfers_by_credit ON transfers (credit_account, seq);
)sql";
}

// Identity's approvals (ADR 0013) this ledger spent, each with the transfer it paid for: an
// approval is single-use, recorded in the same commit as its transfer. Rows are purged once
// the approval has expired (nobody can present it any more).
constexpr auto schema_v4 = R"sql(
CREATE TABLE approvals_spent (
  approval_id TEXT PRIMARY KEY,
  transfer_id TEXT NOT NULL,
  expires_at_s BIGINT NOT NULL
);
)sql";

// SQLite cannot drop a column's constraint: migrations 7 and 8 rebuild `transfers` with
// `transfer_id` declared as given, every row copied.
std::string sqlite_rebuild_transfers(std::string_view transfer_id_column) {
  return "CREATE TABLE transfers_new (\n  seq INTEGER PRIMARY KEY,\n  " +
         std::string{transfer_id_column} + "," + transfer_columns + R"sql();
INSERT INTO transfers_new SELECT seq, transfer_id, kind, debit_account, credit_account, amount,
  moved, currency, pending_id, expires_at_s, pending_state, at_ms FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_new RENAME TO transfers;
)sql";
}

// SQLite only: fewer B-trees for each commit to write. In SQLite `BIGINT PRIMARY KEY` is not
// the rowid, so `transfers` kept a rowid tree and a separate unique index on seq; as `INTEGER
// PRIMARY KEY` seq is the rowid itself, and the by-account indexes need not repeat it (SQLite
// appends the rowid to every index entry, in order). `accounts` becomes WITHOUT ROWID: one
// tree keyed by account_id instead of a rowid tree plus its primary-key index, so the upsert of
// every touched account writes half the pages. PostgreSQL keeps its schema.
std::string sqlite_v7() {
  return sqlite_rebuild_transfers("transfer_id TEXT NOT NULL UNIQUE") + R"sql(
CREATE INDEX transfers_by_debit ON transfers (debit_account);
CREATE INDEX transfers_by_credit ON transfers (credit_account);
CREATE TABLE accounts_v7 ()sql" + std::string{account_columns} + R"sql() WITHOUT ROWID;
INSERT INTO accounts_v7 SELECT account_id, currency, flags, debits_pending, debits_posted,
  credits_pending, credits_posted FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_v7 RENAME TO accounts;
)sql";
}

// Both engines: `transfers` is written append-only in sequence order by each commit, and the
// lookups by id and by account move to two index tables the ledger writer fills behind it, in
// large sorted passes (ADR 0018). A commit of thousands of transfers with random ids and
// accounts otherwise puts an entry on nearly every page of three B-trees, and so rewrites about
// the whole index set into the log at every commit. `ledger_index.indexed_through` (since
// migration 12 `index_progress.indexed_through`) is the highest seq both tables cover; the rows
// above it (the tail) are found by scanning `transfers` from there. The ledger's memory holds
// every transfer id, which keeps them unique.
constexpr auto index_tables = R"sql(
CREATE TABLE ledger_index (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_through BIGINT NOT NULL
);
INSERT INTO ledger_index (id, indexed_through) VALUES (1, COALESCE((SELECT MAX(seq) FROM transfers), 0));
INSERT INTO transfer_ids (transfer_id, seq) SELECT transfer_id, seq FROM transfers;
INSERT INTO account_transfers (account_id, seq)
  SELECT debit_account, seq FROM transfers UNION ALL SELECT credit_account, seq FROM transfers;
)sql";

std::string sqlite_v8() {
  return sqlite_rebuild_transfers("transfer_id TEXT NOT NULL") + R"sql(
CREATE TABLE transfer_ids (transfer_id TEXT PRIMARY KEY, seq BIGINT NOT NULL) WITHOUT ROWID;
CREATE TABLE account_transfers (
  account_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (account_id, seq)
) WITHOUT ROWID;
)sql" + std::string{index_tables};
}

std::string postgres_v8() {
  return std::string{R"sql(
ALTER TABLE transfers DROP CONSTRAINT transfers_transfer_id_key;
DROP INDEX transfers_by_debit;
DROP INDEX transfers_by_credit;
CREATE TABLE transfer_ids (transfer_id TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE account_transfers (
  account_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (account_id, seq)
);
)sql"} + index_tables;
}

// PostgreSQL: from this many touched accounts that already exist, a batch sets their balances
// by one UPDATE joined to arrays of them rather than the multi-row upsert (ADR 0023). Measured
// at 1,000 accounts per commit: 4.3-4.5 ms against 4.7-4.9 for the upsert (10,000 accounts);
// at 3,328: 9.3 against 13-14 ms (10,000 accounts, a join by hash) and 31-35 against 36-38 ms
// (a million, a join by the primary key). Below it the planner's cost model picks a hash join
// over the whole table, which at 100-300 accounts took twice the upsert's time.
constexpr std::size_t set_update_min_accounts = 1000;

// `text` as an element of an array literal: quoted, with `"` and `\` escaped.
void append_array_text(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

transfer_kind kind_from(std::string_view s) {
  for (auto k : {transfer_kind::immediate, transfer_kind::pending, transfer_kind::post_pending,
                 transfer_kind::void_pending})
    if (to_string(k) == s) return k;
  return transfer_kind::immediate;
}

// A transfer as the core accepted it, from its row. A post or void names only its pending
// transfer: the accounts stored are that one's, so they are left out.
transfer as_accepted(std::string id, std::string_view kind, std::string debit, std::string credit,
                     std::int64_t amount, std::string currency, std::string pending_id,
                     std::int64_t expires_at_s) {
  transfer t;
  t.id = std::move(id);
  t.kind = kind_from(kind);
  const bool settles =
      t.kind == transfer_kind::post_pending || t.kind == transfer_kind::void_pending;
  if (!settles) {
    t.debit_account = std::move(debit);
    t.credit_account = std::move(credit);
  }
  t.amount = amount;
  t.currency = std::move(currency);
  t.pending_id = std::move(pending_id);
  t.expires_at_s = expires_at_s;
  return t;
}

}  // namespace

std::string_view to_string(transfer_kind k) {
  switch (k) {
    case transfer_kind::immediate:
      return "immediate";
    case transfer_kind::pending:
      return "pending";
    case transfer_kind::post_pending:
      return "post_pending";
    case transfer_kind::void_pending:
      return "void_pending";
  }
  return "immediate";
}

// Both engines: the ledger's commits form a chain (ADR 0021). Each commit's unit moves
// `ledger_index.last_commit` from the id of the commit before it to its own (random, never
// reused), so a commit can be sent while the one before it is still in flight: if that one did
// not land, this one finds another id there and fails too. A ledger restarted while an old
// commit was in flight finds the id moved by it and reloads.
constexpr auto commit_chain = R"sql(
ALTER TABLE ledger_index ADD COLUMN last_commit BIGINT NOT NULL DEFAULT 0;
)sql";

// Both engines: the index passes write their ids in runs (ADR 0025), `run` being the last seq
// of the pass that started it. Within a run the keys are sorted, and a new run sorts after
// every older one, so a pass writes at the right-hand edge of `transfer_ids`, in the newest
// run's few pages or fresh ones, whatever the table's size; with the id alone as the key, every
// pass put its random ids all over the tree and cost more as the books grew. `index_runs` lists
// the runs and how many ids each holds; a lookup probes each. The ids indexed before are one
// run, 0.
constexpr auto sqlite_runs = R"sql(
CREATE TABLE transfer_ids_v11 (
  run BIGINT NOT NULL,
  transfer_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (run, transfer_id)
) WITHOUT ROWID;
INSERT INTO transfer_ids_v11 (run, transfer_id, seq)
  SELECT 0, transfer_id, seq FROM transfer_ids ORDER BY transfer_id;
DROP TABLE transfer_ids;
ALTER TABLE transfer_ids_v11 RENAME TO transfer_ids;
CREATE TABLE index_runs (run BIGINT PRIMARY KEY, ids BIGINT NOT NULL) WITHOUT ROWID;
INSERT INTO index_runs (run, ids) SELECT 0, COUNT(*) FROM transfer_ids HAVING COUNT(*) > 0;
)sql";

constexpr auto postgres_runs = R"sql(
ALTER TABLE transfer_ids ADD COLUMN run BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transfer_ids ALTER COLUMN run DROP DEFAULT;
ALTER TABLE transfer_ids DROP CONSTRAINT transfer_ids_pkey;
ALTER TABLE transfer_ids ADD PRIMARY KEY (run, transfer_id);
CREATE TABLE index_runs (run BIGINT PRIMARY KEY, ids BIGINT NOT NULL);
INSERT INTO index_runs (run, ids) SELECT 0, COUNT(*) FROM transfer_ids HAVING COUNT(*) > 0;
ANALYZE index_runs;
)sql";

// The lookups' progress in a table of its own (ADR 0025): on SQLite it lives in the index
// file with the lookups, and `ledger_index` keeps the chain's head in the main file. `last_id`
// is the id of the transfer at `indexed_through`: an index file that does not match the books
// beside it (a main file restored from a backup, say) is found at start and rebuilt.
constexpr auto progress_table = R"sql(
CREATE TABLE index_progress (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_through BIGINT NOT NULL,
  last_id TEXT NOT NULL
);
)sql";

// SQLite: the lookups move to the index file (`banking-indexes.db`, ADR 0025), where the
// indexer writes them beside the commits without taking the ledger's write lock. The file
// starts empty and the indexer fills it from `transfers`, pass by pass, as after any start.
constexpr auto sqlite_lookups_out = R"sql(
DROP TABLE main.transfer_ids;
DROP TABLE main.account_transfers;
DROP TABLE main.index_runs;
ALTER TABLE main.ledger_index DROP COLUMN indexed_through;
)sql";

std::string postgres_progress() {
  return std::string{progress_table} + R"sql(
INSERT INTO index_progress (id, indexed_through, last_id)
  SELECT 1, l.indexed_through,
    COALESCE((SELECT t.transfer_id FROM transfers t WHERE t.seq = l.indexed_through), '')
  FROM ledger_index l;
ALTER TABLE ledger_index DROP COLUMN indexed_through;
)sql";
}

// PostgreSQL: the lookup by account as lists (ADR 0026). A pass writes a row for each account
// it touched, that account's seqs of the pass in an array of at most account_list_seqs (kept
// under the size at which PostgreSQL compresses a row or moves it out of line), keyed by the
// last of them. With an entry a transfer and account, each pass put an entry under every
// account, on about every leaf of the index, which at a million transfers over 10,000
// accounts wrote 88 MB of log a pass of 65,536 transfers; as lists, 8 MB (one-off, psql). A
// list's seqs are in order, and an account's lists are too, by `last_seq`: a statement reads
// them in key order. They hold the statements' lines only (immediate transfers and posts, not
// holds and voids), so every list holds one. `account_transfers` stays, as a view of the
// entries.
std::string postgres_account_lists() {
  return std::string{R"sql(
CREATE TABLE account_transfer_lists (
  account_id TEXT NOT NULL,
  last_seq BIGINT NOT NULL,
  seqs BIGINT[] NOT NULL,
  PRIMARY KEY (account_id, last_seq)
);
INSERT INTO account_transfer_lists (account_id, last_seq, seqs)
  SELECT account_id, MAX(seq), array_agg(seq ORDER BY seq)
  FROM (SELECT a.account_id, a.seq,
          (row_number() OVER (PARTITION BY a.account_id ORDER BY a.seq) - 1) / )sql"} +
         std::to_string(account_list_seqs) + R"sql( AS part
        FROM account_transfers a JOIN transfers t ON t.seq = a.seq
        WHERE t.kind IN ('immediate', 'post_pending')) AS numbered
  GROUP BY account_id, part ORDER BY 1, 2;
DROP TABLE account_transfers;
CREATE VIEW account_transfers AS
  SELECT account_id, unnest(seqs) AS seq FROM account_transfer_lists;
)sql";
}

std::string index_file_v1() {
  return std::string{R"sql(
CREATE TABLE transfer_ids (
  run BIGINT NOT NULL,
  transfer_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (run, transfer_id)
) WITHOUT ROWID;
CREATE TABLE account_transfers (
  account_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (account_id, seq)
) WITHOUT ROWID;
CREATE TABLE index_runs (run BIGINT PRIMARY KEY, ids BIGINT NOT NULL) WITHOUT ROWID;
)sql"} + progress_table +
         "INSERT INTO index_progress (id, indexed_through, last_id) VALUES (1, 0, '');\n";
}

std::vector<persistence::migration> migrations() {
  return {persistence::migration{1, "banking: ledger accounts and transfers", schema_v1()},
          persistence::outbox_migration(2),
          persistence::idempotency_migration(3),
          persistence::migration{4, "banking: approvals spent", schema_v4},
          payments_migration(5),
          limits_migration(6),
          persistence::migration{7, "banking: fewer trees per commit (sqlite)", "SELECT 1",
                                 sqlite_v7()},
          persistence::migration{8, "banking: transfers indexed behind the commits", "",
                                 sqlite_v8(), postgres_v8()},
          levels_migration(9),
          persistence::migration{10, "banking: the ledger's commits chained", commit_chain},
          persistence::migration{11, "banking: transfer ids indexed in runs", "", sqlite_runs,
                                 postgres_runs},
          persistence::migration{12, "banking: the lookups apart (sqlite: in a file of their own)",
                                 "", sqlite_lookups_out, postgres_progress()},
          persistence::migration{13, "banking: transfers by account in lists (postgres)", "",
                                 "SELECT 1", postgres_account_lists()}};
}

std::vector<persistence::migration> index_file_migrations() {
  return {persistence::migration{1, "banking indexes: transfers by id and by account",
                                 index_file_v1()}};
}

caf::expected<loaded> load(conn& c, std::size_t recent, std::int64_t range) {
  loaded out;
  auto accounts = c.execute({"SELECT account_id, currency, flags, debits_pending, debits_posted,"
                             " credits_pending, credits_posted FROM accounts",
                             {}});
  if (!accounts) return accounts.error();
  for (const auto& r : accounts->rows)
    out.accounts.push_back({account{text_at(r, 0), text_at(r, 1), static_cast<std::uint32_t>(int_at(r, 2))},
                            balances{int_at(r, 3), int_at(r, 4), int_at(r, 5), int_at(r, 6)}});
  auto max_seq = c.execute({"SELECT COALESCE(MAX(seq), 0) FROM transfers", {}});
  if (!max_seq) return max_seq.error();
  out.next_seq = int_at(max_seq->rows.at(0), 0) + 1;
  const auto older_through = std::max<std::int64_t>(
      0, out.next_seq - 1 - static_cast<std::int64_t>(std::min<std::size_t>(recent, INT64_MAX)));
  // Older ids in ranges of the sequence key: only a range's ids are ever held as text.
  out.older_id_hashes.reserve(static_cast<std::size_t>(older_through));
  for (std::int64_t after = 0; after < older_through; after += range) {
    auto older = c.execute({"SELECT transfer_id FROM transfers WHERE seq > $1 AND seq <= $2",
                            {after, std::min(after + range, older_through)}});
    if (!older) return older.error();
    for (const auto& r : older->rows)
      out.older_id_hashes.push_back(ledger_core::id_hash(text_at(r, 0)));
  }
  auto transfers =
      c.execute({"SELECT seq, transfer_id, kind, debit_account, credit_account, amount,"
                 " currency, pending_id, expires_at_s, pending_state FROM transfers"
                 " WHERE seq > $1 ORDER BY seq",
                 {older_through}});
  if (!transfers) return transfers.error();
  for (const auto& r : transfers->rows)
    out.transfers.push_back(as_accepted(text_at(r, 1), text_at(r, 2), text_at(r, 3), text_at(r, 4),
                                        int_at(r, 5), text_at(r, 6), text_at(r, 7), int_at(r, 8)));
  // Pending transfers still pending, of any age.
  auto pending =
      c.execute({"SELECT seq, transfer_id, kind, debit_account, credit_account, amount,"
                 " currency, pending_id, expires_at_s FROM transfers"
                 " WHERE kind = 'pending' AND pending_state = 'pending' ORDER BY seq",
                 {}});
  if (!pending) return pending.error();
  for (const auto& r : pending->rows)
    out.pending.push_back({as_accepted(text_at(r, 1), text_at(r, 2), text_at(r, 3), text_at(r, 4),
                                       int_at(r, 5), text_at(r, 6), text_at(r, 7), int_at(r, 8)),
                           int_at(r, 0)});
  auto chain = c.execute({"SELECT last_commit FROM ledger_index", {}});
  if (!chain) return chain.error();
  if (!chain->rows.empty()) out.last_commit = int_at(chain->rows[0], 0);
  auto indexed = c.execute({"SELECT indexed_through FROM index_progress", {}});
  if (!indexed) return indexed.error();
  if (!indexed->rows.empty()) out.indexed_through = int_at(indexed->rows[0], 0);
  auto approvals = c.execute({"SELECT approval_id, expires_at_s FROM approvals_spent", {}});
  if (!approvals) return approvals.error();
  for (const auto& r : approvals->rows) out.approvals.push_back({text_at(r, 0), int_at(r, 1)});
  auto runs = c.execute({"SELECT COUNT(*) FROM index_runs", {}});
  if (!runs) return runs.error();
  out.index_runs = runs->rows.empty() ? 0 : int_at(runs->rows[0], 0);
  return out;
}

void add_batch(persistence::unit_of_work& unit, persistence::engine engine,
               const std::vector<account>& new_accounts,
               const std::vector<recorded_transfer>& transfers, const ledger_core& core,
               const std::vector<spent_approval>& approvals, std::int64_t purge_before_s) {
  // Touched accounts, each once and in id order (each B-tree written in key order), with the
  // balances the core holds now.
  using account_state = ledger_core::account_state;
  std::vector<const account_state*> accounts;
  accounts.reserve(new_accounts.size() + 2 * transfers.size());
  auto touch = [&](std::string_view id) {
    if (const auto* a = core.state_of(id)) accounts.push_back(a);
  };
  for (const auto& a : new_accounts) touch(a.id);
  for (const auto& t : transfers) {
    touch(t.applied.debit_account);
    touch(t.applied.credit_account);
  }
  std::sort(accounts.begin(), accounts.end(),
            [](const account_state* a, const account_state* b) { return a->acct.id < b->acct.id; });
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  persistence::row_set rows{
      "transfers",
      {"seq", "transfer_id", "kind", "debit_account", "credit_account", "amount", "moved",
       "currency", "pending_id", "expires_at_s", "pending_state", "at_ms"},
      {}};
  rows.values.reserve(transfers.size() * rows.columns.size());
  for (const auto& r : transfers) {
    const auto& t = r.applied.t;
    rows.values.insert(
        rows.values.end(),
        {r.seq, t.id, std::string{to_string(t.kind)}, r.applied.debit_account,
         r.applied.credit_account, t.amount, r.applied.amount, t.currency, t.pending_id,
         t.expires_at_s, std::string{t.kind == transfer_kind::pending ? "pending" : ""}, r.at_ms});
  }
  unit.add_rows(std::move(rows));
  for (const auto& r : transfers) {
    const auto& t = r.applied.t;
    if (t.kind != transfer_kind::post_pending && t.kind != transfer_kind::void_pending) continue;
    unit.add(
        {"UPDATE transfers SET pending_state = $2 WHERE seq = $1 AND pending_state = 'pending'",
         {r.pending_seq, std::string{t.kind == transfer_kind::post_pending ? "posted" : "voided"}}},
        1);
  }
  const std::vector<std::string> account_row{"account_id",     "currency",      "flags",
                                             "debits_pending", "debits_posted", "credits_pending",
                                             "credits_posted"};
  auto account_values = [](const account_state* s, std::vector<value>& p) {
    const auto& [a, b] = *s;
    p.insert(p.end(), {a.id, a.currency, static_cast<std::int64_t>(a.flags), b.debits_pending,
                       b.debits_posted, b.credits_pending, b.credits_posted});
  };
  std::unordered_set<std::string_view> is_new;
  std::size_t existing = 0;
  if (engine == persistence::engine::postgres) {
    for (const auto& a : new_accounts) is_new.insert(a.id);
    existing = static_cast<std::size_t>(
        std::count_if(accounts.begin(), accounts.end(),
                      [&](const account_state* a) { return !is_new.contains(a->acct.id); }));
  }
  if (existing >= set_update_min_accounts) {
    // ADR 0023: the new accounts are inserted (a row set), and the others' balances set by one
    // UPDATE joined to arrays of them, which must find every one.
    persistence::row_set created{"accounts", account_row, {}};
    std::array<std::string, 5> arrays;
    for (auto& a : arrays) a = "{";
    for (const auto* a : accounts) {
      if (is_new.contains(a->acct.id)) {
        account_values(a, created.values);
        continue;
      }
      const auto& b = a->bal;
      const bool first = arrays[0].size() == 1;
      if (!first)
        for (auto& array : arrays) array += ',';
      append_array_text(arrays[0], a->acct.id);
      arrays[1] += std::to_string(b.debits_pending);
      arrays[2] += std::to_string(b.debits_posted);
      arrays[3] += std::to_string(b.credits_pending);
      arrays[4] += std::to_string(b.credits_posted);
    }
    for (auto& a : arrays) a += '}';
    unit.add_rows(std::move(created));
    unit.add({"UPDATE accounts SET debits_pending = s.debits_pending,"
              " debits_posted = s.debits_posted, credits_pending = s.credits_pending,"
              " credits_posted = s.credits_posted"
              " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])"
              " AS s (account_id, debits_pending, debits_posted, credits_pending, credits_posted)"
              " WHERE accounts.account_id = s.account_id",
              {arrays[0], arrays[1], arrays[2], arrays[3], arrays[4]}},
             static_cast<std::int64_t>(existing));
  } else {
    // SQLite (in process, where it costs little), and PostgreSQL's smaller batches: every
    // touched account upserted, in the row sets' multi-row shapes.
    persistence::row_set upserted{"accounts", account_row, {}};
    upserted.values.reserve(accounts.size() * account_row.size());
    for (const auto* a : accounts) account_values(a, upserted.values);
    auto statements = persistence::multi_row_inserts(std::move(upserted));
    SUPERAPP_ASSERT(statements);  // the names above are identifiers
    for (auto& s : *statements) {
      const auto rows = static_cast<std::int64_t>(s.params.size() / account_row.size());
      s.sql +=
          " ON CONFLICT (account_id) DO UPDATE SET debits_pending = excluded.debits_pending,"
          " debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending,"
          " credits_posted = excluded.credits_posted";
      unit.add(std::move(s), rows);
    }
  }
  // A second spend of an approval fails the whole batch (the writer's memory should have
  // refused it; the database is the last word).
  persistence::row_set spent{"approvals_spent", {"approval_id", "transfer_id", "expires_at_s"}, {}};
  for (const auto& a : approvals)
    spent.values.insert(spent.values.end(), {a.approval_id, a.transfer_id, a.expires_at_s});
  unit.add_rows(std::move(spent));
  if (purge_before_s > 0)
    unit.add({"DELETE FROM approvals_spent WHERE expires_at_s < $1", {purge_before_s}},
             std::nullopt);
}

void add_commit_guard(persistence::unit_of_work& unit, std::int64_t after, std::int64_t id) {
  unit.add({"UPDATE ledger_index SET last_commit = $2 WHERE last_commit = $1", {after, id}}, 1);
}

void add_index_pass(persistence::unit_of_work& unit, persistence::engine engine,
                    std::int64_t after_seq, std::int64_t through_seq, std::int64_t run_size) {
  // The run the ids go to (ADR 0025): the newest while it holds fewer than run_size, else a new
  // one, named by this pass's last seq, after every older run. Both statements see the same
  // runs, so they name the same one.
  static constexpr auto run =
      "COALESCE((SELECT CASE WHEN ids < $3 THEN run END FROM index_runs ORDER BY run DESC"
      " LIMIT 1), $2)";
  // Sorted, so each B-tree is written in key order: every page it touches, once.
  unit.add({std::string{"INSERT INTO transfer_ids (run, transfer_id, seq) SELECT "} + run +
                ", transfer_id, seq FROM transfers WHERE seq > $1 AND seq <= $2"
                " ORDER BY transfer_id",
            {after_seq, through_seq, run_size}},
           std::nullopt);
  unit.add({std::string{"INSERT INTO index_runs (run, ids) VALUES ("} + run +
                ", $2 - $1) ON CONFLICT (run) DO UPDATE SET ids = index_runs.ids + excluded.ids",
            {after_seq, through_seq, run_size}},
           1);
  if (engine == persistence::engine::postgres)
    // The statements' lines only (ADR 0026): every list then holds one at least, which is
    // what bounds a page's read.
    unit.add({std::string{"INSERT INTO account_transfer_lists (account_id, last_seq, seqs)"
                          " SELECT account_id, MAX(seq), array_agg(seq ORDER BY seq)"
                          " FROM (SELECT account_id, seq, (row_number() OVER"
                          " (PARTITION BY account_id ORDER BY seq) - 1) / $3 AS part"
                          " FROM (SELECT debit_account AS account_id, seq FROM transfers"
                          " WHERE seq > $1 AND seq <= $2 AND "} +
                  std::string{statement_kinds} +
                  " UNION ALL SELECT credit_account, seq FROM transfers"
                  " WHERE seq > $1 AND seq <= $2 AND " +
                  std::string{statement_kinds} +
                  ") AS entries) AS numbered GROUP BY account_id, part ORDER BY 1, 2",
              {after_seq, through_seq, account_list_seqs}},
             std::nullopt);
  else
    unit.add({"INSERT INTO account_transfers (account_id, seq)"
              " SELECT debit_account, seq FROM transfers WHERE seq > $1 AND seq <= $2"
              " UNION ALL SELECT credit_account, seq FROM transfers WHERE seq > $1 AND seq <= $2"
              " ORDER BY 1, 2",
              {after_seq, through_seq}},
             std::nullopt);
  unit.add({"UPDATE index_progress SET indexed_through = $2,"
            " last_id = (SELECT transfer_id FROM transfers WHERE seq = $2)"
            " WHERE indexed_through = $1",
            {after_seq, through_seq}},
           1);
  unit.add({"SELECT COUNT(*) FROM index_runs", {}}, 1);
}

caf::expected<bool> reset_unmatched_index(conn& c) {
  auto r =
      c.execute({"SELECT p.indexed_through, p.last_id,"
                 " (SELECT t.transfer_id FROM transfers t WHERE t.seq = p.indexed_through)"
                 " FROM index_progress p",
                 {}});
  if (!r) return r.error();
  if (r->rows.empty()) return false;
  const auto& row = r->rows[0];
  if (int_at(row, 0) == 0 || (!is_null(row[2]) && text_at(row, 1) == text_at(row, 2))) return false;
  if (auto err = c.execute_script("BEGIN IMMEDIATE; DELETE FROM transfer_ids;"
                                  " DELETE FROM account_transfers; DELETE FROM index_runs;"
                                  " UPDATE index_progress SET indexed_through = 0, last_id = '';"
                                  " COMMIT;")) {
    (void)c.execute_script("ROLLBACK;");
    return err;
  }
  return true;
}

std::int64_t runs_after_pass(const std::vector<persistence::result>& results) {
  if (results.empty() || results.back().rows.empty()) return 0;
  return int_at(results.back().rows[0], 0);
}

caf::expected<std::vector<index_run>> index_runs(conn& c) {
  auto r = c.execute({"SELECT run, ids FROM index_runs ORDER BY run", {}});
  if (!r) return r.error();
  std::vector<index_run> out;
  for (const auto& row : r->rows) out.push_back({int_at(row, 0), int_at(row, 1)});
  return out;
}

std::vector<index_run> runs_to_merge(const std::vector<index_run>& runs, std::int64_t run_size,
                                     std::size_t fan_in) {
  if (runs.size() < 2 || fan_in < 2 || run_size < 1) return {};
  const auto size_class = [&](std::int64_t ids) {
    int c = 0;
    for (auto limit = run_size; ids > limit && c < 62; ++c) {
      if (limit > INT64_MAX / static_cast<std::int64_t>(fan_in)) return c + 1;
      limit *= static_cast<std::int64_t>(fan_in);
    }
    return c;
  };
  std::map<int, std::vector<index_run>> by_class;
  for (std::size_t i = 0; i + 1 < runs.size(); ++i)
    by_class[size_class(runs[i].ids)].push_back(runs[i]);
  for (auto& [c, of_class] : by_class)
    if (of_class.size() >= fan_in) {
      of_class.resize(fan_in);
      return of_class;
    }
  return {};
}

std::int64_t add_merge_runs(persistence::unit_of_work& unit, const std::vector<index_run>& runs,
                            std::int64_t into) {
  SUPERAPP_ASSERT(!runs.empty());
  // The runs are $1..$n in every statement; the merged run's name follows them where used.
  std::string in;
  std::vector<persistence::value> names;
  std::int64_t ids = 0;
  for (const auto& r : runs) {
    names.emplace_back(r.run);
    in += (in.empty() ? "$" : ", $") + std::to_string(names.size());
    ids += r.ids;
  }
  const auto into_param = "$" + std::to_string(names.size() + 1);
  auto with_into = names;
  with_into.emplace_back(into);
  // Sorted: the merged run is written in key order, into fresh pages after every other run.
  unit.add(
      {"INSERT INTO transfer_ids (run, transfer_id, seq) SELECT " + into_param +
           ", transfer_id, seq FROM transfer_ids WHERE run IN (" + in + ") ORDER BY transfer_id",
       with_into},
      ids);
  unit.add({"DELETE FROM transfer_ids WHERE run IN (" + in + ")", names}, ids);
  unit.add({"DELETE FROM index_runs WHERE run IN (" + in + ")", std::move(names)},
           static_cast<std::int64_t>(runs.size()));
  unit.add({"INSERT INTO index_runs (run, ids) VALUES ($1, $2)", {into, ids}}, 1);
  return ids;
}

caf::expected<std::vector<account_row>> accounts_with_prefix(conn& c, const std::string& prefix) {
  // A range on the primary key: every id that starts with `prefix` (which ends in ':').
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  auto r = c.execute({"SELECT account_id, currency, flags, debits_pending, debits_posted,"
                      " credits_pending, credits_posted FROM accounts"
                      " WHERE account_id >= $1 AND account_id < $2 ORDER BY account_id",
                      {prefix, end}});
  if (!r) return r.error();
  std::vector<account_row> out;
  for (const auto& row : r->rows)
    out.push_back({account{text_at(row, 0), text_at(row, 1), static_cast<std::uint32_t>(int_at(row, 2))},
                   balances{int_at(row, 3), int_at(row, 4), int_at(row, 5), int_at(row, 6)}});
  return out;
}

caf::expected<std::optional<transfer_row>> find_transfer(conn& c, const std::string& transfer_id) {
  static constexpr auto columns =
      "SELECT seq, transfer_id, kind, debit_account, credit_account, amount, moved, currency,"
      " pending_id, expires_at_s, pending_state, at_ms FROM transfers";
  // The id's seq: one probe of the primary key per run of the index (ADR 0025). A correlated
  // probe per run, not `run IN (SELECT run FROM index_runs)`: PostgreSQL planned that as a
  // scan of the whole table while `index_runs` had no statistics (31 ms at a million ids,
  // 0.2 ms as probes).
  static constexpr auto indexed =
      "(SELECT MAX(s) FROM (SELECT (SELECT i.seq FROM transfer_ids i WHERE i.run = r.run"
      " AND i.transfer_id = $1) AS s FROM index_runs r) AS probes)";
  // By the index alone first: an indexed row stays indexed, so a hit is the answer, without
  // scanning the unindexed tail (up to index_every rows).
  auto r = c.execute({std::string{columns} + " WHERE seq = " + indexed, {transfer_id}});
  if (!r) return r.error();
  // A miss: the index and the tail in one statement, so one snapshot. Two statements could
  // both miss a row the writer indexes between them.
  if (r->rows.empty())
    r = c.execute(
        {std::string{columns} + " WHERE seq = " + indexed +
             " OR (seq > (SELECT indexed_through FROM index_progress) AND transfer_id = $1)",
         {transfer_id}});
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<transfer_row>{};
  const auto& row = r->rows[0];
  return std::optional<transfer_row>{transfer_row{int_at(row, 0), text_at(row, 1), text_at(row, 2),
                                                  text_at(row, 3), text_at(row, 4), int_at(row, 5),
                                                  int_at(row, 6), text_at(row, 7), text_at(row, 8),
                                                  int_at(row, 9), text_at(row, 10), int_at(row, 11)}};
}

caf::expected<std::optional<transfer>> find_recorded(conn& c, const std::string& transfer_id) {
  auto row = find_transfer(c, transfer_id);
  if (!row) return row.error();
  if (!*row) return std::optional<transfer>{};
  auto& r = **row;
  return std::optional<transfer>{as_accepted(
      std::move(r.transfer_id), r.kind, std::move(r.debit_account), std::move(r.credit_account),
      r.amount, std::move(r.currency), std::move(r.pending_id), r.expires_at_s)};
}

caf::expected<std::vector<statement_line>> statement_page(conn& c, const std::string& account_id,
                                                          std::int64_t after_seq, std::int64_t limit) {
  // The indexed part (at most `limit` rows from the index) and the tail, in one statement.
  // On PostgreSQL the lists (ADR 0026): each list after the cursor holds a line at least, so
  // the first `limit` of them, in key order, hold the page's; their seqs are sorted, and only
  // the page's are looked up in `transfers`.
  const auto indexed =
      c.kind() == persistence::engine::postgres
          ? std::string{" FROM (SELECT e.seq FROM (SELECT seqs FROM account_transfer_lists"
                        " WHERE account_id = $1 AND last_seq > $2 ORDER BY last_seq LIMIT $3)"
                        " AS a CROSS JOIN LATERAL unnest(a.seqs) AS e(seq) WHERE e.seq > $2"
                        " ORDER BY e.seq LIMIT $3) AS page JOIN transfers t ON t.seq = page.seq"}
          : std::string{" FROM account_transfers a JOIN transfers t ON t.seq = a.seq"
                        " WHERE a.account_id = $1 AND a.seq > $2 AND t."} +
                std::string{statement_kinds} + " ORDER BY a.seq LIMIT $3";
  auto r = c.execute(
      {std::string{"SELECT seq, transfer_id, kind, debit_account, credit_account, moved, at_ms"
                   " FROM (SELECT t.seq, t.transfer_id, t.kind, t.debit_account,"
                   " t.credit_account, t.moved, t.at_ms"} +
           indexed +
           ") AS indexed"
           " UNION ALL"
           " SELECT seq, transfer_id, kind, debit_account, credit_account, moved, at_ms"
           " FROM (SELECT seq, transfer_id, kind, debit_account, credit_account, moved, at_ms"
           " FROM transfers WHERE seq > (SELECT CASE WHEN indexed_through > $2"
           " THEN indexed_through ELSE $2 END FROM index_progress)"
           " AND (debit_account = $1 OR credit_account = $1) AND " +
           std::string{statement_kinds} +
           " ORDER BY seq LIMIT $3) AS tail"
           " ORDER BY seq LIMIT $3",
       {account_id, after_seq, limit}});
  if (!r) return r.error();
  std::vector<statement_line> out;
  for (const auto& row : r->rows) {
    const bool debited = text_at(row, 3) == account_id;
    out.push_back({int_at(row, 0), text_at(row, 1), text_at(row, 2),
                   debited ? text_at(row, 4) : text_at(row, 3),
                   debited ? -int_at(row, 5) : int_at(row, 5), int_at(row, 6)});
  }
  return out;
}

}  // namespace superapp::banking::store
