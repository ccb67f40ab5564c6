// The payment actor's state machine and the payments supervisor.
#include "actors/banking/payments.hpp"

#include <caf/all.hpp>

#include "actors/banking/banking_service.hpp"
#include "actors/banking/open_banking.hpp"
#include "actors/banking/payments_store.hpp"
#include "persistence/writer.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::banking {

std::string bank_settlement_account(std::string_view currency) { return "bank:" + std::string{currency}; }

namespace {

using store::payment_row;
using store::payment_state;
using wake_atom = caf::atom_constant<caf::atom("pay_wake")>;

struct payment_state_t {
  payments_settings cfg;
  sup::domain_context_ptr ctx;
  std::shared_ptr<sup::service_slot> ledger;
  std::shared_ptr<sup::service_slot> connector;
  payment_row row;
  std::chrono::milliseconds wait{0};
  int lookups = 0;
  std::uint64_t generation = 0;  // of the wake-up awaited; older ones are ignored
  bool busy = false;             // a call or commit in flight
  static inline const char* name = "payment";
};

using self_ptr = caf::stateful_actor<payment_state_t>*;

std::int64_t now_ms(self_ptr self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(self->state.cfg.clock->now().time_since_epoch())
      .count();
}

void step(self_ptr self);

// Looks again after the current wait (doubling up to max_wait).
void later(self_ptr self) {
  auto& st = self->state;
  st.busy = false;
  st.wait = st.wait.count() == 0 ? st.cfg.first_wait : std::min(st.wait * 2, st.cfg.max_wait);
  self->delayed_send(self, st.wait, wake_atom::value, ++st.generation);
}

// Persists the step to `next` with its event, then goes on from there (or ends, when terminal).
// A failed commit ends the actor with the error: its supervisor starts it again from the row.
void advance(self_ptr self, payment_row next) {
  auto& st = self->state;
  persistence::unit_of_work unit;
  store::advance_payment(unit, st.row, next, *st.cfg.clock, now_ms(self));
  self->request(st.ctx->store, st.cfg.store_timeout, persistence::write_atom::value, std::move(unit))
      .then(
          [self, next](persistence::unit_results&) mutable {
            auto& st = self->state;
            next.version = st.row.version + 1;
            log::info("banking: payment", {{"payment_id", next.payment_id},
                                           {"state", store::to_string(next.state)},
                                           {"reason", next.reason}});
            st.row = std::move(next);
            st.wait = std::chrono::milliseconds{0};
            st.busy = false;
            if (store::terminal(st.row.state)) return self->quit();
            step(self);
          },
          [self](caf::error& err) {
            log::warn("banking: a payment step was not committed",
                      {{"payment_id", self->state.row.payment_id}, {"code", superapp::describe(err).wire_code}});
            self->quit(err);
          });
}

payment_row with(const payment_row& p, payment_state s, std::string bank_id, std::string reason) {
  auto next = p;
  next.state = s;
  if (!bank_id.empty()) next.bank_payment_id = std::move(bank_id);
  next.reason = std::move(reason);
  return next;
}

caf::optional<bank_connector_actor> connector_of(self_ptr self) {
  auto a = self->state.connector->get();
  if (!a) return caf::none;
  return caf::actor_cast<bank_connector_actor>(a);
}

void initiate(self_ptr self, const bank_connector_actor& bank) {
  const auto& p = self->state.row;
  payment_order order{p.consent_id, p.payment_id, p.bank_account, p.amount, p.currency, p.payment_id};
  self->request(bank, self->state.cfg.call_timeout, initiate_atom::value, order)
      .then(
          [self](payment_reply& r) {
            const auto& p = self->state.row;
            if (r.outcome == bank_outcome::taken)
              return advance(self, with(p, payment_state::authorised, r.payment.payment_id, ""));
            if (r.outcome == bank_outcome::refused) return advance(self, with(p, payment_state::failed, "", "bank_refused"));
            // No answer: if it may have reached the bank the outcome is unknown (reconcile);
            // if it certainly did not, sending it again is safe.
            if (r.sent) return advance(self, with(p, payment_state::unknown, "", "no_answer"));
            later(self);
          },
          [self](caf::error&) {
            // The connector itself did not answer in time: the request may be in flight.
            advance(self, with(self->state.row, payment_state::unknown, "", "no_answer"));
          });
}

void reconcile(self_ptr self, const bank_connector_actor& bank) {
  const auto& p = self->state.row;
  self->request(bank, self->state.cfg.call_timeout, find_payment_atom::value, p.consent_id, p.payment_id)
      .then(
          [self](find_reply& r) {
            auto& st = self->state;
            if (r.outcome == bank_outcome::taken && !r.payments.empty())
              return advance(self, with(st.row, payment_state::authorised, r.payments.front().payment_id, ""));
            if (r.outcome == bank_outcome::taken && ++st.lookups >= st.cfg.reconcile_lookups)
              return advance(self, with(st.row, payment_state::failed, "", "not_received_by_bank"));
            later(self);
          },
          [self](caf::error&) { later(self); });
}

// The bank settled it: credit the wallet from the bank settlement account (the ledger's
// transfer id is the payment id, so doing it again after a crash answers `exists`).
void credit(self_ptr self) {
  auto ledger_handle = self->state.ledger->get();
  if (!ledger_handle) return later(self);
  auto ledger = caf::actor_cast<ledger_actor>(ledger_handle);
  const auto& p = self->state.row;
  account settlement{bank_settlement_account(p.currency), p.currency, 0};
  transfer t;
  t.id = p.payment_id;
  t.debit_account = settlement.id;
  t.credit_account = wallet_id(p.user_id, p.currency);
  t.amount = p.amount;
  t.currency = p.currency;
  self->request(ledger, self->state.cfg.call_timeout, open_account_atom::value, settlement)
      .then(
          [self, ledger, t](bool) {
            self->request(ledger, self->state.cfg.call_timeout, transfer_atom::value, t)
                .then(
                    [self](transfer_result r) {
                      const auto& p = self->state.row;
                      if (r == transfer_result::ok || r == transfer_result::exists)
                        return advance(self, with(p, payment_state::posted, "", ""));
                      // Settled at the bank but not creditable (the wallet is gone): failed,
                      // for operators to refund from the settlement account.
                      log::error("banking: a settled payment could not be credited",
                                 {{"payment_id", p.payment_id}, {"result", to_string(r)}});
                      advance(self, with(p, payment_state::failed, "", "ledger_" + std::string{to_string(r)}));
                    },
                    [self](caf::error&) { later(self); });
          },
          [self](caf::error&) { later(self); });
}

void poll(self_ptr self, const bank_connector_actor& bank) {
  const auto& p = self->state.row;
  self->request(bank, self->state.cfg.call_timeout, payment_status_atom::value, p.consent_id, p.bank_payment_id)
      .then(
          [self](payment_reply& r) {
            if (r.outcome != bank_outcome::taken || r.payment.status == "pending") return later(self);
            if (r.payment.status == "completed") return credit(self);
            advance(self, with(self->state.row, payment_state::failed, "",
                               r.payment.reason.empty() ? "rejected" : r.payment.reason));
          },
          [self](caf::error&) { later(self); });
}

void step(self_ptr self) {
  auto& st = self->state;
  if (st.busy) return;
  auto bank = connector_of(self);
  if (!bank) return later(self);
  st.busy = true;
  switch (st.row.state) {
    case payment_state::created:
      return initiate(self, *bank);
    case payment_state::unknown:
      return reconcile(self, *bank);
    case payment_state::authorised:
      return poll(self, *bank);
    case payment_state::posted:
    case payment_state::failed:
    case payment_state::reversed:
      return self->quit();
  }
}

caf::behavior payment_actor(self_ptr self, payments_settings cfg, sup::domain_context_ptr ctx,
                            std::shared_ptr<sup::service_slot> ledger, std::shared_ptr<sup::service_slot> connector,
                            payment_row row) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.ctx = std::move(ctx);
  st.ledger = std::move(ledger);
  st.connector = std::move(connector);
  st.row = std::move(row);
  self->send(self, wake_atom::value, st.generation);
  return {
      [self](wake_atom, std::uint64_t generation) {
        if (generation == self->state.generation) step(self);
      },
      [self](payment_check_atom) {
        // A webhook: look now rather than at the next wake-up.
        if (!self->state.busy) {
          ++self->state.generation;
          step(self);
        }
      },
  };
}

}  // namespace

