// The ledger core's rules (ADR 0015).
#include "actors/banking/ledger_core.hpp"

#include <functional>
#include <map>

namespace superapp::banking {
namespace {

// a + b into `out`, false when it leaves int64 (both are >= 0 here).
bool add(std::int64_t a, std::int64_t b, std::int64_t& out) { return !__builtin_add_overflow(a, b, &out); }

}  // namespace

// Length-prefixed so no id can fake a separator. A post or void's accounts are only the owner
// check (the database keeps the pending transfer's): not part of what it is.
std::uint64_t ledger_core::digest_of(const transfer& t) {
  const bool settles =
      t.kind == transfer_kind::post_pending || t.kind == transfer_kind::void_pending;
  std::string d;
  auto put = [&d](std::string_view s) {
    d += std::to_string(s.size());
    d += ':';
    d += s;
  };
  put(std::to_string(static_cast<int>(t.kind)));
  put(settles ? std::string_view{} : t.debit_account);
  put(settles ? std::string_view{} : t.credit_account);
  put(std::to_string(t.amount));
  put(t.currency);
  put(t.pending_id);
  return std::hash<std::string_view>{}(d);
}

std::uint64_t ledger_core::id_hash(std::string_view id) {
  return std::hash<std::string_view>{}(id);
}

std::string_view to_string(transfer_result r) {
  switch (r) {
    case transfer_result::ok: return "ok";
    case transfer_result::exists: return "exists";
    case transfer_result::idempotency_conflict: return "idempotency_conflict";
    case transfer_result::amount_must_be_positive: return "amount_must_be_positive";
    case transfer_result::accounts_must_differ: return "accounts_must_differ";
    case transfer_result::debit_account_not_found: return "debit_account_not_found";
    case transfer_result::credit_account_not_found: return "credit_account_not_found";
    case transfer_result::currency_mismatch: return "currency_mismatch";
    case transfer_result::exceeds_credits: return "exceeds_credits";
    case transfer_result::exceeds_debits: return "exceeds_debits";
    case transfer_result::overflows: return "overflows";
    case transfer_result::pending_not_found: return "pending_not_found";
    case transfer_result::pending_already_posted: return "pending_already_posted";
    case transfer_result::pending_already_voided: return "pending_already_voided";
    case transfer_result::pending_expired: return "pending_expired";
    case transfer_result::exceeds_pending_amount: return "exceeds_pending_amount";
    case transfer_result::linked_transfer_failed: return "linked_transfer_failed";
    case transfer_result::approval_already_used: return "approval_already_used";
    case transfer_result::exceeds_transaction_limit: return "exceeds_transaction_limit";
    case transfer_result::exceeds_daily_limit: return "exceeds_daily_limit";
    case transfer_result::exceeds_balance_limit: return "exceeds_balance_limit";
    case transfer_result::storage_failure: return "storage_failure";
  }
  return "?";
}

bool ledger_core::add_account(const account& a) {
  auto [it, fresh] = accounts_.try_emplace(a.id, entry{a, {}});
  if (fresh) return true;
  const auto& have = it->second.acct;
  return have.currency == a.currency && have.flags == a.flags;
}

const ledger_core::account_state* ledger_core::state_of(std::string_view id) const {
  auto it = accounts_.find(id);
  return it == accounts_.end() ? nullptr : &it->second;
}

const account* ledger_core::find_account(std::string_view id) const {
  const auto* s = state_of(id);
  return s == nullptr ? nullptr : &s->acct;
}

const balances* ledger_core::balance_of(std::string_view id) const {
  const auto* s = state_of(id);
  return s == nullptr ? nullptr : &s->bal;
}

void ledger_core::restore(std::string_view account_id, const balances& b) {
  auto it = accounts_.find(account_id);
  if (it != accounts_.end()) it->second.bal = b;
}

void ledger_core::restore_pending(const transfer& pending, pending_state::state now) {
  pending_[pending.id] = pending_state{pending, now};
}

void ledger_core::forget_settled_pending(const std::string& id) {
  if (auto it = pending_.find(id);
      it != pending_.end() && it->second.now != pending_state::state::pending)
    pending_.erase(it);
}

void ledger_core::keep_recent(std::size_t recent, id_lookup lookup) {
  keep_ = recent;
  lookup_ = std::move(lookup);
}

void ledger_core::remember(const transfer& t) {
  auto [it, fresh] = recent_.insert_or_assign(t.id, digest_of(t));
  if (fresh) order_.push_back(&it->first);
}

void ledger_core::forget_settled(const std::function<bool(const std::string&)>& unsettled) {
  while (recent_.size() > keep_ && !order_.empty() && !unsettled(*order_.front())) {
    auto it = recent_.find(*order_.front());
    old_ids_.insert(id_hash(it->first));
    order_.pop_front();
    recent_.erase(it);
  }
}

// The newest id only (apply_linked undoing what it added, newest first).
void ledger_core::forget_newest(const std::string& id) {
  if (order_.empty() || *order_.back() != id) return;
  order_.pop_back();
  recent_.erase(id);
}

stored_id ledger_core::find_id(const std::string& id) {
  if (auto it = recent_.find(id); it != recent_.end())
    return {stored_id::state::present, it->second};
  if (old_ids_.empty() || !old_ids_.contains(id_hash(id))) return {stored_id::state::absent};
  // Probably an older transfer's id: only the database knows (an id_hash collision is new).
  return lookup_ ? lookup_(id) : stored_id{stored_id::state::unreadable};
}

std::optional<transfer_result> ledger_core::seen(const transfer& t) {
  const auto stored = find_id(t.id);
  switch (stored.now) {
    case stored_id::state::absent:
      return std::nullopt;
    case stored_id::state::unreadable:
      return transfer_result::storage_failure;
    case stored_id::state::present:
      break;
  }
  return stored.digest == digest_of(t) ? transfer_result::exists
                                       : transfer_result::idempotency_conflict;
}

bool ledger_core::knows(const std::string& id) {
  return find_id(id).now != stored_id::state::absent;
}

transfer_result ledger_core::apply(const transfer& t, std::int64_t now_s, applied_transfer* out) {
  if (auto r = seen(t)) return *r;
  auto r = check_and_apply(t, now_s, out);
  if (r == transfer_result::ok) remember(t);
  return r;
}

transfer_result ledger_core::move(entry& debit, entry& credit, std::int64_t amount, bool pending) {
  auto& d = debit.bal;
  auto& c = credit.bal;
  std::int64_t d_total = 0, c_total = 0, d_new = 0, c_new = 0;
  if (!add(d.debits_posted, d.debits_pending, d_total) || !add(d_total, amount, d_total) ||
      !add(c.credits_posted, c.credits_pending, c_total) || !add(c_total, amount, c_total) ||
      !add(pending ? d.debits_pending : d.debits_posted, amount, d_new) ||
      !add(pending ? c.credits_pending : c.credits_posted, amount, c_new))
    return transfer_result::overflows;
  if ((debit.acct.flags & debits_must_not_exceed_credits) && d_total > d.credits_posted)
    return transfer_result::exceeds_credits;
  if ((credit.acct.flags & credits_must_not_exceed_debits) && c_total > c.debits_posted)
    return transfer_result::exceeds_debits;
  (pending ? d.debits_pending : d.debits_posted) = d_new;
  (pending ? c.credits_pending : c.credits_posted) = c_new;
  return transfer_result::ok;
}

transfer_result ledger_core::check_and_apply(const transfer& t, std::int64_t now_s,
                                             applied_transfer* out) {
  if (t.kind == transfer_kind::immediate || t.kind == transfer_kind::pending) {
    if (t.amount <= 0) return transfer_result::amount_must_be_positive;
    if (t.debit_account == t.credit_account) return transfer_result::accounts_must_differ;
    auto d = accounts_.find(t.debit_account);
    if (d == accounts_.end()) return transfer_result::debit_account_not_found;
    auto c = accounts_.find(t.credit_account);
    if (c == accounts_.end()) return transfer_result::credit_account_not_found;
    if (d->second.acct.currency != t.currency || c->second.acct.currency != t.currency)
      return transfer_result::currency_mismatch;
    const bool reserve = t.kind == transfer_kind::pending;
    auto r = move(d->second, c->second, t.amount, reserve);
    if (r != transfer_result::ok) return r;
    if (reserve) pending_[t.id] = pending_state{t, pending_state::state::pending};
    if (out) *out = applied_transfer{t, t.debit_account, t.credit_account, t.amount};
    return r;
  }
  // post_pending / void_pending
  auto p = pending_.find(t.pending_id);
  if (p == pending_.end()) return transfer_result::pending_not_found;
  auto& ps = p->second;
  if (!t.debit_account.empty() && t.debit_account != ps.original.debit_account)
    return transfer_result::pending_not_found;  // not the caller's to act on: as if absent
  if (ps.now == pending_state::state::posted) return transfer_result::pending_already_posted;
  if (ps.now == pending_state::state::voided) return transfer_result::pending_already_voided;
  if (ps.original.expires_at_s != 0 && now_s >= ps.original.expires_at_s)
    return transfer_result::pending_expired;
  const auto reserved = ps.original.amount;
  std::int64_t amount = reserved;
  if (t.kind == transfer_kind::post_pending) {
    if (t.amount < 0) return transfer_result::amount_must_be_positive;
    if (t.amount > reserved) return transfer_result::exceeds_pending_amount;
    if (t.amount > 0) amount = t.amount;
  }
  auto& d = accounts_.at(ps.original.debit_account).bal;
  auto& c = accounts_.at(ps.original.credit_account).bal;
  if (t.kind == transfer_kind::post_pending) {
    std::int64_t d_new = 0, c_new = 0;
    if (!add(d.debits_posted, amount, d_new) || !add(c.credits_posted, amount, c_new))
      return transfer_result::overflows;
    d.debits_posted = d_new;
    c.credits_posted = c_new;
  }
  // Posting within the reservation never breaks a flag: the reserved amount counted already.
  d.debits_pending -= reserved;
  c.credits_pending -= reserved;
  ps.now = t.kind == transfer_kind::post_pending ? pending_state::state::posted
                                                 : pending_state::state::voided;
  if (out)
    *out = applied_transfer{t, ps.original.debit_account, ps.original.credit_account,
                            t.kind == transfer_kind::post_pending ? amount : reserved};
  return transfer_result::ok;
}

std::vector<transfer_result> ledger_core::apply_linked(std::span<const transfer> batch,
                                                       std::int64_t now_s,
                                                       std::vector<applied_transfer>* out) {
  // What the batch may change, as it was before: restored if any transfer fails.
  std::map<std::string, balances> saved_balances;
  std::map<std::string, std::optional<pending_state>> saved_pending;
  std::vector<std::string> added_ids;
  auto save_account = [&](const std::string& id) {
    if (auto it = accounts_.find(id); it != accounts_.end()) saved_balances.try_emplace(id, it->second.bal);
  };
  auto save_pending = [&](const std::string& id) {
    if (saved_pending.count(id)) return;
    auto it = pending_.find(id);
    saved_pending[id] = it == pending_.end() ? std::nullopt : std::optional{it->second};
  };
  std::vector<transfer_result> results(batch.size(), transfer_result::linked_transfer_failed);
  std::vector<applied_transfer> applied;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& t = batch[i];
    save_account(t.debit_account);
    save_account(t.credit_account);
    save_pending(t.id);
    if (!t.pending_id.empty()) {
      save_pending(t.pending_id);
      if (auto it = pending_.find(t.pending_id); it != pending_.end()) {
        save_account(it->second.original.debit_account);
        save_account(it->second.original.credit_account);
      }
    }
    applied_transfer a;
    results[i] = apply(t, now_s, &a);
    if (results[i] == transfer_result::ok) {  // ok: a new id (a known one is exists)
      added_ids.push_back(t.id);
      applied.push_back(std::move(a));
    } else if (results[i] != transfer_result::exists) {
      for (auto& [id, b] : saved_balances) accounts_.at(id).bal = b;
      for (auto& [id, p] : saved_pending) {
        if (p) pending_[id] = *p;
        else pending_.erase(id);
      }
      for (auto id = added_ids.rbegin(); id != added_ids.rend(); ++id) forget_newest(*id);
      for (std::size_t j = 0; j < batch.size(); ++j)
        if (j != i) results[j] = transfer_result::linked_transfer_failed;
      return results;
    }
  }
  if (out) out->insert(out->end(), applied.begin(), applied.end());
  return results;
}

std::vector<applied_transfer> ledger_core::expire(std::int64_t now_s) {
  std::vector<applied_transfer> released;
  for (auto& [id, ps] : pending_) {
    if (ps.now != pending_state::state::pending || ps.original.expires_at_s == 0 ||
        now_s < ps.original.expires_at_s)
      continue;
    accounts_.at(ps.original.debit_account).bal.debits_pending -= ps.original.amount;
    accounts_.at(ps.original.credit_account).bal.credits_pending -= ps.original.amount;
    ps.now = pending_state::state::voided;
    transfer v;
    v.id = "expired|" + id;
    v.kind = transfer_kind::void_pending;
    v.pending_id = id;
    v.currency = ps.original.currency;
    released.push_back(applied_transfer{v, ps.original.debit_account, ps.original.credit_account,
                                        ps.original.amount});
  }
  return released;
}

std::int64_t ledger_core::net_posted(std::string_view currency) const {
  std::int64_t net = 0;
  for (const auto& [id, e] : accounts_)
    if (e.acct.currency == currency) net += e.bal.credits_posted - e.bal.debits_posted;
  return net;
}

}  // namespace superapp::banking
