// The banking error category: wire codes, messages, retryability.
#include "actors/banking/banking_errc.hpp"

namespace superapp::banking {
namespace {

const bool registered = [] {
  register_enum_category<banking_errc, last_banking_errc>(banking_category);
  return true;
}();

}  // namespace

void register_banking_errors() {
  (void)registered;
  register_enum_category<banking_errc, last_banking_errc>(banking_category);
}

caf::error make_error(banking_errc code) {
  return caf::error{static_cast<std::uint8_t>(code), banking_category};
}

error_description describe(banking_errc code) {
  switch (code) {
    case banking_errc::invalid_currency:
      return {"invalid_currency", "the currency must be an ISO 4217 code such as GBP", false};
    case banking_errc::account_not_found:
      return {"account_not_found", "you have no wallet in this currency: open one first", false};
    case banking_errc::payee_account_not_found:
      return {"payee_account_not_found", "the payee has no wallet in this currency", false};
    case banking_errc::same_account:
      return {"same_account", "you cannot pay yourself", false};
    case banking_errc::amount_must_be_positive:
      return {"amount_must_be_positive", "the amount must be more than zero", false};
    case banking_errc::insufficient_funds:
      return {"insufficient_funds", "the wallet's available balance is less than the amount", false};
    case banking_errc::balance_overflow:
      return {"balance_overflow", "the amount would take a balance beyond what can be held", false};
    case banking_errc::hold_not_found:
      return {"hold_not_found", "you have no such hold", false};
    case banking_errc::hold_already_captured:
      return {"hold_already_captured", "the hold was captured already", false};
    case banking_errc::hold_already_released:
      return {"hold_already_released", "the hold was released already", false};
    case banking_errc::hold_expired:
      return {"hold_expired", "the hold expired and its amount was released", false};
    case banking_errc::exceeds_hold:
      return {"exceeds_hold", "the amount is more than the hold reserved", false};
    case banking_errc::approval_invalid:
      return {"approval_invalid",
              "the approval is missing, expired, or not for this amount, payee and user: ask "
              "identity.authorise for one",
              false};
    case banking_errc::approval_already_used:
      return {"approval_already_used", "the approval paid for another transfer: ask for a new one",
              false};
    case banking_errc::transfer_not_found:
      return {"transfer_not_found", "no such transfer of yours", false};
    case banking_errc::bank_unavailable:
      return {"bank_unavailable", "the bank is not answering; retry", true};
    case banking_errc::bank_link_not_found:
      return {"bank_link_not_found", "you have no such bank link", false};
    case banking_errc::bank_link_revoked:
      return {"bank_link_revoked", "the bank link was revoked: link the bank again", false};
    case banking_errc::bank_refused:
      return {"bank_refused", "the bank refused: check the customer id or account", false};
    case banking_errc::payment_not_found:
      return {"payment_not_found", "you have no such payment", false};
    case banking_errc::webhook_signature_invalid:
      return {"webhook_signature_invalid", "the callback's signature does not verify", false};
    case banking_errc::webhook_stale:
      return {"webhook_stale", "the callback's timestamp is outside the accepted window", false};
    case banking_errc::limit_per_transaction:
      return {"limit_per_transaction", "the amount is above your verification level's limit per payment (kyc.status)", false};
    case banking_errc::limit_per_day:
      return {"limit_per_day", "today's payments would pass your verification level's daily limit (kyc.status)", false};
    case banking_errc::limit_balance:
      return {"limit_balance", "the receiving wallet would hold more than its owner's verification level allows", false};
    case banking_errc::transfer_not_reversible:
      return {"transfer_not_reversible",
              "only a posted transfer or a hold's capture can be reversed", false};
    case banking_errc::batch_invalid:
      return {"batch_invalid", "a batch takes 1 to 50 payments", false};
  }
  return {"internal", "internal error", false};
}

}  // namespace superapp::banking
