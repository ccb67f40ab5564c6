// The ledger writer (ADR 0015): the one actor of a banking domain that changes the ledger. It
// checks each transfer against the balances in its memory, in arrival order, batches what it
// accepted into one set-based unit of work, and answers only once that unit is durable. Its
// commits form a chain (ADR 0021): up to `commits_in_flight` are sent at once, each lands only
// if the one before did, and the first, sent at start, fences off a late commit of the ledger
// before it. A failed commit ends the actor (its memory is then ahead of the database) and its
// supervisor starts it again from the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/banking/ledger_core.hpp"
#include "actors/banking/limits.hpp"
#include "protocols/clock.hpp"
#include "supervisors/domain.hpp"

namespace superapp::banking {

using open_account_atom = caf::atom_constant<caf::atom("open_acct")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;
using linked_atom = caf::atom_constant<caf::atom("linked")>;
using balance_atom = caf::atom_constant<caf::atom("balance")>;
using ledger_flush_atom = caf::atom_constant<caf::atom("l_flush")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using limits_atom = caf::atom_constant<caf::atom("limits")>;

// An approval (ADR 0013) a transfer spends: recorded in the transfer's commit, refused when
// another transfer spent it (approval_already_used). The caller verified it.
struct approval_spend {
  std::string approval_id;
  std::int64_t expires_at_s = 0;
};

// A client's batch remembers its reply under its idempotency key (persistence/idempotency.hpp)
// in the batch's own commit: a retry with the same key and items answers it again, with other
// items `idempotency_conflict`. `digest` stands for the items (ws::batch_payee).
struct batch_reply {
  std::string scope;  // persistence::idempotency_scope(user, "banking.batch")
  std::string key;
  std::string digest;
  std::string reply_json;
};

// open_account: true once the account exists as given (durably); false when its id is taken by
//               a different account.
// transfer:     the core's verdict; `ok` and `exists` only once durable. A refusal is answered
//               at once (nothing to make durable).
//               With an approval_spend: a client's transfer or hold. The approval is spent with
//               it (a retry answers `exists` whatever approval it carries), and the KYC limits
//               of its payer (per transaction, per day) and payee (balance) apply.
// linked:       a batch, all or nothing (ledger_core::apply_linked). With an approval_spend and
//               a batch_reply: a client's batch; the approval is spent once for all of it, each
//               item is judged against the KYC limits as the earlier items leave them, and the
//               reply is recorded under the key in the same commit. A key this writer has seen
//               with other items is idempotency_conflict (every result).
// balance:      what the ledger holds now for an account (committed or about to be); not_found.
// limits:       a user's limits now (kyc_limits worker, after recording them).
// Until the ledger's first commit (its fence, ADR 0021) has landed, the requests above wait in
// its mailbox.
using ledger_actor = caf::typed_actor<
    caf::replies_to<open_account_atom, account>::with<bool>,
    caf::replies_to<transfer_atom, transfer>::with<transfer_result>,
    caf::replies_to<transfer_atom, transfer, approval_spend>::with<transfer_result>,
    caf::replies_to<linked_atom, std::vector<transfer>>::with<std::vector<transfer_result>>,
    caf::replies_to<linked_atom, std::vector<transfer>, approval_spend, batch_reply>::with<
        std::vector<transfer_result>>,
    caf::replies_to<balance_atom, std::string>::with<balances>, caf::reacts_to<ledger_flush_atom>,
    caf::reacts_to<expire_atom>, caf::reacts_to<limits_atom, std::string, limits_by_currency>>;

// Where the index pass (ADR 0018) runs. In a commit: it rides in one of the ledger's commits,
// and the commits chained behind it wait for it. Beside the commits (ADR 0022): its own
// transaction on a connection of its own, while the commits go on; PostgreSQL takes both at
// once, and on SQLite the index has a file of its own (ADR 0025), so the indexer's write lock
// is not the ledger's. On SQLite a pass in a commit writes both files in one transaction,
// which SQLite makes atomic per file only: it commits the main file first, so a crash between
// leaves the index behind the books (the next pass catches up), never ahead of them.
enum class index_pass_mode { by_engine, in_commit, beside };

// SQLite: the banking domain's companion file with the index (ADR 0025), banking-indexes.db.
inline constexpr const char* index_file = "indexes";

struct ledger_settings {
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();
  std::size_t max_batch_transfers = 4000;  // a batch commits at once when it reaches this
  // Commits sent to the store before the first of them returns (ADR 0021): with 2, the next
  // batch waits at the store while the one before commits, chained to it; 1: one at a time.
  // 0: by engine, 2 on PostgreSQL (its server is idle between commits otherwise) and 1 on
  // SQLite (its commit runs on the node's own cores, so there is no idle time to fill).
  std::size_t commits_in_flight = 0;
  // Transfers are indexed by id and account behind the commits (ADR 0018), in a pass once
  // `index_every` are unindexed, and when the writer is idle (at the expiry tick).
  std::size_t index_every = 65'536;
  // Where that pass runs. by_engine: beside the commits (both engines).
  index_pass_mode index_pass = index_pass_mode::by_engine;
  // Transfer ids kept in memory with their fields' digest (about 124 bytes each); older ones
  // are kept as a 64-bit hash (12-18 bytes), and a retry of one is answered from the
  // database (ADR 0020). The default holds about 35 MB: hours of retries at a busy node's rate.
  std::size_t recent_transfer_ids = 262'144;
  // The node's; null: no series. superapp_ledger_transfer_ids{kept="memory"|"hash"},
  // superapp_ledger_holds_in_memory, superapp_ledger_older_id_lookups_total,
  // superapp_ledger_unindexed_transfers, superapp_ledger_index_passes_failed_total,
  // superapp_ledger_index_runs (per domain).
  metrics::registry* metrics = nullptr;
  std::chrono::milliseconds store_timeout{10'000};
  // A commit that carries an index pass (index_pass = in_commit) waits this long instead.
  // A pass grows with the books (ADR 0025), past `store_timeout` at tens of millions of
  // transfers, and a ledger that gave up on it would restart for every pass. The indexer beside
  // the commits (ADR 0022) waits as long for its passes.
  std::chrono::milliseconds index_pass_timeout{300'000};
  std::chrono::milliseconds expire_every{1'000};  // how often expired reservations are voided
  // The limits of users with no recorded KYC level (the default level's); empty: none.
  limits_by_currency default_limits;
};

// Loads the ledger from the domain's database (blocking: call it from the worker's start) and
// spawns the writer with it.
caf::expected<ledger_actor> start_ledger(caf::local_actor& parent, ledger_settings settings,
                                         sup::domain_context_ptr ctx);

}  // namespace superapp::banking

// Local only: the ledger's messages never cross a node (remote callers use ops).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::account)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::transfer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::approval_spend)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::batch_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<superapp::banking::transfer>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::transfer_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<superapp::banking::transfer_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::balances)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::limits_by_currency)
