// The group-commit writer actor's interface: one per database, replies only once durable.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "persistence/connection.hpp"
#include "persistence/value.hpp"

namespace superapp::persistence {

// Per-statement results of one committed unit, in step order.
struct unit_results {
  std::vector<result> results;
};

struct writer_stats {
  std::int64_t units = 0;             // units answered (committed or failed)
  std::int64_t committed_units = 0;   // units whose changes are durable
  std::int64_t failed_units = 0;      // units rolled back (their own fault or the batch's)
  std::int64_t commits = 0;           // transactions committed
  std::int64_t batches = 0;           // flushes that ran a batch
  std::int64_t fallback_batches = 0;  // batches rerun unit by unit after a failure
  std::int64_t largest_batch_units = 0;
};

struct writer_options {
  std::size_t max_batch_units = 1000;  // explicit cap on units per transaction
};

using write_atom = caf::atom_constant<caf::atom("write")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// write: commit a unit; the reply (results or a db/platform error) comes only after the commit
//        that holds it returned, i.e. is durable.
// stats: counters, so tests and the dashboard can see N units -> fewer commits.
// flush: the writer's own batching tick; others need not send it.
using writer_actor =
    caf::typed_actor<caf::replies_to<write_atom, unit_of_work>::with<unit_results>,
                     caf::replies_to<stats_atom>::with<writer_stats>, caf::reacts_to<flush_atom>>;

// Spawns a writer owning `conn` on its own thread (it blocks on fsync; a detached actor keeps
// that off the scheduler's workers).
writer_actor spawn_writer(caf::actor_system& sys, std::unique_ptr<connection> conn,
                          writer_options options = {});

// The same writer on the scheduler, for caf::test_coordinator tests that step it message by
// message.
writer_actor spawn_writer_scheduled(caf::actor_system& sys, std::unique_ptr<connection> conn,
                                    writer_options options = {});

}  // namespace superapp::persistence

// Local-only: units and results hold variants of blobs and never cross a node boundary.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::persistence::unit_of_work)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::persistence::unit_results)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::persistence::writer_stats)
