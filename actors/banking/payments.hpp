// Payments as actors: one actor per payment under the `payments` supervisor (simple_one_for_one,
// transient children). Each runs its payment's state machine (payments_store.hpp) against the
// bank through the Open Banking connector and against the ledger, persisting every step with
// its event (outbox) before the next. A payment actor that crashes is started again by its
// supervisor and resumes from the database; a restarted node resumes every open payment.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "actors/banking/ledger_writer.hpp"
#include "protocols/clock.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::banking {

// To a payment actor: look at the bank now (a webhook said its payment moved).
using payment_check_atom = caf::atom_constant<caf::atom("pay_check")>;

// The payment actors running now, by payment id: where a bank's callback finds its payment.
class payment_registry {
 public:
  void add(const std::string& payment_id, caf::actor a) {
    std::lock_guard<std::mutex> guard{mutex_};
    actors_[payment_id] = std::move(a);
  }
  void remove(const std::string& payment_id) {
    std::lock_guard<std::mutex> guard{mutex_};
    actors_.erase(payment_id);
  }
  caf::actor find(const std::string& payment_id) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = actors_.find(payment_id);
    return it == actors_.end() ? caf::actor{} : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, caf::actor> actors_;
};

struct payments_settings {
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();
  // Between looks at the bank: `first_wait`, doubling up to `max_wait`.
  std::chrono::milliseconds first_wait{200};
  std::chrono::milliseconds max_wait{5000};
  // A payment whose initiation got no answer (`unknown`) is looked up by reference; found
  // nowhere after this many lookups, it never reached the bank: failed (never sent again).
  int reconcile_lookups = 8;
  std::chrono::milliseconds call_timeout{5000};  // a connector or ledger call
  std::chrono::milliseconds store_timeout{10'000};
};

// The ledger's account that holds the platform's money at the bank, per currency ("bank:GBP");
// a top-up moves money from it to the user's wallet.
std::string bank_settlement_account(std::string_view currency);

// The `payments` supervisor as a domain worker: started after the ledger and the connector
// (found through their slots), published in `payments_slot`, and handed every open payment of
// the database at its start. Start a payment with
// (start_child_atom, caf::make_message(payment_id)).
sup::domain_worker payments_worker(payments_settings settings, std::shared_ptr<sup::service_slot> ledger_slot,
                                   std::shared_ptr<sup::service_slot> connector_slot,
                                   std::shared_ptr<sup::service_slot> payments_slot,
                                   std::shared_ptr<payment_registry> running);

}  // namespace superapp::banking
