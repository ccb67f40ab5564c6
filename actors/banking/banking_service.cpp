// The banking service: wallets, balances, statements (reads on reader connections), and
// transfers and holds approved by identity, applied by the ledger writer (ADR 0015).
#include "actors/banking/banking_service.hpp"

#include <functional>
#include <limits>
#include <map>

#include <boost/json.hpp>

#include <caf/all.hpp>

#include "actors/banking/banking_errc.hpp"
#include "actors/banking/ledger_store.hpp"
#include "actors/banking/open_banking.hpp"
#include "actors/banking/payments_store.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/writer.hpp"
#include "protocols/hex.hpp"
#include "protocols/webhook.hpp"
#include "protocols/tokens/approval.hpp"
#include "protocols/ws/banking_ops.hpp"
#include "protocols/ws/op_body.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/domain_service.hpp"
#include "supervisors/node/logging.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::banking {

namespace {

// `prefix` and 32 hex digits of SHA-256 over "<user><infix><idempotency key>": a client's
// retry finds the same id, and the key is not shown to anyone else.
std::string keyed_id(std::string_view prefix, std::string_view user_id, std::string_view infix,
                     std::string_view idempotency_key) {
  std::string scoped{user_id};
  scoped += infix;
  scoped += idempotency_key;
  return std::string{prefix} + sha256_hex(scoped).substr(0, 32);
}

}  // namespace

std::string client_transfer_id(std::string_view user_id, std::string_view idempotency_key) {
  return keyed_id("tr_", user_id, "|", idempotency_key);
}

std::string client_payment_id(std::string_view user_id, std::string_view idempotency_key) {
  return keyed_id("pm_", user_id, "|payment|", idempotency_key);
}

struct service_state {
  banking_settings cfg;
  banking_slots slots;
  sup::domain_context_ptr ctx;
  static inline const char* name = "banking_service";
};

namespace {

using ws::reply_of;
using self_ptr = service_actor::stateful_pointer<service_state>;
using promise = caf::typed_response_promise<op_reply>;

caf::error storage_error(const caf::error& err, std::string_view what) {
  log::error("banking: storage failed", {{"step", what}, {"code", superapp::describe(err).wire_code}});
  return make_error(platform_errc::storage_failure);
}

std::int64_t now_s(self_ptr self) {
  return std::chrono::duration_cast<std::chrono::seconds>(
             self->state.cfg.ledger.clock->now().time_since_epoch())
      .count();
}

std::string wallet_prefix(std::string_view user_id) { return "wallet:" + std::string{user_id} + ":"; }

// How a ledger account appears to a client: a user's wallet as "user:<id>", others as they are.
std::string party_of(const std::string& account_id) {
  auto owner = wallet_owner(account_id);
  return owner ? "user:" + *owner : account_id;
}

bool owned_by(const std::string& account_id, std::string_view user_id) {
  return wallet_owner(account_id) == user_id;
}

ws::banking_account account_of(const account& a, const balances& b) {
  ws::banking_account out;
  out.currency = a.currency;
  out.posted_minor = b.credits_posted - b.debits_posted;
  out.available_minor = out.posted_minor - b.debits_pending;
  out.held_minor = b.debits_pending;
  out.incoming_minor = b.credits_pending;
  return out;
}

// The ledger's verdict as the client's error; ok and exists are not errors.
caf::error refusal(transfer_result r) {
  switch (r) {
    case transfer_result::ok:
    case transfer_result::exists:
      return {};
    case transfer_result::idempotency_conflict:
      return make_error(platform_errc::idempotency_key_reused);
    case transfer_result::amount_must_be_positive:
      return make_error(banking_errc::amount_must_be_positive);
    case transfer_result::accounts_must_differ:
      return make_error(banking_errc::same_account);
    case transfer_result::debit_account_not_found:
      return make_error(banking_errc::account_not_found);
    case transfer_result::credit_account_not_found:
    case transfer_result::currency_mismatch:  // wallets are per currency: the payee has none in it
      return make_error(banking_errc::payee_account_not_found);
    case transfer_result::exceeds_credits:
    case transfer_result::exceeds_debits:
      return make_error(banking_errc::insufficient_funds);
    case transfer_result::overflows:
      return make_error(banking_errc::balance_overflow);
    case transfer_result::pending_not_found:
      return make_error(banking_errc::hold_not_found);
    case transfer_result::pending_already_posted:
      return make_error(banking_errc::hold_already_captured);
    case transfer_result::pending_already_voided:
      return make_error(banking_errc::hold_already_released);
    case transfer_result::pending_expired:
      return make_error(banking_errc::hold_expired);
    case transfer_result::exceeds_pending_amount:
      return make_error(banking_errc::exceeds_hold);
    case transfer_result::approval_already_used:
      return make_error(banking_errc::approval_already_used);
    case transfer_result::exceeds_transaction_limit:
      return make_error(banking_errc::limit_per_transaction);
    case transfer_result::exceeds_daily_limit:
      return make_error(banking_errc::limit_per_day);
    case transfer_result::exceeds_balance_limit:
      return make_error(banking_errc::limit_balance);
    case transfer_result::storage_failure:  // an older transfer's id could not be read: retry
      return make_error(platform_errc::storage_failure);
    case transfer_result::linked_transfer_failed:
      break;
  }
  return make_error(platform_errc::internal);
}

caf::expected<persistence::connection_pool::lease> reader(self_ptr self) {
  return self->state.ctx->readers->borrow();
}

caf::error require_user(const op_request& req, bool with_device = false) {
  return ws::require_scope(req, ws::user_scope, with_device);
}

caf::error require_key(const op_request& req) {
  // The gateway requires it of a transactional op; a caller that came another way must too.
  if (req.idempotency_key.empty()) return make_error(platform_errc::idempotency_key_required);
  return {};
}

// Sends `msg...` to the running ledger writer; `on_result` gets its answer, errors reach `rp`.
template <class Result, class OnResult, class... Ts>
void ask_ledger(self_ptr self, promise rp, OnResult on_result, Ts&&... msg) {
  auto ledger = self->state.slots.ledger->get();
  if (!ledger) {
    rp.deliver(make_error(platform_errc::unavailable));
    return;
  }
  self->request(caf::actor_cast<ledger_actor>(ledger), self->state.cfg.ledger_timeout,
                std::forward<Ts>(msg)...)
      .then([rp, on_result](Result& r) mutable { on_result(rp, r); },
            [rp](caf::error& err) mutable {
              // storage_failure (the batch was not committed), timeout, or a writer restarting.
              log::warn("banking: the ledger did not answer", {{"code", superapp::describe(err).wire_code}});
              rp.deliver(err.category() == platform_category ? err
                                                                  : make_error(platform_errc::unavailable));
            });
}

// ---- reads ----

caf::result<op_reply> do_accounts(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto rows = store::accounts_with_prefix(**conn, wallet_prefix(req.who.subject));
  if (!rows) return storage_error(rows.error(), "accounts read");
  ws::banking_accounts_reply reply;
  for (const auto& r : *rows)
    if (owned_by(r.acct.id, req.who.subject)) reply.accounts.push_back(account_of(r.acct, r.bal));
  return reply_of(ws::banking_accounts_reply_schema(), reply);
}

caf::result<op_reply> do_statement(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::banking_statement_request_schema(), req);
  if (!body) return body.error();
  if (!ws::valid_currency_code(body->currency)) return make_error(banking_errc::invalid_currency);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto id = wallet_id(req.who.subject, body->currency);
  auto wallets = store::accounts_with_prefix(**conn, wallet_prefix(req.who.subject));
  if (!wallets) return storage_error(wallets.error(), "accounts read");
  if (std::none_of(wallets->begin(), wallets->end(), [&id](const auto& r) { return r.acct.id == id; }))
    return make_error(banking_errc::account_not_found);
  const auto limit = body->limit.value_or(50);
  // One line more than the page: whether there is a next page.
  auto lines = store::statement_page(**conn, id, body->after.value_or(0), limit + 1);
  if (!lines) return storage_error(lines.error(), "statement read");
  ws::banking_statement_reply reply;
  reply.currency = body->currency;
  for (const auto& l : *lines) {
    if (static_cast<std::int64_t>(reply.lines.size()) == limit) {
      reply.next_after = reply.lines.back().seq;
      break;
    }
    reply.lines.push_back({l.seq, l.transfer_id, l.kind, party_of(l.counterparty), l.amount, l.at_ms});
  }
  return reply_of(ws::banking_statement_reply_schema(), reply);
}

