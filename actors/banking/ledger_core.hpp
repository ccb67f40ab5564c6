// The ledger's in-memory core (ADR 0015): accounts and their balances, and the rules every
// transfer is checked against, in arrival order, before anything is written. No CAF, no SQL:
// the ledger writer applies transfers here, then makes the accepted ones durable in one commit.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/unordered/unordered_flat_set.hpp>

namespace superapp::banking {

// Account flags (bits).
inline constexpr std::uint32_t debits_must_not_exceed_credits = 1;  // no overdraft (wallets)
inline constexpr std::uint32_t credits_must_not_exceed_debits = 2;  // e.g. a funding source

struct account {
  std::string id;        // e.g. "wallet:<user>", "settlement:<biller>", "fees:GBP"
  std::string currency;  // ISO 4217
  std::uint32_t flags = 0;
};

// Minor units. What is available to spend from a no-overdraft account is
// credits_posted - debits_posted - debits_pending.
struct balances {
  std::int64_t debits_pending = 0;
  std::int64_t debits_posted = 0;
  std::int64_t credits_pending = 0;
  std::int64_t credits_posted = 0;
};

enum class transfer_kind : std::uint8_t {
  immediate,     // posted at once
  pending,       // reserves the amount until posted, voided, or `expires_at_s`
  post_pending,  // posts a pending transfer (all of it, or `amount` of it; the rest is released)
  void_pending,  // releases a pending transfer
};

struct transfer {
  std::string id;  // the caller's idempotency key, scoped ("<caller>|<key>"); unique
  transfer_kind kind = transfer_kind::immediate;
  // immediate and pending: the accounts. post_pending and void_pending: empty, or the debit
  // account the pending transfer must have (its owner acting on it; else pending_not_found).
  std::string debit_account;
  std::string credit_account;  // immediate and pending
  std::int64_t amount = 0;     // > 0; post_pending: 0 means the whole pending amount
  std::string currency;
  std::string pending_id;        // post_pending and void_pending: the pending transfer's id
  // pending: 0 never; else voided from then on. Not part of what makes a transfer the same
  // one again: a retry computes its expiry from a later clock.
  std::int64_t expires_at_s = 0;
};

enum class transfer_result : std::uint8_t {
  ok,
  exists,                    // the same transfer again: its first result stands (not re-applied)
  idempotency_conflict,      // another transfer under this id
  amount_must_be_positive,
  accounts_must_differ,
  debit_account_not_found,
  credit_account_not_found,
  currency_mismatch,         // the transfer's and both accounts' currencies differ
  exceeds_credits,           // the debit account would overdraw (insufficient funds)
  exceeds_debits,            // the credit account may not hold more than it paid in
  overflows,                 // a balance would leave int64
  pending_not_found,
  pending_already_posted,
  pending_already_voided,
  pending_expired,
  exceeds_pending_amount,    // post more than was reserved
  linked_transfer_failed,    // another transfer of its batch failed: none of them applied
  approval_already_used,     // the writer's check: the approval was spent by another transfer
  exceeds_transaction_limit,  // the writer's check: above the payer's KYC level's per-transaction cap
  exceeds_daily_limit,        // the payer's transfers and holds today would pass the per-day cap
  exceeds_balance_limit,      // the payee's wallet would hold more than its level allows
  storage_failure,            // the id may be an older transfer's, and the database did not say
};

std::string_view to_string(transfer_result r);

// A pending transfer the core still holds reserved.
struct pending_state {
  transfer original;
  enum class state : std::uint8_t { pending, posted, voided } now = state::pending;
};

// What applying one accepted transfer changed: the postings the writer makes durable.
struct applied_transfer {
  transfer t;
  std::string debit_account;   // resolved (for post/void: the pending transfer's)
  std::string credit_account;
  std::int64_t amount = 0;     // the amount that moved or was reserved / released
};

// What the database holds under a transfer id the core keeps only as a hash (ADR 0020).
struct stored_id {
  enum class state : std::uint8_t { absent, present, unreadable } now = state::absent;
  std::uint64_t digest = 0;  // present: ledger_core::digest_of the transfer as recorded
};
using id_lookup = std::function<stored_id(const std::string& id)>;

class ledger_core {
 public:
  // The fields that make a transfer the same one again (not its id, not its expiry), hashed.
  static std::uint64_t digest_of(const transfer& t);
  static std::uint64_t id_hash(std::string_view id);

