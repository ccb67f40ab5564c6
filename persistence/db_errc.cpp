// The `db` error category's wire codes and its registration in the catalogue.
#include "persistence/db_errc.hpp"

namespace superapp::persistence {
namespace {

error_description describe_code(std::uint8_t code) { return describe(static_cast<db_errc>(code)); }

// make_error lives in this TU, so any binary that can produce a db error also registers it.
const bool db_registered = [] {
  register_error_category(db_category, describe_code);
  return true;
}();

}  // namespace

void register_db_errors() {
  (void)db_registered;
  register_error_category(db_category, describe_code);
}

caf::error make_error(db_errc code) {
  (void)db_registered;
  return caf::error{static_cast<std::uint8_t>(code), db_category};
}

error_description describe(db_errc code) {
  switch (code) {
    case db_errc::constraint_violation:
      return {"constraint_violation", "the change conflicts with existing data", false};
    case db_errc::busy:
      return {"busy", "the database is busy; retry later", true};
    case db_errc::connection_lost:
      return {"connection_lost", "the database connection was lost", true};
    case db_errc::invalid_statement:
      return {"invalid_statement", "internal error", false};
    case db_errc::invalid_value:
      return {"invalid_value", "a value could not be stored", false};
    case db_errc::conflict:
      return {"conflict", "a concurrent change conflicted; retry", true};
    case db_errc::io_failure:
      return {"io_failure", "the change could not be stored", true};
    case db_errc::unexpected_rows_affected:
      return {"unexpected_rows_affected", "the record changed concurrently", true};
    case db_errc::pool_exhausted:
      return {"pool_exhausted", "the database is busy; retry later", true};
    case db_errc::migration_mismatch:
      return {"migration_mismatch", "the database schema does not match this build", false};
    case db_errc::open_failed:
      return {"open_failed", "the database is not available", true};
    case db_errc::batch_aborted:
      return {"batch_aborted", "the change could not be stored", true};
    case db_errc::internal:
      return {"internal", "internal error", false};
  }
  return {"internal", "internal error", false};
}

}  // namespace superapp::persistence