std::string state_of(const store::transfer_row& t) {
  if (t.kind == "pending") {
    if (t.pending_state == "posted") return "captured";
    if (t.pending_state == "voided") return "released";
    return "held";
  }
  if (t.kind == "post_pending") return "captured";
  if (t.kind == "void_pending") return "released";
  return "posted";
}

caf::result<op_reply> do_transfer_status(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::banking_transfer_status_request_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto row = store::find_transfer(**conn, body->transfer_id);
  if (!row) return storage_error(row.error(), "transfer read");
  const auto& me = req.who.subject;
  if (!*row || (!owned_by((*row)->debit_account, me) && !owned_by((*row)->credit_account, me)))
    return make_error(banking_errc::transfer_not_found);
  const auto& t = **row;
  ws::banking_transfer_status_reply reply{t.transfer_id, t.kind, state_of(t), {t.moved, t.currency},
                                          party_of(t.debit_account), party_of(t.credit_account), t.at_ms};
  return reply_of(ws::banking_transfer_status_reply_schema(), reply);
}

// ---- changes ----

caf::result<op_reply> do_open_account(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_open_account_request_schema(), req);
  if (!body) return body.error();
  if (!ws::valid_currency_code(body->currency)) return make_error(banking_errc::invalid_currency);
  account a{wallet_id(req.who.subject, body->currency), body->currency, debits_must_not_exceed_credits};
  auto rp = self->make_response_promise<op_reply>();
  ask_ledger<bool>(
      self, rp,
      [self, a](promise& rp, bool opened) {
        if (!opened) {  // a wallet id only ever holds a wallet of its own currency
          rp.deliver(make_error(platform_errc::internal));
          return;
        }
        ask_ledger<balances>(
            self, rp,
            [a](promise& rp, const balances& b) {
              rp.deliver(reply_of(ws::banking_account_schema(), account_of(a, b)));
            },
            balance_atom::value, a.id);
      },
      open_account_atom::value, a);
  return rp;
}

