// The ledger's tables and statements (the same SQL on SQLite and PostgreSQL): what the ledger
// writer loads at start and the one set-based unit of work it commits per batch. No CAF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/banking/ledger_core.hpp"
#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"

namespace superapp::banking::store {

std::vector<persistence::migration> migrations();
// SQLite: the index file's (sup::companion_file "indexes", ADR 0025): the lookups by id and by
// account, their runs and how far they reach. On PostgreSQL the main migrations make them.
std::vector<persistence::migration> index_file_migrations();

using conn = persistence::connection;

// Everything the core needs after a start: accounts with their balances, pending transfers
// still pending, and every transfer id (for idempotency): the newest `recent` with their
// fields, the older ones as ledger_core::id_hash (ADR 0020). `next_seq` is one past the highest
// transfer sequence.
struct loaded {
  std::vector<std::pair<account, balances>> accounts;
  std::vector<std::pair<transfer, std::int64_t>> pending;  // with its seq
  std::vector<transfer> transfers;  // the newest transfers as recorded, oldest first
  std::vector<std::uint64_t> older_id_hashes;
  std::vector<std::pair<std::string, std::int64_t>> approvals;  // spent: id, expires_at_s
  std::int64_t next_seq = 1;
  std::int64_t indexed_through = 0;  // transfer_ids and account_transfers cover seq up to here
  std::int64_t last_commit = 0;      // the id of the ledger's newest commit (ADR 0021)
  std::int64_t index_runs = 0;       // runs of the index by id (ADR 0025)
};
// The older ids are read `range` sequence numbers at a time (> 0).
caf::expected<loaded> load(conn& c, std::size_t recent, std::int64_t range = 65'536);

// A transfer as recorded (the fields ledger_core::digest_of reads, as the core accepted them),
// found by id; nullopt when there is none.
caf::expected<std::optional<transfer>> find_recorded(conn& c, const std::string& transfer_id);

// A transfer the core accepted, with the ledger's sequence number (statement order, cursors).
struct recorded_transfer {
  applied_transfer applied;
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;
  std::int64_t pending_seq = 0;  // post_pending, void_pending: the pending transfer's seq
};

// An approval of identity's spent by a transfer (single use, ADR 0013).
struct spent_approval {
  std::string approval_id;
  std::string transfer_id;
  std::int64_t expires_at_s = 0;
};

// Adds one batch to `unit`: new accounts, the transfers (a row set: COPY on PostgreSQL), the
// state of the pending transfers they posted or voided, and the balances of every account they
// touched, with the absolute values the core holds (a multi-row upsert; on PostgreSQL, from
// 1,000 stored accounts, one UPDATE joined to arrays of them, ADR 0023). `approvals`: spent by
// this batch's transfers. `purge_before_s` > 0 also deletes the spent approvals that expired
// before it.
void add_batch(persistence::unit_of_work& unit, persistence::engine engine,
               const std::vector<account>& new_accounts,
               const std::vector<recorded_transfer>& transfers, const ledger_core& core,
               const std::vector<spent_approval>& approvals = {}, std::int64_t purge_before_s = 0);

// The chain (ADR 0021): moves ledger_index.last_commit from `after` (the commit this one
// follows) to `id` (this one's, never used before), and fails the unit when the database holds
// another id: the commit before this one did not land, or a ledger that is gone committed
// since this one loaded. First in a unit.
void add_commit_guard(persistence::unit_of_work& unit, std::int64_t after, std::int64_t id);

// Indexes the transfers with seq in (`after_seq`, `through_seq`] by id and by account (the
// index tables, ADR 0018), and moves index_progress.indexed_through from `after_seq` to
// `through_seq` (with `last_id`, the id at that seq): a unit that did not start where the
// database is fails on that row. The ids join the newest run while it holds fewer than
// `run_size`, else start a run named `through_seq` (ADR 0025): small passes (an idle ledger's)
// do not make a run each. Its last step counts the runs the index has then: runs_after_pass
// reads it from the unit's results. By account, SQLite gets an entry a transfer and account
// in `account_transfers`; PostgreSQL a row per account and pass with the seqs of its statement
// lines (immediate transfers and posts), at most `account_list_seqs` a row
// (`account_transfer_lists`, ADR 0026).
void add_index_pass(persistence::unit_of_work& unit, persistence::engine engine,
                    std::int64_t after_seq, std::int64_t through_seq, std::int64_t run_size);
inline constexpr std::int64_t account_list_seqs = 128;
std::int64_t runs_after_pass(const std::vector<persistence::result>& results);

// SQLite, on a writer of the index file (the books attached): the index must be of these
// books: its last indexed transfer the one they have at that seq. One that is not (a file of
// other books, or of these before a main file was restored from a backup) is emptied, so the
// indexer builds it again from `transfers`; true when it was.
caf::expected<bool> reset_unmatched_index(conn& c);

// The index's runs (ADR 0025), oldest first.
struct index_run {
  std::int64_t run = 0;
  std::int64_t ids = 0;
};
caf::expected<std::vector<index_run>> index_runs(conn& c);

// Runs are merged `fan_in` at a time, by size: a run of up to `run_size` ids is of size class
// 0, up to run_size * fan_in of class 1, and so on. The oldest `fan_in` runs of the smallest
// class that has that many, the newest run left out (passes may still fill it); empty when no
// class has enough.
std::vector<index_run> runs_to_merge(const std::vector<index_run>& runs, std::int64_t run_size,
                                     std::size_t fan_in);

// Writes the ids of `runs` as one run named `into` (after every run there is) and drops them;
// answers how many ids that is. Every count must match what the unit found, or the unit fails:
// another indexer merged or filled them meanwhile.
std::int64_t add_merge_runs(persistence::unit_of_work& unit, const std::vector<index_run>& runs,
                            std::int64_t into);

// Reads for the client ops (reader connections; never the writer's).
struct account_row {
  account acct;
  balances bal;
};
// Accounts whose id starts with `prefix` (non-empty), by id: a user's wallets ("wallet:<user>:").
caf::expected<std::vector<account_row>> accounts_with_prefix(conn& c, const std::string& prefix);

struct transfer_row {
  std::int64_t seq = 0;
  std::string transfer_id;
  std::string kind;
  std::string debit_account;
  std::string credit_account;
  std::int64_t amount = 0;  // as asked
  std::int64_t moved = 0;   // what it moved, reserved or released
  std::string currency;
  std::string pending_id;
  std::int64_t expires_at_s = 0;
  std::string pending_state;  // pending transfers: pending | posted | voided
  std::int64_t at_ms = 0;
};
caf::expected<std::optional<transfer_row>> find_transfer(conn& c, const std::string& transfer_id);

// A page of an account's statement: transfers touching it after sequence `after_seq`, oldest
// first, at most `limit`.
struct statement_line {
  std::int64_t seq = 0;
  std::string transfer_id;
  std::string kind;  // immediate | pending | post_pending | void_pending
  std::string counterparty;
  std::int64_t amount = 0;  // > 0 credited to the account, < 0 debited
  std::int64_t at_ms = 0;
};
caf::expected<std::vector<statement_line>> statement_page(conn& c, const std::string& account_id,
                                                          std::int64_t after_seq, std::int64_t limit);

std::string_view to_string(transfer_kind k);

}  // namespace superapp::banking::store