sup::domain_worker payments_worker(payments_settings settings, std::shared_ptr<sup::service_slot> ledger_slot,
                                   std::shared_ptr<sup::service_slot> connector_slot,
                                   std::shared_ptr<sup::service_slot> payments_slot,
                                   std::shared_ptr<payment_registry> running) {
  // The children's start needs the store's context of the moment: the worker's start sets it.
  auto context = std::make_shared<sup::domain_context_ptr>();
  sup::child_spec payment;
  payment.id = "payment";
  payment.restart = sup::restart_type::transient;  // a finished payment ends normally
  payment.shutdown_timeout = std::chrono::seconds{2};
  payment.start = [settings, context, ledger_slot, connector_slot, running](
                      caf::local_actor& parent, const caf::message& args) -> caf::expected<caf::actor> {
    if (!args.match_elements<std::string>()) return make_error(platform_errc::bad_request);
    auto ctx = *context;
    auto conn = ctx->readers->borrow();
    if (!conn) return conn.error();
    auto row = store::find_payment(**conn, args.get_as<std::string>(0));
    if (!row) return row.error();
    if (!*row) return make_error(platform_errc::not_found);
    auto id = (*row)->payment_id;
    auto actor = sup::spawn_counted(parent, payment_actor, settings, ctx, ledger_slot,
                                    connector_slot, **row);
    running->add(id, actor);
    actor->attach_functor([running, id, addr = actor.address()] {
      if (running->find(id).address() == addr) running->remove(id);
    });
    return actor;
  };
  sup::supervisor_spec spec;
  spec.name = "payments";
  spec.strategy_kind = sup::strategy::simple_one_for_one;
  // A payment that keeps failing (a database outage) is retried with backoff; only many
  // failures at once escalate to the banking tree.
  spec.intensity = {100, std::chrono::seconds{10}};
  spec.backoff = {std::chrono::milliseconds{50}, std::chrono::seconds{5}, 20};
  spec.children.push_back(std::move(payment));
  auto as_child = sup::supervisor_child(std::move(spec));

  sup::domain_worker worker;
  worker.spec = as_child;
  worker.start = [start = as_child.start, context, payments_slot](
                     caf::local_actor& parent, const caf::message& args,
                     sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    *context = ctx;
    auto open = [&ctx]() -> caf::expected<std::vector<std::string>> {
      auto conn = ctx->readers->borrow();
      if (!conn) return conn.error();
      return store::open_payments(**conn);
    }();
    if (!open) return open.error();
    auto sup = start(parent, args);
    if (!sup) return sup;
    payments_slot->set(*sup);
    for (const auto& id : *open) caf::anon_send(*sup, sup::start_child_atom::value, caf::make_message(id));
    if (!open->empty()) log::info("banking: resuming open payments", {{"count", static_cast<std::int64_t>(open->size())}});
    return sup;
  };
  return worker;
}

}  // namespace superapp::banking