// A payment's approval (ADR 0013): identity's signature over exactly this user, device,
// operation, amount and payee, not expired. Its id and expiry on success.
std::optional<approval_spend> verified_approval(self_ptr self, const op_request& req,
                                                std::string_view operation, const std::string& token,
                                                const ws::money& amount, const std::string& payee) {
  const auto& keys = self->state.cfg.approval_keys;
  if (!keys) return std::nullopt;
  tokens::operation_binding binding{std::string{operation}, amount.minor, amount.currency, payee};
  auto outcome = tokens::verify_approval(token, *keys, *self->state.cfg.ledger.clock, req.who.subject, binding);
  if (!outcome || outcome.accepted->device_id != req.who.device_id) {
    log::info("banking: approval refused",
              {{"user_id", req.who.subject},
               {"reason", outcome ? std::string_view{"device"} : outcome.failure}});
    return std::nullopt;
  }
  return approval_spend{outcome.accepted->approval_id,
                        std::chrono::duration_cast<std::chrono::seconds>(
                            outcome.accepted->expires_at.time_since_epoch())
                            .count()};
}

// Whether `t` is already in the ledger as committed: a retry whose approval has expired since
// the first attempt still gets its first result (the approval was spent by that attempt).
caf::expected<transfer_result> committed_as(self_ptr self, const transfer& t) {
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto recorded = store::find_recorded(**conn, t.id);
  if (!recorded) return storage_error(recorded.error(), "transfer read");
  if (!*recorded) return make_error(banking_errc::approval_invalid);
  return ledger_core::digest_of(**recorded) == ledger_core::digest_of(t)
             ? transfer_result::exists
             : transfer_result::idempotency_conflict;
}

// The checks a payment's body gets before its approval is looked at.
caf::error judge_payment(const op_request& req, const std::string& to_user, const ws::money& amount) {
  if (!ws::valid_currency_code(amount.currency)) return make_error(banking_errc::invalid_currency);
  if (amount.minor <= 0) return make_error(banking_errc::amount_must_be_positive);
  if (to_user == req.who.subject) return make_error(banking_errc::same_account);
  return {};
}

// A transfer or a hold from the caller's wallet: approved, then applied by the ledger;
// `reply` makes the answer for ok and exists.
template <class MakeReply>
caf::result<op_reply> pay(self_ptr self, const op_request& req, std::string_view operation, transfer t,
                          const std::string& approval_token, const ws::money& amount,
                          const std::string& payee, MakeReply reply) {
  auto approval = verified_approval(self, req, operation, approval_token, amount, payee);
  if (!approval) {
    auto first = committed_as(self, t);
    if (!first) return first.error();
    if (auto err = refusal(*first)) return err;
    return reply();
  }
  auto rp = self->make_response_promise<op_reply>();
  ask_ledger<transfer_result>(
      self, rp,
      [reply, t](promise& rp, transfer_result r) {
        if (auto err = refusal(r)) {
          rp.deliver(err);
          return;
        }
        if (r == transfer_result::ok)
          log::info("banking: transfer", {{"transfer_id", t.id},
                                          {"kind", store::to_string(t.kind)},
                                          {"amount_minor", t.amount},
                                          {"currency", t.currency}});
        rp.deliver(reply());
      },
      transfer_atom::value, t, *approval);
  return rp;
}

caf::result<op_reply> do_transfer(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_transfer_request_schema(), req);
  if (!body) return body.error();
  if (auto err = judge_payment(req, body->to_user, body->amount)) return err;
  transfer t;
  t.id = client_transfer_id(req.who.subject, req.idempotency_key);
  t.kind = transfer_kind::immediate;
  t.debit_account = wallet_id(req.who.subject, body->amount.currency);
  t.credit_account = wallet_id(body->to_user, body->amount.currency);
  t.amount = body->amount.minor;
  t.currency = body->amount.currency;
  return pay(self, req, "banking.transfer", t, body->approval, body->amount, body->to_user,
             [id = t.id, b = *body] {
               return reply_of(ws::banking_transfer_reply_schema(),
                               ws::banking_transfer_reply{id, "posted", b.amount, b.to_user});
             });
}

caf::result<op_reply> do_hold(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_hold_request_schema(), req);
  if (!body) return body.error();
  if (auto err = judge_payment(req, body->to_user, body->amount)) return err;
  transfer t;
  t.id = client_transfer_id(req.who.subject, req.idempotency_key);
  t.kind = transfer_kind::pending;
  t.debit_account = wallet_id(req.who.subject, body->amount.currency);
  t.credit_account = wallet_id(body->to_user, body->amount.currency);
  t.amount = body->amount.minor;
  t.currency = body->amount.currency;
  t.expires_at_s = now_s(self) + body->expires_in_s.value_or(self->state.cfg.default_hold.count());
  return pay(self, req, "banking.hold", t, body->approval, body->amount, body->to_user,
             [id = t.id, b = *body, expires = t.expires_at_s] {
               return reply_of(ws::banking_hold_reply_schema(),
                               ws::banking_hold_reply{id, "held", b.amount, b.to_user, expires});
             });
}

