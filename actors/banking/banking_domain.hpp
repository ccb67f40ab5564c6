// The banking domain's tree: store -> front door -> ledger (the ledger writer, ADR 0015) ->
// service (the client ops). Payments as actors and Open Banking follow (issue 7).
#pragma once

#include <memory>
#include <string>

#include "actors/banking/ledger_writer.hpp"
#include "protocols/tokens/jwt.hpp"
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
  // Where the running ledger writer is published (a restart replaces it); null: not published.
  std::shared_ptr<sup::service_slot> ledger_slot;
};

// `name` is the database (schema) name; tests give each run its own.
sup::domain_definition banking_domain(banking_settings settings, std::string name = "banking");

}  // namespace superapp::banking
