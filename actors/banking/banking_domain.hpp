// The banking domain's tree: store -> front door -> ledger (the ledger writer, ADR 0015) ->
// bank_connector (Open Banking) -> payments (one actor per payment) -> service (the client ops).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "actors/banking/ledger_writer.hpp"
#include "actors/banking/open_banking.hpp"
#include "actors/banking/payments.hpp"
#include "protocols/tokens/jwt.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::banking {

struct banking_settings {
  ledger_settings ledger;
  // The keys identity signs approvals with (the gateway's JWKS, kept fresh by its key
  // refresher); null or empty: every approval is refused (approval_invalid).
  std::shared_ptr<const tokens::jwt_key_store> approval_keys;
  std::chrono::seconds default_hold{24 * 3600};  // a hold's life when the client names none
  std::chrono::milliseconds ledger_timeout{15'000};
  open_banking_settings open_banking;  // the bank's API (the simulator in `superapp run`)
  // The node's event bus: kyc.check.verified events give each user's limits (ADR 0014); null:
  // none are learnt (the default limits, ledger.default_limits, apply to everyone).
  std::shared_ptr<bus::bus_directory> bus;
  // Set (a node on Kafka): kyc's events come from a durable consumer instead of the bus. Given
  // how to find the kyc_limits worker (the consumer's handler), it makes the consumer, which
  // banking runs as its last worker: it consumes only while banking runs, and commits an
  // event's offset only after kyc_limits recorded it (ADR 0012).
  std::function<sup::domain_worker(std::function<caf::actor()> handler)> kyc_consumer;
  // The secret the bank signs its payment callbacks with (raw bytes; banking.bank_webhook_
  // secret_file). Empty: every callback is refused (payments still settle by polling).
  std::string bank_webhook_secret;
  std::chrono::seconds webhook_tolerance{300};
  payments_settings payments;
  // Where the running ledger writer is published (a restart replaces it); null: not published.
  std::shared_ptr<sup::service_slot> ledger_slot;
};

// The op the gateway turns a bank's callback (POST /webhooks/bank) into; not in the client
// catalogue. Body as kyc.provider_callback's: {"payload", "timestamp", "signature"}.
inline constexpr std::string_view bank_callback_op = "banking.bank_callback";

// An operator's reversal of a posted transfer (or a hold's capture); not in the client catalogue.
// The node's operations actor sends it, sealed, for an operator's `reverse` action (caller
// scope `operator`). Body {"transfer_id", "reason"}; the reversal's id is `rv_` + the
// transfer's id, so asking again answers the same reversal.
inline constexpr std::string_view reverse_op = "banking.reverse";
inline constexpr std::string_view operator_scope = "operator";

// `name` is the database (schema) name; tests give each run its own.
sup::domain_definition banking_domain(banking_settings settings, std::string name = "banking");

}  // namespace superapp::banking