// The reply kept under `key` (persistence/idempotency.hpp) when this request came before;
// nothing when it is new; idempotency_key_reused when the key came with another request.
caf::expected<std::optional<op_reply>> stored_reply(self_ptr self, const std::string& scope,
                                                    const std::string& key,
                                                    const std::string& digest) {
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto replay = persistence::replayed_reply(**conn, scope, key, digest);
  if (!replay) {
    if (replay.error() == make_error(platform_errc::idempotency_key_reused)) return replay.error();
    return storage_error(replay.error(), "idempotency read");
  }
  if (!*replay) return std::optional<op_reply>{};
  return std::optional<op_reply>{op_reply{std::move(**replay)}};
}

// Several payments at once, all or nothing, under one approval for the total and the items'
// digest (ws::batch_payee). The reply is recorded under the key in the batch's own commit, so
// a retry answers it again (also after its approval expired) and other items under the same
// key are idempotency_key_reused.
caf::result<op_reply> do_batch(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_batch_request_schema(), req);
  if (!body) return body.error();
  const auto& items = body->items;
  const auto& currency = body->currency;
  if (items.empty()) return make_error(banking_errc::batch_invalid);
  std::int64_t total = 0;
  for (const auto& item : items) {
    if (auto err = judge_payment(req, item.to_user, {item.amount_minor, currency})) return err;
    if (item.amount_minor > std::numeric_limits<std::int64_t>::max() - total)
      return make_error(banking_errc::balance_overflow);
    total += item.amount_minor;
  }
  const auto digest = ws::batch_payee(currency, items);
  const auto scope = persistence::idempotency_scope(req.who.subject, req.op);
  auto replay = stored_reply(self, scope, req.idempotency_key, digest);
  if (!replay) return replay.error();
  if (*replay) return std::move(**replay);
  const ws::money sum{total, currency};
  auto approval = verified_approval(self, req, "banking.batch", body->approval, sum, digest);
  if (!approval) return make_error(banking_errc::approval_invalid);
  const auto batch_id = keyed_id("bt_", req.who.subject, "|batch|", req.idempotency_key);
  std::vector<transfer> ts;
  ws::banking_batch_reply reply{batch_id, "posted", sum, {}};
  for (std::size_t i = 0; i < items.size(); ++i) {
    transfer t;
    t.id = batch_id + "_" + std::to_string(i);
    t.kind = transfer_kind::immediate;
    t.debit_account = wallet_id(req.who.subject, currency);
    t.credit_account = wallet_id(items[i].to_user, currency);
    t.amount = items[i].amount_minor;
    t.currency = currency;
    reply.items.push_back({t.id, items[i].to_user, items[i].amount_minor});
    ts.push_back(std::move(t));
  }
  auto answer = reply_of(ws::banking_batch_reply_schema(), reply);
  batch_reply record{scope, req.idempotency_key, digest, answer.body_json};
  auto rp = self->make_response_promise<op_reply>();
  ask_ledger<std::vector<transfer_result>>(
      self, rp,
      [answer, batch_id, total, currency](promise& rp,
                                          const std::vector<transfer_result>& results) {
        for (auto r : results)
          if (r != transfer_result::ok && r != transfer_result::exists &&
              r != transfer_result::linked_transfer_failed) {
            rp.deliver(refusal(r));
            return;
          }
        if (!results.empty() && results.front() == transfer_result::ok)
          log::info("banking: batch", {{"batch_id", batch_id},
                                       {"items", static_cast<std::int64_t>(results.size())},
                                       {"amount_minor", total},
                                       {"currency", currency}});
        rp.deliver(answer);
      },
      linked_atom::value, std::move(ts), *approval, std::move(record));
  return rp;
}

// What became of a hold the ledger no longer holds (it keeps only open holds, ADR 0020): its
// row says whether it was captured or released.
caf::expected<transfer_result> hold_settled_as(self_ptr self, const std::string& hold_id) {
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto row = store::find_transfer(**conn, hold_id);
  if (!row) return storage_error(row.error(), "hold read");
  if (*row && (*row)->pending_state == "posted") return transfer_result::pending_already_posted;
  if (*row && (*row)->pending_state == "voided") return transfer_result::pending_already_voided;
  return transfer_result::pending_not_found;
}

// Capture (post) or release (void) a hold of the caller's: found on a reader (a hold is only
// ever answered once committed), then settled by the ledger, which checks the owner again.
caf::result<op_reply> settle(self_ptr self, const op_request& req, const std::string& hold_id,
                             transfer_kind kind, std::int64_t amount) {
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto row = store::find_transfer(**conn, hold_id);
  if (!row) return storage_error(row.error(), "hold read");
  if (!*row || (*row)->kind != "pending" || !owned_by((*row)->debit_account, req.who.subject))
    return make_error(banking_errc::hold_not_found);
  const auto& hold = **row;
  transfer t;
  t.id = client_transfer_id(req.who.subject, req.idempotency_key);
  t.kind = kind;
  t.pending_id = hold_id;
  t.debit_account = hold.debit_account;  // the owner check, in the ledger's own order
  t.amount = amount;
  t.currency = hold.currency;
  const bool capture = kind == transfer_kind::post_pending;
  const auto settled = capture && amount > 0 ? amount : hold.amount;
  auto rp = self->make_response_promise<op_reply>();
  ask_ledger<transfer_result>(
      self, rp,
      [self, hold_id, id = t.id, capture, settled](promise& rp, transfer_result r) {
        if (r == transfer_result::pending_not_found) {
          auto settled_as = hold_settled_as(self, hold_id);
          if (!settled_as) {
            rp.deliver(settled_as.error());
            return;
          }
          r = *settled_as;
        }
        if (auto err = refusal(r)) {
          rp.deliver(err);
          return;
        }
        rp.deliver(reply_of(ws::banking_settle_reply_schema(),
                            ws::banking_settle_reply{hold_id, id, capture ? "captured" : "released", settled}));
      },
      transfer_atom::value, t);
  return rp;
}

