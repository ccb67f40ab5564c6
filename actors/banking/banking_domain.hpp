// The banking domain's tree: store -> front door -> ledger (the ledger writer, ADR 0015).
// Its client ops (transfers, balances, statements), payments and Open Banking follow (issue 7).
#pragma once

#include <memory>
#include <string>

#include "actors/banking/ledger_writer.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::banking {

struct banking_settings {
  ledger_settings ledger;
  // Where the running ledger writer is published (a restart replaces it); null: not published.
  std::shared_ptr<sup::service_slot> ledger_slot;
};

// `name` is the database (schema) name; tests give each run its own.
sup::domain_definition banking_domain(banking_settings settings, std::string name = "banking");

}  // namespace superapp::banking
