// The banking ops' schemas and catalogue entries.
#include "protocols/ws/banking_ops.hpp"

#include <limits>

#include "protocols/hex.hpp"
#include "protocols/ws/ops.hpp"

namespace superapp::ws {
namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr int_range non_negative{0, int64_max};
constexpr int_range any_int{std::numeric_limits<std::int64_t>::min(), int64_max};
constexpr min_length non_empty{1};
constexpr max_length currency_chars{3};
constexpr min_length currency_min{3};
constexpr max_length id_chars{max_transfer_id_chars};
constexpr max_length user_chars{max_user_id_chars};
constexpr max_length party_chars{128};
constexpr max_length word_chars{16};

}  // namespace

const body_schema<banking_open_account_request>& banking_open_account_request_schema() {
  static const auto s = body_schema<banking_open_account_request>{}.required(
      "currency", &banking_open_account_request::currency, currency_chars, currency_min);
  return s;
}
const body_schema<banking_account>& banking_account_schema() {
  static const auto s =
      body_schema<banking_account>{}
          .required("currency", &banking_account::currency, currency_chars, currency_min)
          .required("available_minor", &banking_account::available_minor, any_int)
          .required("posted_minor", &banking_account::posted_minor, any_int)
          .required("held_minor", &banking_account::held_minor, non_negative)
          .required("incoming_minor", &banking_account::incoming_minor, non_negative);
  return s;
}
const body_schema<banking_accounts_reply>& banking_accounts_reply_schema() {
  static const auto s = body_schema<banking_accounts_reply>{}.required(
      "accounts", &banking_accounts_reply::accounts, banking_account_schema(), max_items{256});
  return s;
}
const body_schema<banking_statement_request>& banking_statement_request_schema() {
  static const auto s =
      body_schema<banking_statement_request>{}
          .required("currency", &banking_statement_request::currency, currency_chars, currency_min)
          .optional("after", &banking_statement_request::after, non_negative)
          .optional("limit", &banking_statement_request::limit, int_range{1, max_statement_page});
  return s;
}
const body_schema<banking_statement_reply>& banking_statement_reply_schema() {
  static const auto line =
      body_schema<banking_statement_line>{}
          .required("seq", &banking_statement_line::seq, non_negative)
          .required("transfer_id", &banking_statement_line::transfer_id, id_chars)
          .required("kind", &banking_statement_line::kind, word_chars)
          .required("counterparty", &banking_statement_line::counterparty, party_chars)
          .required("amount_minor", &banking_statement_line::amount_minor, any_int)
          .required("at_ms", &banking_statement_line::at_ms, non_negative);
  static const auto s =
      body_schema<banking_statement_reply>{}
          .required("currency", &banking_statement_reply::currency, currency_chars, currency_min)
          .required("lines", &banking_statement_reply::lines, line,
                    max_items{static_cast<std::size_t>(max_statement_page)})
          .optional("next_after", &banking_statement_reply::next_after, non_negative);
  return s;
}
const body_schema<banking_transfer_request>& banking_transfer_request_schema() {
  static const auto s =
      body_schema<banking_transfer_request>{}
          .required("to_user", &banking_transfer_request::to_user, user_chars, non_empty)
          .required("amount", &banking_transfer_request::amount, money_schema())
          .required("approval", &banking_transfer_request::approval, max_length{max_approval_chars},
                    non_empty);
  return s;
}
const body_schema<banking_transfer_reply>& banking_transfer_reply_schema() {
  static const auto s = body_schema<banking_transfer_reply>{}
                            .required("transfer_id", &banking_transfer_reply::transfer_id, id_chars)
                            .required("state", &banking_transfer_reply::state, word_chars)
                            .required("amount", &banking_transfer_reply::amount, money_schema())
                            .required("to_user", &banking_transfer_reply::to_user, user_chars);
  return s;
}
const body_schema<banking_batch_request>& banking_batch_request_schema() {
  static const auto item =
      body_schema<banking_batch_item>{}
          .required("to_user", &banking_batch_item::to_user, user_chars, non_empty)
          .required("amount_minor", &banking_batch_item::amount_minor, non_negative);
  static const auto s =
      body_schema<banking_batch_request>{}
          .required("currency", &banking_batch_request::currency, currency_chars, currency_min)
          .required("items", &banking_batch_request::items, item, max_items{max_batch_items})
          .required("approval", &banking_batch_request::approval, max_length{max_approval_chars},
                    non_empty);
  return s;
}
const body_schema<banking_batch_reply>& banking_batch_reply_schema() {
  static const auto item =
      body_schema<banking_batch_reply_item>{}
          .required("transfer_id", &banking_batch_reply_item::transfer_id, id_chars)
          .required("to_user", &banking_batch_reply_item::to_user, user_chars)
          .required("amount_minor", &banking_batch_reply_item::amount_minor, non_negative);
  static const auto s =
      body_schema<banking_batch_reply>{}
          .required("batch_id", &banking_batch_reply::batch_id, id_chars)
          .required("state", &banking_batch_reply::state, word_chars)
          .required("total", &banking_batch_reply::total, money_schema())
          .required("items", &banking_batch_reply::items, item, max_items{max_batch_items});
  return s;
}
std::string batch_payee(std::string_view currency, const std::vector<banking_batch_item>& items) {
  std::string text{currency};
  for (const auto& i : items) text += '\n' + i.to_user + ':' + std::to_string(i.amount_minor);
  return "batch:" + sha256_hex(text).substr(0, 32);
}
const body_schema<banking_reverse_request>& banking_reverse_request_schema() {
  static const auto s =
      body_schema<banking_reverse_request>{}
          .required("transfer_id", &banking_reverse_request::transfer_id, id_chars, non_empty)
          .required("reason", &banking_reverse_request::reason, max_length{max_reason_chars},
                    non_empty);
  return s;
}
const body_schema<banking_hold_request>& banking_hold_request_schema() {
  static const auto s =
      body_schema<banking_hold_request>{}
          .required("to_user", &banking_hold_request::to_user, user_chars, non_empty)
          .required("amount", &banking_hold_request::amount, money_schema())
          .required("approval", &banking_hold_request::approval, max_length{max_approval_chars},
                    non_empty)
          .optional("expires_in_s", &banking_hold_request::expires_in_s, int_range{1, max_hold_seconds});
  return s;
}
const body_schema<banking_hold_reply>& banking_hold_reply_schema() {
  static const auto s = body_schema<banking_hold_reply>{}
                            .required("hold_id", &banking_hold_reply::hold_id, id_chars)
                            .required("state", &banking_hold_reply::state, word_chars)
                            .required("amount", &banking_hold_reply::amount, money_schema())
                            .required("to_user", &banking_hold_reply::to_user, user_chars)
                            .required("expires_at_s", &banking_hold_reply::expires_at_s, non_negative);
  return s;
}
const body_schema<banking_capture_request>& banking_capture_request_schema() {
  static const auto s = body_schema<banking_capture_request>{}
                            .required("hold_id", &banking_capture_request::hold_id, id_chars, non_empty)
                            .optional("amount_minor", &banking_capture_request::amount_minor, non_negative);
  return s;
}
const body_schema<banking_release_request>& banking_release_request_schema() {
  static const auto s = body_schema<banking_release_request>{}.required(
      "hold_id", &banking_release_request::hold_id, id_chars, non_empty);
  return s;
}
const body_schema<banking_settle_reply>& banking_settle_reply_schema() {
  static const auto s = body_schema<banking_settle_reply>{}
                            .required("hold_id", &banking_settle_reply::hold_id, id_chars)
                            .required("transfer_id", &banking_settle_reply::transfer_id, id_chars)
                            .required("state", &banking_settle_reply::state, word_chars)
                            .required("amount_minor", &banking_settle_reply::amount_minor, non_negative);
  return s;
}
const body_schema<banking_transfer_status_request>& banking_transfer_status_request_schema() {
  static const auto s = body_schema<banking_transfer_status_request>{}.required(
      "transfer_id", &banking_transfer_status_request::transfer_id, id_chars, non_empty);
  return s;
}
const body_schema<banking_transfer_status_reply>& banking_transfer_status_reply_schema() {
  static const auto s =
      body_schema<banking_transfer_status_reply>{}
          .required("transfer_id", &banking_transfer_status_reply::transfer_id, id_chars)
          .required("kind", &banking_transfer_status_reply::kind, word_chars)
          .required("state", &banking_transfer_status_reply::state, word_chars)
          .required("amount", &banking_transfer_status_reply::amount, money_schema())
          .required("from", &banking_transfer_status_reply::from, party_chars)
          .required("to", &banking_transfer_status_reply::to, party_chars)
          .required("at_ms", &banking_transfer_status_reply::at_ms, non_negative);
  return s;
}

