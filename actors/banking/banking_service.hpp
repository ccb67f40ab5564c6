// The banking service: the actor behind the front door that runs every banking.* client op.
// Reads come from reader connections (never the writer); every change goes to the ledger writer
// (ADR 0015), which answers once it is durable.
#pragma once

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/banking/banking_domain.hpp"
#include "actors/banking/limits.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/domain.hpp"

namespace superapp::banking {

using service_actor = caf::typed_actor<caf::replies_to<op_atom, op_request>::with<op_reply>>;

// A client transfer's id: "tr_" and 32 hex digits of SHA-256 over "<user>|<idempotency key>"
// (the key scoped to its user, and not shown to the counterparty).
std::string client_transfer_id(std::string_view user_id, std::string_view idempotency_key);

// Where the domain's other workers are published (a restart replaces them).
struct banking_slots {
  std::shared_ptr<sup::service_slot> ledger = std::make_shared<sup::service_slot>();
  std::shared_ptr<sup::service_slot> connector = std::make_shared<sup::service_slot>();
  std::shared_ptr<sup::service_slot> payments = std::make_shared<sup::service_slot>();
  std::shared_ptr<payment_registry> running = std::make_shared<payment_registry>();
};

// A payment's id: "pm_" and 32 hex digits of SHA-256 over "<user>|payment|<idempotency key>".
std::string client_payment_id(std::string_view user_id, std::string_view idempotency_key);

// Spawns the service from `parent` (the domain supervisor), detached: it blocks on reader
// connections.
service_actor spawn_banking_service(caf::local_actor& parent, banking_settings settings, banking_slots slots,
                                    sup::domain_context_ptr ctx);

}  // namespace superapp::banking