  // Transfer ids (ADR 0020): the newest `recent` ids stay in memory with their digest; older
  // ones only as a 64-bit hash of the id, and a hash hit asks `lookup` (the database) whether
  // the id is really there and with what digest. Until this is called every id stays in memory.
  void keep_recent(std::size_t recent, id_lookup lookup);

  // False when the id exists (a different account, or a different currency or flags).
  bool add_account(const account& a);
  const account* find_account(std::string_view id) const;
  const balances* balance_of(std::string_view id) const;
  // An account with its balances as they are now (one lookup for both), or nullptr.
  struct account_state {
    account acct;
    balances bal;
  };
  const account_state* state_of(std::string_view id) const;
  // For a restart: balances and pending transfers as the database holds them.
  void restore(std::string_view account_id, const balances& b);
  void restore_pending(const transfer& pending, pending_state::state now);
  // A pending transfer posted or voided durably: out of memory (a later post or void of it is
  // then pending_not_found; the database tells what became of it). No-op while still pending.
  void forget_settled_pending(const std::string& id);
  std::size_t pending_in_memory() const { return pending_.size(); }
  // A transfer id the database holds, with its fields' digest (for `exists` vs conflict).
  void remember(const transfer& t);
  // An older transfer id the database holds: kept as its id_hash only.
  void remember_hash(std::uint64_t id_hash) { old_ids_.insert(id_hash); }
  // Moves the oldest ids beyond the `recent` newest to the hashes, oldest first, stopping at the
  // first one `unsettled` says is not durable yet (the database could not answer for it).
  void forget_settled(const std::function<bool(const std::string&)>& unsettled);
  // Whether a transfer with this id was accepted (the same id again is `exists` or a conflict);
  // an unreadable database counts as yes (apply then answers storage_failure).
  bool knows(const std::string& id);
  std::size_t ids_in_memory() const { return recent_.size(); }
  std::size_t ids_as_hashes() const { return old_ids_.size(); }

  // Checks `t` against the balances as they are, and applies it when ok; `out` (when given)
  // receives what changed. `now_s` decides expiry.
  transfer_result apply(const transfer& t, std::int64_t now_s, applied_transfer* out = nullptr);

  // All of `batch` or none of it, in order: the first refusal is that transfer's result, the
  // others answer linked_transfer_failed; on success every result is ok (or exists).
  std::vector<transfer_result> apply_linked(std::span<const transfer> batch, std::int64_t now_s,
                                            std::vector<applied_transfer>* out = nullptr);

  // Voids every pending transfer expired at `now_s`; what was released.
  std::vector<applied_transfer> expire(std::int64_t now_s);

  // Per currency, sum of (credits_posted - debits_posted) over all accounts: zero, always.
  std::int64_t net_posted(std::string_view currency) const;

 private:
  using entry = account_state;
  // Looked up by string_view too, without building a std::string.
  struct id_hash_fn {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  transfer_result check_and_apply(const transfer& t, std::int64_t now_s, applied_transfer* out);
  // What is known of `id`: from memory, or (on an id_hash hit) from `lookup_`.
  stored_id find_id(const std::string& id);
  // exists, idempotency_conflict or storage_failure for an id accepted before; nullopt if new.
  std::optional<transfer_result> seen(const transfer& t);
  void forget_newest(const std::string& id);
  transfer_result move(entry& debit, entry& credit, std::int64_t amount, bool pending);

  std::unordered_map<std::string, entry, id_hash_fn, std::equal_to<>> accounts_;
  std::unordered_map<std::string, pending_state> pending_;   // by transfer id
  // Recent ids -> a 64-bit hash of the transfer's fields: an exact id check, and retry vs
  // conflict told apart but for a 2^-64 chance of answering a conflicting reuse with the first
  // result (bench/ledger: 132 bytes per transfer, with order_; a bare set of the ids: 124).
  std::unordered_map<std::string, std::uint64_t> recent_;
  std::deque<const std::string*> order_;  // recent_'s keys, oldest first (node keys are stable)
  std::size_t keep_ = static_cast<std::size_t>(-1);
  id_lookup lookup_;
  // Older ids, as id_hash (bench/ledger: 12-18 bytes each, by how full the table is).
  boost::unordered_flat_set<std::uint64_t> old_ids_;
};

}  // namespace superapp::banking
