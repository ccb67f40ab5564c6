// Every refusal of the banking domain a client can see: stable wire codes.
#pragma once

#include <cstdint>

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "protocols/error_catalogue.hpp"

namespace superapp::banking {

// Wire codes are "<snake_case>" as describe() gives them; never renumber, only append.
enum class banking_errc : std::uint8_t {
  invalid_currency = 1,          // not three letters A-Z
  account_not_found = 2,         // the caller has no wallet in this currency: open one
  payee_account_not_found = 3,   // the payee has no wallet in this currency
  same_account = 4,              // paying yourself
  amount_must_be_positive = 5,   // zero (negative ones never pass the body's schema)
  insufficient_funds = 6,        // the wallet's available balance is less than the amount
  balance_overflow = 7,          // a balance would leave 64-bit minor units
  hold_not_found = 8,            // no such hold of the caller's
  hold_already_captured = 9,
  hold_already_released = 10,
  hold_expired = 11,
  exceeds_hold = 12,             // capture more than was held
  approval_invalid = 13,         // missing, forged, expired, or for another amount/payee/user
  approval_already_used = 14,    // the approval paid for another transfer: ask identity again
  transfer_not_found = 15,       // no such transfer the caller paid or received
  bank_unavailable = 16,         // the bank did not answer: retry
  bank_link_not_found = 17,      // no such bank link of the caller's
  bank_link_revoked = 18,        // the link's consent was revoked: link the bank again
  bank_refused = 19,             // the bank said no (unknown customer or account, consent withdrawn)
  payment_not_found = 20,        // no such payment of the caller's
  webhook_signature_invalid = 21,  // a bank callback whose HMAC does not verify
  webhook_stale = 22,            // a bank callback signed too long ago (or in the future)
  limit_per_transaction = 23,    // above the caller's KYC level's per-transaction limit
  limit_per_day = 24,            // the day's payments would pass the level's per-day limit
  limit_balance = 25,            // the receiving wallet would hold more than its level allows
  transfer_not_reversible = 26,  // a hold (reverse its capture), a release or a reversal
  batch_invalid = 27,            // a batch needs 1..50 items
};

inline constexpr banking_errc last_banking_errc = banking_errc::batch_invalid;
inline constexpr caf::atom_value banking_category = caf::atom("banking");

caf::error make_error(banking_errc code);
error_description describe(banking_errc code);

// Registers the `banking` category with the error catalogue; idempotent (also at static init).
void register_banking_errors();

}  // namespace superapp::banking
