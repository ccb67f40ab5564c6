// Bodies of the banking domain's client ops (banking.*) and their schemas: the gateway checks
// requests with them, the banking domain decodes with them. See actors/banking/README.md.
// Money is always {"minor", "currency"} (money.hpp); ids are opaque strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/ws/body.hpp"
#include "protocols/ws/money.hpp"

namespace superapp::ws {

inline constexpr std::size_t max_user_id_chars = 64;
inline constexpr std::size_t max_approval_chars = 4096;  // a compact JWS
inline constexpr std::size_t max_transfer_id_chars = 64;
inline constexpr std::int64_t max_statement_page = 200;
inline constexpr std::int64_t max_hold_seconds = 7 * 24 * 3600;
inline constexpr std::size_t max_batch_items = 50;

struct banking_open_account_request {
  std::string currency;  // ISO 4217: the wallet's currency
};
// A wallet and its balances (minor units of `currency`).
struct banking_account {
  std::string currency;
  std::int64_t available_minor = 0;  // what can be spent now: posted less what is held
  std::int64_t posted_minor = 0;     // credits less debits posted
  std::int64_t held_minor = 0;       // reserved by holds not yet captured or released
  std::int64_t incoming_minor = 0;   // held for this wallet by others, not yet captured
};
struct banking_accounts_reply {
  std::vector<banking_account> accounts;
};
struct banking_statement_request {
  std::string currency;
  std::optional<std::int64_t> after;  // the cursor: `next_after` of the previous page
  std::optional<std::int64_t> limit;  // 1..max_statement_page, default 50
};
struct banking_statement_line {
  std::int64_t seq = 0;  // the ledger's order
  std::string transfer_id;
  std::string kind;          // immediate | post_pending (a captured hold)
  std::string counterparty;  // "user:<id>", or the ledger account (funding, fees, ...)
  std::int64_t amount_minor = 0;  // > 0 received, < 0 paid
  std::int64_t at_ms = 0;
};
struct banking_statement_reply {
  std::string currency;
  std::vector<banking_statement_line> lines;
  std::optional<std::int64_t> next_after;  // absent on the last page
};
// A payment to another user's wallet of the same currency. `approval`: identity's approval
// for operation "banking.transfer" with this amount and payee (identity.authorise).
struct banking_transfer_request {
  std::string to_user;
  money amount;
  std::string approval;
};
struct banking_transfer_reply {
  std::string transfer_id;
  std::string state;  // posted
  money amount;
  std::string to_user;
};
// Several payments from the caller's wallet of `currency` that are posted together or not at
// all (a split bill, a payroll), to 1..max_batch_items payees (a payee may repeat).
// `approval`: identity's approval for operation "banking.batch", the total in `currency`, and
// the payee batch_payee(currency, items), which binds it to exactly these payees and amounts.
struct banking_batch_item {
  std::string to_user;
  std::int64_t amount_minor = 0;
};
struct banking_batch_request {
  std::string currency;
  std::vector<banking_batch_item> items;
  std::string approval;
};
struct banking_batch_reply_item {
  std::string transfer_id;  // the batch id, '_', the item's index from 0
  std::string to_user;
  std::int64_t amount_minor = 0;
};
struct banking_batch_reply {
  std::string batch_id;
  std::string state;  // posted
  money total;
  std::vector<banking_batch_reply_item> items;
};
// "batch:" + the first 32 hex digits of SHA-256 over the currency, then "<to_user>:<minor>"
// of every item in order, joined by '\n': what the approval's payee must be.
std::string batch_payee(std::string_view currency, const std::vector<banking_batch_item>& items);

// An operator's reversal (internal op banking.reverse, not in the client catalogue).
inline constexpr std::size_t max_reason_chars = 500;
struct banking_reverse_request {
  std::string transfer_id;
  std::string reason;  // for the audit and the domain's log
};

// Reserves the amount from the caller's wallet for `to_user`, until captured, released, or
// `expires_in_s` (default a day) passes. Approved like a transfer.
struct banking_hold_request {
  std::string to_user;
  money amount;
  std::string approval;
  std::optional<std::int64_t> expires_in_s;
};
struct banking_hold_reply {
  std::string hold_id;
  std::string state;  // held
  money amount;
  std::string to_user;
  std::int64_t expires_at_s = 0;
};
struct banking_capture_request {
  std::string hold_id;
  std::optional<std::int64_t> amount_minor;  // part of the hold (the rest is released); absent: all
};
struct banking_release_request {
  std::string hold_id;
};
struct banking_settle_reply {
  std::string hold_id;
  std::string transfer_id;  // the capture's or the release's own id
  std::string state;        // captured | released
  std::int64_t amount_minor = 0;  // captured, or released
};
struct banking_transfer_status_request {
  std::string transfer_id;
};
struct banking_transfer_status_reply {
  std::string transfer_id;
  std::string kind;   // immediate | pending | post_pending | void_pending
  std::string state;  // posted | held | captured | released
  money amount;
  std::string from;  // counterparty forms as in statements
  std::string to;
  std::int64_t at_ms = 0;
};

// Open Banking: a link is the consent a bank gave for the user's customer id there.
struct banking_link_bank_request {
  std::string customer;  // the user's customer id at the bank
};
struct banking_link {
  std::string link_id;
  std::string customer;
  std::string status;  // active | revoked
};
struct banking_links_reply {
  std::vector<banking_link> links;
};
struct banking_link_ref {
  std::string link_id;
};
struct banking_bank_account {
  std::string account_id;
  std::string currency;
  std::string name;
  std::int64_t available_minor = 0;
};
struct banking_bank_accounts_reply {
  std::vector<banking_bank_account> accounts;
};
// A top-up: a payment initiated at the user's bank, from `bank_account` to the platform, that
// credits the wallet of its currency once the bank settles it.
struct banking_topup_request {
  std::string link_id;
  std::string bank_account;
  money amount;
};
struct banking_payment_ref {
  std::string payment_id;
};
struct banking_payment {
  std::string payment_id;
  std::string kind;   // topup
  std::string state;  // created | unknown | authorised | posted | failed | reversed
  money amount;
  std::string reason;  // why it failed ("" otherwise)
};

const body_schema<banking_link_bank_request>& banking_link_bank_request_schema();
const body_schema<banking_link>& banking_link_schema();
const body_schema<banking_links_reply>& banking_links_reply_schema();
const body_schema<banking_link_ref>& banking_link_ref_schema();
const body_schema<banking_bank_accounts_reply>& banking_bank_accounts_reply_schema();
const body_schema<banking_topup_request>& banking_topup_request_schema();
const body_schema<banking_payment_ref>& banking_payment_ref_schema();
const body_schema<banking_payment>& banking_payment_schema();

const body_schema<banking_open_account_request>& banking_open_account_request_schema();
const body_schema<banking_account>& banking_account_schema();
const body_schema<banking_accounts_reply>& banking_accounts_reply_schema();
const body_schema<banking_statement_request>& banking_statement_request_schema();
const body_schema<banking_statement_reply>& banking_statement_reply_schema();
const body_schema<banking_transfer_request>& banking_transfer_request_schema();
const body_schema<banking_transfer_reply>& banking_transfer_reply_schema();
const body_schema<banking_batch_request>& banking_batch_request_schema();
const body_schema<banking_batch_reply>& banking_batch_reply_schema();
const body_schema<banking_reverse_request>& banking_reverse_request_schema();
const body_schema<banking_hold_request>& banking_hold_request_schema();
const body_schema<banking_hold_reply>& banking_hold_reply_schema();
const body_schema<banking_capture_request>& banking_capture_request_schema();
const body_schema<banking_release_request>& banking_release_request_schema();
const body_schema<banking_settle_reply>& banking_settle_reply_schema();
const body_schema<banking_transfer_status_request>& banking_transfer_status_request_schema();
const body_schema<banking_transfer_status_reply>& banking_transfer_status_reply_schema();

class op_catalogue;
void add_banking_ops(op_catalogue& c);

}  // namespace superapp::ws
