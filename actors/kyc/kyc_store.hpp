// The kyc domain's schema and its SQL: reads on a reader connection, writes as units of work for
// the group-commit writer. No CAF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "protocols/events/event.hpp"

namespace superapp::kyc::store {

std::vector<persistence::migration> migrations();

enum class check_state { pending, verified, rejected, failed };
std::string_view to_string(check_state s);

struct check_row {
  std::string check_id;
  std::string user_id;
  std::int64_t number = 0;  // the user's checks count 1, 2, ...: the latest has the highest
  std::string level;
  check_state state = check_state::pending;
  std::string provider_check_id;  // empty until the provider took it
  std::string reason;             // rejected: the provider's; failed: why we gave up
  std::string documents;          // JSON [{type, last4}]: never the whole numbers
  std::int64_t created_at_s = 0;
  std::int64_t decided_at_s = 0;  // 0 while pending
};

struct subject_row {
  std::string level;
  std::int64_t event_seq = 0;
};

using conn = persistence::connection;
using persistence::unit_of_work;

caf::expected<std::optional<check_row>> check(conn& c, const std::string& check_id);
caf::expected<std::optional<check_row>> latest_check(conn& c, const std::string& user_id);
caf::expected<std::optional<subject_row>> subject(conn& c, const std::string& user_id);

void add_check(unit_of_work& u, const check_row& row);
// The provider took the check under its id (the decision may have come first: no state test).
void set_provider_check_id(unit_of_work& u, const std::string& check_id,
                           const std::string& provider_check_id);
// The provider never took the check (unreachable, refused, or we stopped before asking).
void fail_check(unit_of_work& u, const std::string& check_id, const std::string& reason,
                std::int64_t now_s);
// Records the provider's decision; expects the check still undecided (pending or failed).
void decide_check(unit_of_work& u, const std::string& check_id, check_state outcome,
                  const std::string& provider_check_id, const std::string& reason,
                  std::int64_t now_s);

// The user's level moves (or stays, for a rejection) together with their next event: the unit
// fails with unexpected_rows_affected if another write moved the sequence since `seq_before`.
// `e`'s aggregate is the user and its sequence seq_before + 1.
void add_subject_event(unit_of_work& u, const std::string& user_id, const std::string& level,
                       std::int64_t seq_before, events::event e, std::int64_t now_ms);

}  // namespace superapp::kyc::store
