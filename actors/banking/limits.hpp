// Limits per KYC level (ADR 0014): what banking keeps of the kyc domain's view of each user —
// per transaction, per day and balance caps per currency, in minor units — learnt from the
// kyc.check.verified events on the bus (never by asking kyc), and the wallet ids they apply to.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::bus {
class bus_directory;
}

namespace superapp::banking {

// Wallet "wallet:<user>:<CUR>": a user's account in the ledger, no overdraft.
std::string wallet_id(std::string_view user_id, std::string_view currency);
// The user of a wallet id; nullopt for any other account.
std::optional<std::string> wallet_owner(std::string_view account_id);

struct currency_limits {
  std::int64_t per_transaction = 0;
  std::int64_t per_day = 0;  // outgoing transfers and holds placed in one UTC day
  std::int64_t balance = 0;  // what a wallet may hold (posted plus incoming holds)
};
// By currency. A currency a level does not list has no limit.
using limits_by_currency = std::map<std::string, currency_limits, std::less<>>;

namespace store {

// user_limits, as migration `version` of the banking database.
persistence::migration limits_migration(std::int64_t version);
// Every user's limits as last learnt, by user.
caf::expected<std::map<std::string, limits_by_currency>> load_limits(persistence::connection& c);
// One user's recorded limits; nullopt when none were recorded (the default level's apply).
caf::expected<std::optional<limits_by_currency>> user_limits(persistence::connection& c, const std::string& user_id);
// user_levels (the kyc event sequence of each user's recorded level), as migration `version`.
persistence::migration levels_migration(std::int64_t version);
// The kyc sequence of the user's recorded level; 0 when none was recorded.
caf::expected<std::int64_t> recorded_sequence(persistence::connection& c,
                                              const std::string& user_id);
// Replaces the user's limits (all currencies) within `u`, recording the level and the kyc
// event's sequence (its per-user sequence: a later level has a higher one).
void set_limits(persistence::unit_of_work& u, const std::string& user_id, const std::string& level,
                const limits_by_currency& limits, std::int64_t kyc_sequence);
// Today's outgoing client transfers and holds per wallet (UTC day starting at `day_start_ms`).
caf::expected<std::map<std::string, std::int64_t>> spent_since(persistence::connection& c,
                                                               std::int64_t day_start_ms);

}  // namespace store

// The level and limits a kyc.check.verified event carries for its user (the aggregate);
// nullopt for any other event or a malformed body.
struct verified_level {
  std::string user_id;
  std::string level;
  limits_by_currency limits;
};
std::optional<verified_level> parse_verified(const events::event& e);

// The `kyc_limits` worker: records each verified level's limits (deduplicated through the
// inbox, in the same unit), then tells the ledger writer (in `ledger_slot`). With `buses` it
// subscribes to the kyc topic on the node's bus (again after the bus restarts); without, it
// answers a durable consumer's (bus::event_apply_atom, topic, event) -> bool, true once
// recorded. `handler_slot`, when set, is where it publishes itself for that consumer.
sup::domain_worker kyc_limits_worker(std::shared_ptr<bus::bus_directory> buses,
                                     std::shared_ptr<sup::service_slot> ledger_slot,
                                     std::chrono::milliseconds store_timeout,
                                     std::shared_ptr<sup::service_slot> handler_slot = nullptr);

}  // namespace superapp::banking
