// OTP-style supervisors on CAF 0.17 links: strategies, restart types, intensity, backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

#include "supervisors/tree.hpp"

namespace caf {
class actor_system;
class local_actor;
class scoped_actor;
}  // namespace caf

namespace superapp::sup {

enum class strategy : std::uint8_t { one_for_one, one_for_all, rest_for_one, simple_one_for_one };
enum class restart_type : std::uint8_t { permanent, transient, temporary };
enum class child_kind : std::uint8_t { worker, supervisor };

const char* to_string(strategy x);
const char* to_string(restart_type x);

// At most `max_restarts` restarts within `period`; one more and the supervisor gives up:
// it stops its children and exits with platform_errc::restart_intensity_exceeded, which its
// own supervisor sees as a crash (escalation).
struct restart_intensity {
  int max_restarts = 3;
  std::chrono::milliseconds period{5000};
};

// Delay before restarting a child that keeps failing: initial * 2^(n-1) for its n-th
// consecutive failure, capped at `max`, spread by +-jitter_percent. initial == 0 restarts at once.
struct restart_backoff {
  std::chrono::milliseconds initial{0};
  std::chrono::milliseconds max{0};
  int jitter_percent = 0;
};

// Starts one child. Runs inside the supervisor and must spawn the child with
// `parent.spawn(...)` (or `spawn_supervisor_in`). Whatever init the child needs that can fail
// (opening a database, binding a port) belongs here, so that a child's init has finished, or
// failed, before its next sibling starts. Must not block for long: it holds the supervisor.
using start_fn =
    std::function<caf::expected<caf::actor>(caf::local_actor& parent, const caf::message& args)>;

// A child is data: the supervisor reads these and nothing else.
struct child_spec {
  std::string id;
  start_fn start;
  restart_type restart = restart_type::permanent;
  child_kind kind = child_kind::worker;
  // How long an orderly stop may take before the child is killed.
  std::chrono::milliseconds shutdown_timeout{5000};
  // The worker answers probe_atom with worker_stats (mailbox depth for the operators' view).
  bool answers_probe = false;
};

struct supervisor_spec {
  std::string name;
  strategy strategy_kind = strategy::one_for_one;
  restart_intensity intensity;
  restart_backoff backoff;
  // In start order. For simple_one_for_one exactly one: the template of every dynamic child.
  std::vector<child_spec> children;
  // How long a child supervisor may take to report its whole subtree started.
  std::chrono::milliseconds child_ready_timeout{30000};
  // simple_one_for_one: beyond this many live children start_child answers `overloaded`.
  std::size_t max_dynamic_children = 100000;
  // simple_one_for_one: how many children a report lists (the most restarted first).
  std::size_t report_children_max = 5;
  // Seed of the backoff jitter; 0 takes one from std::random_device.
  std::uint64_t jitter_seed = 0;
};

// Messages a supervisor understands (atoms are at most 10 characters in CAF 0.17).
using ready_atom = caf::atom_constant<caf::atom("sup_ready")>;      // -> unit or error
using start_child_atom = caf::atom_constant<caf::atom("sup_start")>;  // + message -> actor
using stop_child_atom = caf::atom_constant<caf::atom("sup_stop")>;  // + id / actor -> unit
using restart_child_atom = caf::atom_constant<caf::atom("sup_rstart")>;  // + id -> unit
using which_child_atom = caf::atom_constant<caf::atom("sup_which")>;  // + id -> actor
using count_children_atom = caf::atom_constant<caf::atom("sup_count")>;  // -> uint64
using report_atom = caf::atom_constant<caf::atom("sup_report")>;  // -> tree_node
using probe_atom = caf::atom_constant<caf::atom("probe")>;          // -> worker_stats

// Spawns a top-level supervisor. Its children start asynchronously, in order; ask it
// `ready_atom` (or call await_ready) to know when the whole subtree is up.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec);

// A supervisor as the child of another supervisor.
child_spec supervisor_child(supervisor_spec spec, restart_type restart = restart_type::permanent,
                            std::chrono::milliseconds shutdown_timeout = std::chrono::seconds{30});

// Blocks the calling (non-actor) thread until the supervisor's subtree is started or failed.
caf::error await_ready(caf::scoped_actor& self, const caf::actor& supervisor,
                       std::chrono::milliseconds timeout);

// Orderly shutdown from outside: children stop in reverse start order, each within its
// shutdown_timeout; returns once the supervisor is gone or `timeout` passed (then it kills).
caf::error shutdown(caf::scoped_actor& self, const caf::actor& supervisor,
                    std::chrono::milliseconds timeout);

}  // namespace superapp::sup
