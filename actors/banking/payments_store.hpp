// The tables of linked banks and payments (the same SQL on SQLite and PostgreSQL): what the
// Open Banking ops and the payment actors read and write. No CAF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "protocols/events/event.hpp"

namespace superapp::banking::store {

// bank_links and payments, as migration `version` of the banking database.
persistence::migration payments_migration(std::int64_t version);

// A user's link to a bank: the consent the bank gave for the user's customer id there.
struct bank_link {
  std::string link_id;
  std::string user_id;
  std::string customer;  // the user's id at the bank
  std::string consent_id;
  std::string status;  // active | revoked
  std::int64_t created_at_ms = 0;
};

void add_link(persistence::unit_of_work& u, const bank_link& l);
void revoke_link(persistence::unit_of_work& u, const std::string& link_id);
caf::expected<std::optional<bank_link>> find_link(persistence::connection& c, const std::string& link_id);
caf::expected<std::vector<bank_link>> links_of(persistence::connection& c, const std::string& user_id);

// A payment's life (the payment actor's state machine, persisted at every step):
//   created     recorded; not yet sent to the bank
//   unknown     sent, but no answer came: reconciled by reference, never sent blindly again
//   authorised  the bank took it (bank_payment_id known); waiting for it to settle
//   posted      settled at the bank and credited in the ledger (terminal)
//   failed      refused or rejected by the bank, or never received by it (terminal)
// reversed: an operator sent a posted top-up's money back (banking.reverse).
enum class payment_state : std::uint8_t { created, unknown, authorised, posted, failed, reversed };
std::string_view to_string(payment_state s);
std::optional<payment_state> payment_state_from(std::string_view s);
inline bool terminal(payment_state s) {
  return s == payment_state::posted || s == payment_state::failed || s == payment_state::reversed;
}

struct payment_row {
  std::string payment_id;  // also the bank's idempotency key, our reference, the ledger's transfer id
  std::string user_id;
  std::string kind;  // topup: from the user's bank account into the wallet
  std::string link_id;
  std::string consent_id;
  std::string bank_account;
  std::int64_t amount = 0;
  std::string currency;
  payment_state state = payment_state::created;
  std::string bank_payment_id;
  std::string reason;
  std::int64_t version = 1;  // the aggregate's event sequence: one more at every step
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// The event a step publishes: banking.payment.<state>, aggregate the payment, sequence its
// version, audience the user.
events::event payment_event(const superapp::clock& clock, const payment_row& p, const std::string& traceparent = {});

// Inserts the payment (version 1) with its banking.payment.created event.
void add_payment(persistence::unit_of_work& u, const payment_row& p, const superapp::clock& clock,
                 std::int64_t now_ms);
// Moves `p` (as read, at its version) to `next` (state, bank id, reason; version + 1) with its
// event; the unit fails when another step got there first.
void advance_payment(persistence::unit_of_work& u, const payment_row& p, const payment_row& next,
                     const superapp::clock& clock, std::int64_t now_ms);

caf::expected<std::optional<payment_row>> find_payment(persistence::connection& c, const std::string& payment_id);
// Payments not yet posted or failed: the ones a restarted node resumes.
caf::expected<std::vector<std::string>> open_payments(persistence::connection& c);

}  // namespace superapp::banking::store