caf::result<op_reply> do_capture(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_capture_request_schema(), req);
  if (!body) return body.error();
  if (body->amount_minor && *body->amount_minor == 0) return make_error(banking_errc::amount_must_be_positive);
  return settle(self, req, body->hold_id, transfer_kind::post_pending, body->amount_minor.value_or(0));
}

caf::result<op_reply> do_release(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_release_request_schema(), req);
  if (!body) return body.error();
  return settle(self, req, body->hold_id, transfer_kind::void_pending, 0);
}

// ---- Open Banking: links, bank accounts, top-ups (payments as actors, payments.hpp) ----

std::int64_t now_ms(self_ptr self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             self->state.cfg.ledger.clock->now().time_since_epoch())
      .count();
}

// Commits `unit` through the domain's writer, then `on_ok` (errors reach `rp`).
template <class OnOk>
void commit(self_ptr self, promise rp, persistence::unit_of_work unit, OnOk on_ok) {
  self->request(self->state.ctx->store, self->state.cfg.ledger_timeout, persistence::write_atom::value,
                std::move(unit))
      .then([rp, on_ok](persistence::unit_results&) mutable { on_ok(rp); },
            [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "commit")); });
}

// Sends `msg...` to the Open Banking connector; its reply goes to `on_reply`.
template <class Reply, class OnReply, class... Ts>
void ask_bank(self_ptr self, promise rp, OnReply on_reply, Ts&&... msg) {
  auto connector = self->state.slots.connector->get();
  if (!connector) {
    rp.deliver(make_error(banking_errc::bank_unavailable));
    return;
  }
  self->request(caf::actor_cast<bank_connector_actor>(connector),
                self->state.cfg.payments.call_timeout, std::forward<Ts>(msg)...)
      .then([rp, on_reply](Reply& r) mutable { on_reply(rp, r); },
            [rp](caf::error&) mutable { rp.deliver(make_error(banking_errc::bank_unavailable)); });
}

caf::error bank_error(bank_outcome o) {
  return o == bank_outcome::refused ? make_error(banking_errc::bank_refused)
                                    : make_error(banking_errc::bank_unavailable);
}

ws::banking_link link_view(const store::bank_link& l) { return {l.link_id, l.customer, l.status}; }

// The caller's active link `link_id`, or the refusal.
caf::expected<store::bank_link> active_link(persistence::connection& conn, const op_request& req,
                                            const std::string& link_id) {
  auto link = store::find_link(conn, link_id);
  if (!link) return storage_error(link.error(), "link read");
  if (!*link || (*link)->user_id != req.who.subject) return make_error(banking_errc::bank_link_not_found);
  if ((*link)->status != "active") return make_error(banking_errc::bank_link_revoked);
  return std::move(**link);
}

caf::result<op_reply> do_link_bank(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_link_bank_request_schema(), req);
  if (!body) return body.error();
  auto scope = persistence::idempotency_scope(req.who.subject, req.op);
  auto digest = sha256_hex(req.body_json);
  auto replay = stored_reply(self, scope, req.idempotency_key, digest);
  if (!replay) return replay.error();
  if (*replay) return std::move(**replay);
  auto rp = self->make_response_promise<op_reply>();
  ask_bank<consent_reply>(
      self, rp,
      [self, req, scope, digest, customer = body->customer](promise& rp, consent_reply& r) {
        if (r.outcome != bank_outcome::taken) {
          rp.deliver(bank_error(r.outcome));
          return;
        }
        store::bank_link link{keyed_id("ln_", req.who.subject, "|link|", req.idempotency_key),
                              req.who.subject, customer, r.consent_id, "active", now_ms(self)};
        auto reply = reply_of(ws::banking_link_schema(), link_view(link));
        persistence::unit_of_work unit;
        store::add_link(unit, link);
        persistence::record_reply(unit, scope, req.idempotency_key, digest, reply.body_json, link.created_at_ms);
        commit(self, rp, std::move(unit), [reply](promise& rp) { rp.deliver(reply); });
      },
      consent_atom::value, body->customer);
  return rp;
}

caf::result<op_reply> do_linked_banks(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto links = store::links_of(**conn, req.who.subject);
  if (!links) return storage_error(links.error(), "links read");
  ws::banking_links_reply reply;
  for (const auto& l : *links) reply.links.push_back(link_view(l));
  return reply_of(ws::banking_links_reply_schema(), reply);
}