const body_schema<banking_link_bank_request>& banking_link_bank_request_schema() {
  static const auto s = body_schema<banking_link_bank_request>{}.required(
      "customer", &banking_link_bank_request::customer, max_length{64}, non_empty);
  return s;
}
const body_schema<banking_link>& banking_link_schema() {
  static const auto s = body_schema<banking_link>{}
                            .required("link_id", &banking_link::link_id, id_chars)
                            .required("customer", &banking_link::customer, max_length{64})
                            .required("status", &banking_link::status, word_chars);
  return s;
}
const body_schema<banking_links_reply>& banking_links_reply_schema() {
  static const auto s = body_schema<banking_links_reply>{}.required("links", &banking_links_reply::links,
                                                                    banking_link_schema(), max_items{256});
  return s;
}
const body_schema<banking_link_ref>& banking_link_ref_schema() {
  static const auto s =
      body_schema<banking_link_ref>{}.required("link_id", &banking_link_ref::link_id, id_chars, non_empty);
  return s;
}
const body_schema<banking_bank_accounts_reply>& banking_bank_accounts_reply_schema() {
  static const auto account =
      body_schema<banking_bank_account>{}
          .required("account_id", &banking_bank_account::account_id, max_length{64})
          .required("currency", &banking_bank_account::currency, currency_chars, currency_min)
          .required("name", &banking_bank_account::name, max_length{128})
          .required("available_minor", &banking_bank_account::available_minor, any_int);
  static const auto s = body_schema<banking_bank_accounts_reply>{}.required(
      "accounts", &banking_bank_accounts_reply::accounts, account, max_items{256});
  return s;
}
const body_schema<banking_topup_request>& banking_topup_request_schema() {
  static const auto s = body_schema<banking_topup_request>{}
                            .required("link_id", &banking_topup_request::link_id, id_chars, non_empty)
                            .required("bank_account", &banking_topup_request::bank_account, max_length{64}, non_empty)
                            .required("amount", &banking_topup_request::amount, money_schema());
  return s;
}
const body_schema<banking_payment_ref>& banking_payment_ref_schema() {
  static const auto s = body_schema<banking_payment_ref>{}.required("payment_id", &banking_payment_ref::payment_id,
                                                                    id_chars, non_empty);
  return s;
}
const body_schema<banking_payment>& banking_payment_schema() {
  static const auto s = body_schema<banking_payment>{}
                            .required("payment_id", &banking_payment::payment_id, id_chars)
                            .required("kind", &banking_payment::kind, word_chars)
                            .required("state", &banking_payment::state, word_chars)
                            .required("amount", &banking_payment::amount, money_schema())
                            .required("reason", &banking_payment::reason, max_length{64});
  return s;
}

