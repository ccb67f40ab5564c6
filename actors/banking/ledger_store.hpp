// The ledger's tables and statements (the same SQL on SQLite and PostgreSQL): what the ledger
// writer loads at start and the one set-based unit of work it commits per batch. No CAF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/banking/ledger_core.hpp"
#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"

namespace superapp::banking::store {

std::vector<persistence::migration> migrations();

using conn = persistence::connection;

// Everything the core needs after a start: accounts with their balances, pending transfers
// still pending, and every transfer id (for idempotency). `next_seq` is one past the highest
// transfer sequence.
struct loaded {
  std::vector<std::pair<account, balances>> accounts;
  std::vector<transfer> pending;
  std::vector<transfer> transfers;  // every transfer as recorded (ids and fields)
  std::int64_t next_seq = 1;
};
caf::expected<loaded> load(conn& c);

// A transfer the core accepted, with the ledger's sequence number (statement order, cursors).
struct recorded_transfer {
  applied_transfer applied;
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;
};

// One batch as one unit: new accounts, the transfers (one multi-row insert), the state of the
// pending transfers they posted or voided, and the balances of every account they touched (one
// multi-row upsert with the absolute values the core holds). Rows per statement are capped so
// the parameter count stays within both engines' limits.
persistence::unit_of_work batch_unit(const std::vector<account>& new_accounts,
                                     const std::vector<recorded_transfer>& transfers,
                                     const ledger_core& core);

// A page of an account's statement: transfers touching it after sequence `after_seq`, oldest
// first, at most `limit`.
struct statement_line {
  std::int64_t seq = 0;
  std::string transfer_id;
  std::string kind;  // immediate | pending | post_pending | void_pending
  std::string counterparty;
  std::int64_t amount = 0;  // > 0 credited to the account, < 0 debited
  std::int64_t at_ms = 0;
};
caf::expected<std::vector<statement_line>> statement_page(conn& c, const std::string& account_id,
                                                          std::int64_t after_seq, std::int64_t limit);

std::string_view to_string(transfer_kind k);

}  // namespace superapp::banking::store
