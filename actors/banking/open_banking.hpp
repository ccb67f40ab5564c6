// The Open Banking connector: the banking domain's client of external banks (consents,
// accounts and balances, payment initiation and status), in the style of UK Open Banking / FDX
// as the bank simulator speaks it (simulators/bank/bank_simulator.hpp). One detached actor per
// domain makes one blocking HTTP call at a time, each within `timeout`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace superapp::banking {

// What a call to the bank came to. `taken`: the bank answered 2xx. `refused`: it answered 4xx
// (a definite no: nothing was done). `unavailable`: no answer, or 5xx; for a payment
// initiation after the request may have been sent this is an *unknown outcome*: the payment
// may exist at the bank, so it is reconciled (found by reference), never sent blindly again.
enum class bank_outcome : std::uint8_t { taken, refused, unavailable };

struct bank_account_view {
  std::string account_id;
  std::string currency;
  std::string name;
  std::int64_t available_minor = 0;
};

struct bank_payment_view {
  std::string payment_id;  // the bank's
  std::string status;      // pending | completed | rejected | returned (after completed)
  std::string reason;
};

struct consent_reply {
  bank_outcome outcome = bank_outcome::unavailable;
  std::string consent_id;
};
struct accounts_reply {
  bank_outcome outcome = bank_outcome::unavailable;
  std::vector<bank_account_view> accounts;
};
struct payment_reply {
  bank_outcome outcome = bank_outcome::unavailable;
  bool sent = false;  // unavailable after the request may have reached the bank: unknown outcome
  bank_payment_view payment;
};
struct find_reply {
  bank_outcome outcome = bank_outcome::unavailable;
  std::vector<bank_payment_view> payments;
};

struct payment_order {
  std::string consent_id;
  std::string idempotency_key;  // the bank's idempotency key: our payment id
  std::string debtor_account;
  std::int64_t amount_minor = 0;
  std::string currency;
  std::string reference;  // our payment id, to find it by
};

using consent_atom = caf::atom_constant<caf::atom("ob_consent")>;
using revoke_atom = caf::atom_constant<caf::atom("ob_revoke")>;
using accounts_atom = caf::atom_constant<caf::atom("ob_accts")>;
using initiate_atom = caf::atom_constant<caf::atom("ob_pay")>;
using payment_status_atom = caf::atom_constant<caf::atom("ob_status")>;
using find_payment_atom = caf::atom_constant<caf::atom("ob_find")>;

// consent:   a consent for `customer` (the user's id at the bank) with every permission.
// revoke:    the consent revoked (taken; refused when the bank does not know it).
// accounts:  the consent's accounts with their balances.
// initiate:  a payment from the customer's account to the platform.
// status:    a payment's status by the bank's id (consent, bank payment id).
// find:      the payments with our reference (consent, reference): reconciliation.
using bank_connector_actor = caf::typed_actor<
    caf::replies_to<consent_atom, std::string>::with<consent_reply>,
    caf::replies_to<revoke_atom, std::string>::with<bank_outcome>,
    caf::replies_to<accounts_atom, std::string>::with<accounts_reply>,
    caf::replies_to<initiate_atom, payment_order>::with<payment_reply>,
    caf::replies_to<payment_status_atom, std::string, std::string>::with<payment_reply>,
    caf::replies_to<find_payment_atom, std::string, std::string>::with<find_reply>>;

struct open_banking_settings {
  std::string bank_url;  // http://HOST:PORT of the bank's API (the simulator in `superapp run`)
  std::chrono::milliseconds timeout{3000};
};

// Spawned detached (it blocks on HTTP) from `parent`.
bank_connector_actor spawn_bank_connector(caf::local_actor& parent, open_banking_settings settings);

}  // namespace superapp::banking

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::bank_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::consent_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::accounts_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::payment_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::find_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::banking::payment_order)
