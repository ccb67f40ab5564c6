// The shape every domain's tree has: store, front door, then the domain's own workers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/fwd.hpp>

#include "persistence/config.hpp"
#include "persistence/migrations.hpp"
#include "protocols/caller_seal.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/admission.hpp"
#include "supervisors/chaos.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::persistence {
class database;
class connection_pool;
}  // namespace superapp::persistence

namespace superapp::sup {

// What a domain's front door and workers get from the store: the group-commit writer, reader
// connections, and the front door's admission gate. Made anew whenever the store starts.
struct domain_context {
  std::string domain;
  caf::actor store;  // persistence::writer_actor, as an untyped handle
  std::shared_ptr<persistence::database> database;
  std::shared_ptr<persistence::connection_pool> readers;
  // SQLite: the domain's companion files (domain_definition::companions) by name, each opened
  // as a database of its own with the domain's file attached under the domain's name. Empty on
  // PostgreSQL, where their tables are in `database`.
  std::map<std::string, std::shared_ptr<persistence::database>> companions;
  admission_gate_ptr gate;
  std::shared_ptr<domain_chaos> chaos;  // the operators' chaos switch; null: none
};

using domain_context_ptr = std::shared_ptr<const domain_context>;

// The domain's front-door behaviour for messages other than ops (commands between domains).
// The tree adds ping_atom, probe_atom and the op dispatcher to it.
using front_door_fn = std::function<caf::behavior(caf::event_based_actor*, domain_context_ptr)>;

// Handles one client op (`op_atom, op_request`) inside the front door. May answer at once or
// return a response promise and answer after asking the store.
using op_handler = std::function<caf::result<op_reply>(caf::event_based_actor*,
                                                       const domain_context_ptr&, op_request&)>;

// A child started after the front door. `spec` gives its id, restart type, kind and timeouts;
// `start` replaces spec.start and also gets the context of the store running at that moment.
struct domain_worker {
  child_spec spec;
  std::function<caf::expected<caf::actor>(caf::local_actor&, const caf::message&,
                                          domain_context_ptr)>
      start;
};

// SQLite: a file of the domain's beside its own (persistence::sqlite_companion_path), for
// tables written by a connection other than the domain's writer, so that their writes never
// wait for its one write lock, nor it for them (the ledger's lookups, ADR 0025). Opened and
// migrated before the domain's database, and attached to every connection of that under
// `name`. On PostgreSQL there is none: the domain's migrations make the same tables with the
// rest, and both kinds of writers run at once there anyway.
struct companion_file {
  std::string name;  // an SQL identifier
  std::vector<persistence::migration> migrations;
};

struct domain_definition {
  std::string name;  // an SQL identifier: also the database (or schema) name
  std::vector<persistence::migration> migrations;
  std::vector<companion_file> companions;  // SQLite only
  std::map<std::string, op_handler> ops;   // by op name, e.g. "banking.transfer"
  front_door_fn front_door;                // empty: the front door answers only ping and probe
  std::vector<domain_worker> workers;  // e.g. payments_sup (simple_one_for_one), outbox relay
};

struct domain_settings {
  persistence::database_config database;
  restart_intensity intensity{5, std::chrono::seconds{10}};
  restart_backoff backoff{std::chrono::milliseconds{10}, std::chrono::seconds{2}, 20};
  std::int64_t front_door_credits = 1024;
  std::chrono::milliseconds shutdown_timeout{5000};
  front_door_directory_ptr directory;  // where the front door publishes itself
  metrics::registry* metrics = nullptr;  // the node's; per-domain front-door series go here
  // Set (always, in a node): every op must carry the gateway's valid seal, else unauthorized.
  // Unset: ops are taken as they come (unit tests that talk to a front door directly).
  caller_seal_ptr caller_seal;
  // The node's chaos switches (the dashboard's chaos control); null: the front door takes none.
  chaos_board_ptr chaos;
};

// `cfg` with the domain's companion files attached (SQLite; PostgreSQL: `cfg` as it is): how
// anything beside the tree opens the domain's database and sees all of its tables.
persistence::database_config with_companions(const domain_definition& definition,
                                             persistence::database_config cfg);

// The domain's supervisor, rest_for_one: a store restart restarts the front door and the
// workers (they hold the old store's context); a front-door crash restarts it and the workers.
// Opening the database and applying migrations is the store's init: a database newer than the
// code fails the start.
supervisor_spec domain_supervisor(domain_definition definition, domain_settings settings);

}  // namespace superapp::sup

namespace superapp::sup {

// The node's root, one_for_one over its domain trees. A domain that exhausts its own restart
// intensity is restarted by the root with a backoff (1 s doubling to 30 s), and the root's
// intensity grows with the number of domains, so one domain failing for ever is retried slowly
// and never takes the root, and with it the healthy domains, down.
supervisor_spec node_root_supervisor(std::string name, std::vector<supervisor_spec> domains);

}  // namespace superapp::sup