caf::result<op_reply> do_unlink_bank(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_link_ref_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto link = active_link(**conn, req, body->link_id);
  if (!link) {
    // Unlinking again answers the revoked link: the retry of a lost reply.
    if (link.error() != make_error(banking_errc::bank_link_revoked)) return link.error();
    auto revoked = store::find_link(**conn, body->link_id);
    if (!revoked || !*revoked) return link.error();
    return reply_of(ws::banking_link_schema(), link_view(**revoked));
  }
  auto rp = self->make_response_promise<op_reply>();
  ask_bank<bank_outcome>(
      self, rp,
      [self, l = *link](promise& rp, bank_outcome o) mutable {
        // Refused: the bank no longer knows the consent; it is gone either way.
        if (o == bank_outcome::unavailable) {
          rp.deliver(bank_error(o));
          return;
        }
        persistence::unit_of_work unit;
        store::revoke_link(unit, l.link_id);
        l.status = "revoked";
        commit(self, rp, std::move(unit),
               [l](promise& rp) { rp.deliver(reply_of(ws::banking_link_schema(), link_view(l))); });
      },
      revoke_atom::value, link->consent_id);
  return rp;
}

caf::result<op_reply> do_bank_accounts(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::banking_link_ref_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto link = active_link(**conn, req, body->link_id);
  if (!link) return link.error();
  auto rp = self->make_response_promise<op_reply>();
  ask_bank<accounts_reply>(
      self, rp,
      [](promise& rp, accounts_reply& r) {
        if (r.outcome != bank_outcome::taken) {
          rp.deliver(bank_error(r.outcome));
          return;
        }
        ws::banking_bank_accounts_reply reply;
        for (auto& a : r.accounts)
          reply.accounts.push_back({std::move(a.account_id), std::move(a.currency), std::move(a.name), a.available_minor});
        rp.deliver(reply_of(ws::banking_bank_accounts_reply_schema(), reply));
      },
      accounts_atom::value, link->consent_id);
  return rp;
}

op_reply payment_reply_of(const store::payment_row& p) {
  return reply_of(ws::banking_payment_schema(),
                  ws::banking_payment{p.payment_id, p.kind, std::string{store::to_string(p.state)},
                                      {p.amount, p.currency}, p.reason});
}

caf::result<op_reply> do_topup(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  if (auto err = require_key(req)) return err;
  auto body = ws::decode_body(ws::banking_topup_request_schema(), req);
  if (!body) return body.error();
  if (!ws::valid_currency_code(body->amount.currency)) return make_error(banking_errc::invalid_currency);
  if (body->amount.minor <= 0) return make_error(banking_errc::amount_must_be_positive);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  store::payment_row p;
  p.payment_id = client_payment_id(req.who.subject, req.idempotency_key);
  p.user_id = req.who.subject;
  p.kind = "topup";
  p.link_id = body->link_id;
  p.bank_account = body->bank_account;
  p.amount = body->amount.minor;
  p.currency = body->amount.currency;
  // The same key again: the payment as it is now, if it is the same request.
  auto existing = store::find_payment(**conn, p.payment_id);
  if (!existing) return storage_error(existing.error(), "payment read");
  if (*existing) {
    const auto& e = **existing;
    if (e.link_id != p.link_id || e.bank_account != p.bank_account || e.amount != p.amount || e.currency != p.currency)
      return make_error(platform_errc::idempotency_key_reused);
    return payment_reply_of(e);
  }
  auto link = active_link(**conn, req, body->link_id);
  if (!link) return link.error();
  p.consent_id = link->consent_id;
  auto wallets = store::accounts_with_prefix(**conn, wallet_prefix(req.who.subject));
  if (!wallets) return storage_error(wallets.error(), "accounts read");
  auto wallet = wallet_id(req.who.subject, p.currency);
  auto held = std::find_if(wallets->begin(), wallets->end(), [&wallet](const auto& r) { return r.acct.id == wallet; });
  if (held == wallets->end()) return make_error(banking_errc::account_not_found);
  // The wallet's KYC balance limit, judged now: once the bank has the money it must be
  // creditable (a wallet above its limit after settlement would have to refund it).
  auto recorded = store::user_limits(**conn, req.who.subject);
  if (!recorded) return storage_error(recorded.error(), "limits read");
  const auto& limits = *recorded ? **recorded : self->state.cfg.ledger.default_limits;
  if (auto l = limits.find(p.currency); l != limits.end()) {
    const auto& b = held->bal;
    auto holding = b.credits_posted - b.debits_posted + b.credits_pending;
    if (holding > l->second.balance || p.amount > l->second.balance - holding)
      return make_error(banking_errc::limit_balance);
  }
  auto payments = self->state.slots.payments->get();
  if (!payments) return make_error(platform_errc::unavailable);
  persistence::unit_of_work unit;
  store::add_payment(unit, p, *self->state.cfg.ledger.clock, now_ms(self));
  auto rp = self->make_response_promise<op_reply>();
  commit(self, rp, std::move(unit), [self, p, payments](promise& rp) {
    // Durable first: a node that stops now resumes it at its next start.
    caf::anon_send(payments, sup::start_child_atom::value, caf::make_message(p.payment_id));
    rp.deliver(payment_reply_of(p));
  });
  return rp;
}

caf::result<op_reply> do_payment_status(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::banking_payment_ref_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto p = store::find_payment(**conn, body->payment_id);
  if (!p) return storage_error(p.error(), "payment read");
  if (!*p || (*p)->user_id != req.who.subject) return make_error(banking_errc::payment_not_found);
  return payment_reply_of(**p);
}

caf::result<op_reply> check_return(self_ptr self, const store::payment_row& p);

