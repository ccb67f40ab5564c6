// The bank simulator: a real HTTP server (Beast) in the style of UK Open Banking / FDX that the
// banking domain's connector talks to in tests and in `superapp run`: consents, accounts,
// balances, transactions, and payment initiation with status polling and signed webhooks. It
// can be told to fail the ways real banks do (5xx, slow, answers lost after a payment was
// taken, wrong webhook signatures).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace superapp::sim {

// Every body is JSON. Errors answer {"error": "<text>"}.
//
// POST   /v1/consents {"customer": "<1..64 chars>", "permissions": [...]}
//          permissions: a non-empty subset of "accounts", "balances", "transactions", "payments"
//          -> 201 {"consent_id": "cons-<n>", "status": "authorised", "customer", "permissions"}
//          (the simulated customer approves at once). A customer is made on first use with one
//          account {"account_id": "acc-<n>", "currency": "GBP", "name": "Current account"}
//          holding opening_balance (set_opening_balance; 100000 minor units unless set).
//          400 on a bad body.
// DELETE /v1/consents/{id} -> 204; 404 unknown. A revoked consent answers 403 to every call.
//
// Every other /v1 call names its consent in header "x-consent-id": missing or unknown -> 401;
// revoked, or lacking the permission the call needs -> 403; an account or payment of another
// customer than the consent's -> 404.
// GET    /v1/accounts                        (accounts)
//          -> 200 {"accounts": [{"account_id", "currency", "name"}]}
// GET    /v1/accounts/{id}/balances          (balances)
//          -> 200 {"account_id", "currency", "available_minor"}
// GET    /v1/accounts/{id}/transactions      (transactions)
//          -> 200 {"transactions": [{"transaction_id", "amount_minor" (< 0 paid out),
//                                    "currency", "reference", "booked_at_ms"}]}  oldest first
// POST   /v1/payments                        (payments) header "x-idempotency-key" (1..64)
//          {"debtor_account", "amount_minor" (> 0), "currency", "reference" (1..64 chars: the
//           initiator's own id for the payment)}
//          -> 201 {"payment_id": "pay-<n>", "status": "pending", "reference"}
//          the same key and body again -> 200 with the same payment (and its status now);
//          the same key with another body -> 409; no key, a bad body, or a currency other than
//          the account's -> 400
// GET    /v1/payments/{id}                   (payments)
//          -> 200 {"payment_id", "reference",
//                  "status": "pending"|"completed"|"rejected"|"returned",
//                  "reason" ("", "insufficient_funds", or a return's reason), "amount_minor",
//                  "currency", "debtor_account"}
// GET    /v1/payments?reference=R            (payments)
//          -> 200 {"payments": [ objects as above ]} (those of the consent's customer with that
//          reference; [] when none): how an initiator reconciles a payment it never got an
//          answer for.
// GET    /healthz -> 200
//
// Settlement, settle_delay after a payment is taken: if its debtor account holds at least the
// amount it is debited (a transaction with the payment's reference is booked) and the payment
// is "completed"; otherwise "rejected" with reason "insufficient_funds".
//
// A completed payment can later be returned (return_payment: a recall for fraud, a
// beneficiary bank's return): "returned" with the return's reason, the amount booked back to
// the debtor account (a transaction with the payment's reference), and a webhook.
//
// Webhook, when a payment is completed, rejected or returned and a URL is set:
//   POST <url> {"payment_id", "reference", "status", "reason"}
//   X-Bank-Timestamp: <unix seconds>
//   X-Bank-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
// retried like the KYC simulator's (6 attempts, 250 ms apart doubling up to 4 s), on a worker
// thread of the simulator's own.
class bank_simulator {
 public:
  enum class fault {
    none,
    unavailable,           // every /v1 call answers 503
    slow,                  // every /v1 call is answered after slow_delay
    lost_payment_answer,   // POST /v1/payments takes the payment (it settles), then answers
                           // only after slow_delay: the caller's answer is lost to its timeout
    bad_signature,         // webhooks are signed with a wrong key
  };

  bank_simulator();
  ~bank_simulator();
  bank_simulator(const bank_simulator&) = delete;
  bank_simulator& operator=(const bank_simulator&) = delete;

  // Binds (port 0: any free port) and serves on a thread of its own, settling and delivering
  // on another. Returns the port, or nullopt with `failure` set.
  std::optional<std::uint16_t> start(const std::string& bind_address, std::uint16_t port,
                                     std::string& failure);
  void stop();  // prompt; safe twice
  std::string base_url() const;  // http://ADDRESS:PORT

  // `url` like http://127.0.0.1:PORT/webhooks/bank ("" for none); `secret`: raw HMAC key.
  void set_webhook(std::string url, std::string secret);
  void set_fault(fault f);
  void set_slow_delay(std::chrono::milliseconds delay);    // 3 s unless set
  void set_settle_delay(std::chrono::milliseconds delay);  // 200 ms unless set
  void set_opening_balance(std::int64_t minor);            // for customers made from now on

  std::int64_t payments_received() const;  // distinct payments taken
  std::int64_t webhooks_delivered() const;  // attempts answered 2xx
  std::int64_t balance_of(const std::string& account_id) const;  // -1 when unknown
  // Returns the completed payment its initiator referenced as `reference` (see above). False
  // when there is none, or it is not completed (pending, rejected, or returned already).
  bool return_payment(const std::string& reference, const std::string& reason);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace superapp::sim