void add_banking_ops(op_catalogue& c) {
  auto user = [&c](op_spec spec) { c.add(scoped_op(std::move(spec), "user")); };
  user(make_op("banking.open_account", lane::transactional,
               "Opens the caller's wallet in a currency (no overdraft); opening it again answers "
               "the same wallet.",
               banking_open_account_request_schema(), banking_account_schema()));
  user(make_op("banking.accounts", lane::query,
               "The caller's wallets with their balances (minor units), as last committed.",
               empty_body_schema(), banking_accounts_reply_schema()));
  user(make_op("banking.statement", lane::query,
               "A page of a wallet's posted transfers, oldest first; pass next_after as after "
               "for the next page.",
               banking_statement_request_schema(), banking_statement_reply_schema()));
  user(make_op("banking.transfer", lane::transactional,
               "Pays another user's wallet of the same currency, with identity's approval for "
               "this amount and payee; answered once durable.",
               banking_transfer_request_schema(), banking_transfer_reply_schema()));
  user(make_op("banking.batch", lane::transactional,
               "Pays several users (1 to 50) from the caller's wallet of one currency, all or "
               "nothing, with one identity approval for the total and batch_payee; "
               "answered once durable.",
               banking_batch_request_schema(), banking_batch_reply_schema()));
  user(make_op("banking.hold", lane::transactional,
               "Reserves an amount from the caller's wallet for another user until captured, "
               "released or expired; approved like a transfer.",
               banking_hold_request_schema(), banking_hold_reply_schema()));
  user(make_op("banking.capture", lane::transactional,
               "Pays all of a hold of the caller's, or part of it (the rest is released).",
               banking_capture_request_schema(), banking_settle_reply_schema()));
  user(make_op("banking.release", lane::transactional,
               "Releases a hold of the caller's: nothing is paid.",
               banking_release_request_schema(), banking_settle_reply_schema()));
  user(make_op("banking.transfer_status", lane::query,
               "A transfer or hold the caller paid or received: its kind, state and parties.",
               banking_transfer_status_request_schema(), banking_transfer_status_reply_schema()));
  user(make_op("banking.link_bank", lane::transactional,
               "Links the caller's account at the bank (its customer id there): the bank gives a "
               "consent for accounts, balances, transactions and payments.",
               banking_link_bank_request_schema(), banking_link_schema()));
  user(make_op("banking.linked_banks", lane::query, "The caller's bank links.", empty_body_schema(),
               banking_links_reply_schema()));
  user(make_op("banking.unlink_bank", lane::transactional,
               "Revokes a bank link's consent at the bank; the link can no longer be used.",
               banking_link_ref_schema(), banking_link_schema()));
  user(make_op("banking.bank_accounts", lane::query,
               "The accounts and balances the bank shows under a link, asked of the bank now.",
               banking_link_ref_schema(), banking_bank_accounts_reply_schema()));
  user(make_op("banking.topup", lane::transactional,
               "Initiates a payment at the linked bank into the caller's wallet of its currency; "
               "the wallet is credited once the bank settles it (banking.payment.* events).",
               banking_topup_request_schema(), banking_payment_schema()));
  user(make_op("banking.payment_status", lane::query, "A payment of the caller's: its state and why it failed.",
               banking_payment_ref_schema(), banking_payment_schema()));
}

}  // namespace superapp::ws
