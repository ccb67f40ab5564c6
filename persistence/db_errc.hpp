// The `db` error category: what sqlite3 and libpq failures become at the persistence edge.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <cstdint>

#include "protocols/error_catalogue.hpp"

namespace superapp::persistence {

enum class db_errc : std::uint8_t {
  constraint_violation = 1,      // unique, foreign key, not null or check constraint
  busy = 2,                      // locked by another writer past the busy timeout: retry
  connection_lost = 3,           // the server went away; the connection must be reopened
  invalid_statement = 4,         // SQL syntax, unknown table/column, wrong parameter count
  invalid_value = 5,             // a value the column cannot hold
  conflict = 6,                  // serialization failure or deadlock: retry the unit
  io_failure = 7,                // disk full, I/O error, corrupt file
  unexpected_rows_affected = 8,  // a write_step's expected_rows_affected did not hold
  pool_exhausted = 9,            // no pooled connection became free in time
  migration_mismatch = 10,       // an applied migration's name differs from the code's
  open_failed = 11,              // the database could not be opened or reached
  batch_aborted = 12,            // the unit was fine but its batch's commit failed
  internal = 13,                 // anything else; details only in the log
};

inline constexpr caf::atom_value db_category = caf::atom("db");

caf::error make_error(db_errc code);
error_description describe(db_errc code);

// Registers the `db` category with the error catalogue; idempotent, also done at static init.
void register_db_errors();

}  // namespace superapp::persistence