// The bank's signed callback that a payment moved: verified, then a hint to the payment's actor
// to look at the bank now (the bank's answer to that look is the truth; the callback only saves
// waiting for the next poll). About a payment already posted, it asks the bank for a return
// (check_return).
caf::result<op_reply> do_bank_callback(self_ptr self, const op_request& req) {
  auto delivery = relayed_webhook(req.body_json);
  if (!delivery) return make_error(platform_errc::bad_request);
  const auto& cfg = self->state.cfg;
  if (cfg.bank_webhook_secret.empty()) return make_error(banking_errc::webhook_signature_invalid);
  switch (verify_webhook(cfg.bank_webhook_secret, *delivery, now_s(self), cfg.webhook_tolerance)) {
    case webhook_verdict::authentic:
      break;
    case webhook_verdict::bad_signature:
      log::warn("banking: a bank callback with a bad signature was refused");
      return make_error(banking_errc::webhook_signature_invalid);
    case webhook_verdict::stale:
      log::warn("banking: a stale bank callback was refused", {{"timestamp", delivery->timestamp}});
      return make_error(banking_errc::webhook_stale);
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(delivery->body, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  const auto* reference = o ? o->if_contains("reference") : nullptr;
  if (reference == nullptr || !reference->is_string() || reference->as_string().size() > 64)
    return make_error(platform_errc::bad_request);
  const std::string payment_id{reference->as_string()};
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto p = store::find_payment(**conn, payment_id);
  if (!p) return storage_error(p.error(), "payment read");
  if (!*p) return make_error(platform_errc::not_found);
  if ((*p)->state == store::payment_state::posted) return check_return(self, **p);
  const bool open = !store::terminal((*p)->state);
  if (open)
    if (auto actor = self->state.slots.running->find(payment_id)) caf::anon_send(actor, payment_check_atom::value);
  return op_reply{boost::json::serialize(boost::json::object{{"accepted", true}, {"duplicate", !open}})};
}

// The id of the reversal of `transfer_id`: one per transfer, so a second reverse finds it.
std::string reversal_id(const std::string& transfer_id) { return "rv_" + transfer_id; }

// A reversed top-up's payment (the ledger transfer's id is the payment id) moves from posted
// to reversed, with its event, once the reversal is durable. Asked again, a reversal whose
// payment step did not commit (a crash between the two) completes it.
void mark_payment_reversed(self_ptr self, promise rp, const std::string& transfer_id,
                           const std::string& why, op_reply reply,
                           std::function<void(promise&, op_reply)> done) {
  if (transfer_id.rfind("pm_", 0) != 0) {
    done(rp, std::move(reply));
    return;
  }
  auto conn = reader(self);
  if (!conn) {
    rp.deliver(storage_error(conn.error(), "reader"));
    return;
  }
  auto p = store::find_payment(**conn, transfer_id);
  if (!p) {
    rp.deliver(storage_error(p.error(), "payment read"));
    return;
  }
  if (!*p || (*p)->state != store::payment_state::posted) {
    done(rp, std::move(reply));
    return;
  }
  auto next = **p;
  next.state = store::payment_state::reversed;
  next.reason = why;
  persistence::unit_of_work unit;
  store::advance_payment(unit, **p, next, *self->state.cfg.ledger.clock, now_ms(self));
  commit(self, rp, std::move(unit),
         [reply = std::move(reply), done](promise& rp) mutable { done(rp, std::move(reply)); });
}

// How a reversal ends for whoever asked: `reversed` gets the reversal's reply (also when it
// was made before), `refused` the ledger's or the lookup's refusal.
struct reversal_outcome {
  std::function<void(promise&, op_reply)> reversed = [](promise& rp, op_reply r) {
    rp.deliver(std::move(r));
  };
  std::function<void(promise&, caf::error)> refused = [](promise& rp, caf::error e) {
    rp.deliver(std::move(e));
  };
};

// Reverses a posted transfer (or a hold's capture) into `rp`: the amount it moved goes back
// from its payee to its payer, as a new immediate transfer `rv_` + its id. The payee's wallet
// must still hold it (no wallet is ever overdrawn, not even by an operator or a rule): else
// insufficient_funds. `by` and `reason` are for the log; a top-up's payment becomes reversed
// with `payment_reason` once the reversal is durable.
void reverse_transfer(self_ptr self, promise rp, const std::string& original, const std::string& by,
                      const std::string& reason, const std::string& payment_reason,
                      reversal_outcome then = {}) {
  auto conn = reader(self);
  if (!conn) return then.refused(rp, storage_error(conn.error(), "reader"));
  auto row = store::find_transfer(**conn, original);
  if (!row) return then.refused(rp, storage_error(row.error(), "transfer read"));
  if (!*row) return then.refused(rp, make_error(banking_errc::transfer_not_found));
  const auto& r = **row;
  const bool reversible = (r.kind == "immediate" || r.kind == "post_pending") &&
                          r.transfer_id.rfind("rv_", 0) != 0 && r.moved > 0;
  if (!reversible) return then.refused(rp, make_error(banking_errc::transfer_not_reversible));
  transfer t;
  t.id = reversal_id(r.transfer_id);
  t.kind = transfer_kind::immediate;
  t.debit_account = r.credit_account;
  t.credit_account = r.debit_account;
  t.amount = r.moved;
  t.currency = r.currency;
  ask_ledger<transfer_result>(
      self, rp,
      [self, t, original, reason, by, payment_reason, then](promise& rp, transfer_result result) {
        if (auto err = refusal(result)) return then.refused(rp, err);
        if (result == transfer_result::ok)
          log::info("banking: transfer reversed", {{"transfer_id", original},
                                                   {"reversal_id", t.id},
                                                   {"amount_minor", t.amount},
                                                   {"currency", t.currency},
                                                   {"by", by},
                                                   {"reason", reason}});
        op_reply reply{boost::json::serialize(boost::json::object{
            {"transfer_id", original},
            {"reversal_id", t.id},
            {"state", "reversed"},
            {"amount", boost::json::object{{"minor", t.amount}, {"currency", t.currency}}},
            {"from", party_of(t.debit_account)},
            {"to", party_of(t.credit_account)}})};
        mark_payment_reversed(self, rp, original, payment_reason, std::move(reply), then.reversed);
      },
      transfer_atom::value, t);
}

// An operator's reversal (banking.reverse), audited by the node's operations actor.
caf::result<op_reply> do_reverse(self_ptr self, const op_request& req) {
  if (auto err = ws::require_scope(req, operator_scope)) return err;
  auto body = ws::decode_body(ws::banking_reverse_request_schema(), req);
  if (!body) return body.error();
  auto rp = self->make_response_promise<op_reply>();
  reverse_transfer(self, rp, body->transfer_id, req.who.subject, body->reason,
                   "reversed_by_operator");
  return rp;
}

// The rule for a top-up its bank returned after it settled (a recall for fraud, a return by
// the beneficiary's bank): a callback about a posted payment asks the bank for the payment's
// status (the callback's body is not trusted for it), and a "returned" one reverses the
// top-up, the payment becoming reversed ("returned_by_bank"). Answered only once that is
// durable, so an unreachable bank or a failed commit gets the callback delivered again. If the
// wallet no longer holds the money, nothing moves (no wallet is overdrawn): logged as an error
// for operators, and the callback is answered (another delivery would not change it).
caf::result<op_reply> check_return(self_ptr self, const store::payment_row& p) {
  auto answer = [](bool duplicate) {
    return op_reply{
        boost::json::serialize(boost::json::object{{"accepted", true}, {"duplicate", duplicate}})};
  };
  auto rp = self->make_response_promise<op_reply>();
  ask_bank<payment_reply>(
      self, rp,
      [self, p, answer](promise& rp, const payment_reply& r) {
        if (r.outcome != bank_outcome::taken) {
          rp.deliver(bank_error(r.outcome));
          return;
        }
        if (r.payment.status != "returned") {
          rp.deliver(answer(true));
          return;
        }
        reversal_outcome then;
        then.reversed = [answer](promise& rp, op_reply) { rp.deliver(answer(false)); };
        then.refused = [p, answer, why = r.payment.reason](promise& rp, caf::error err) {
          if (err != make_error(banking_errc::insufficient_funds)) {
            rp.deliver(std::move(err));
            return;
          }
          log::error("banking: a returned top-up cannot be reversed: the wallet spent it",
                     {{"payment_id", p.payment_id},
                      {"user_id", p.user_id},
                      {"amount_minor", p.amount},
                      {"currency", p.currency},
                      {"reason", why}});
          rp.deliver(answer(false));
        };
        reverse_transfer(self, rp, p.payment_id, "rule:bank_return", r.payment.reason,
                         "returned_by_bank", std::move(then));
      },
      payment_status_atom::value, p.consent_id, p.bank_payment_id);
  return rp;
}

using op_fn = caf::result<op_reply> (*)(self_ptr, const op_request&);

const std::map<std::string, op_fn, std::less<>>& op_table() {
  static const std::map<std::string, op_fn, std::less<>> table{
      {"banking.open_account", do_open_account}, {"banking.accounts", do_accounts},
      {"banking.statement", do_statement},       {"banking.transfer", do_transfer},
      {"banking.hold", do_hold},                 {"banking.capture", do_capture},
      {"banking.batch", do_batch},
      {"banking.release", do_release},           {"banking.transfer_status", do_transfer_status},
      {"banking.link_bank", do_link_bank},       {"banking.linked_banks", do_linked_banks},
      {"banking.unlink_bank", do_unlink_bank},   {"banking.bank_accounts", do_bank_accounts},
      {"banking.topup", do_topup},               {"banking.payment_status", do_payment_status},
      {std::string{bank_callback_op}, do_bank_callback},
      {std::string{reverse_op}, do_reverse},
  };
  return table;
}

service_actor::behavior_type banking_service(self_ptr self, banking_settings settings, banking_slots slots,
                                             sup::domain_context_ptr ctx) {
  register_banking_errors();
  auto& st = self->state;
  st.cfg = std::move(settings);
  st.slots = std::move(slots);
  st.ctx = std::move(ctx);
  if (!st.cfg.approval_keys)
    log::warn("banking: no approval keys: every transfer and hold will be refused");
  return {
      [self](op_atom, op_request& req) { return sup::run_op(op_table(), self, req); },
  };
}

}  // namespace

service_actor spawn_banking_service(caf::local_actor& parent, banking_settings settings, banking_slots slots,
                                    sup::domain_context_ptr ctx) {
  return sup::spawn_counted<caf::detached>(parent, banking_service, std::move(settings),
                                           std::move(slots), std::move(ctx));
}

}  // namespace superapp::banking
