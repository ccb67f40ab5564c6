// The node's operations actor behind the dashboard: samples the tree and the metrics once a
// second into short histories, runs operators' actions on the tree, and keeps the audit log.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "protocols/caller_seal.hpp"
#include "supervisors/chaos.hpp"
#include "supervisors/front_door.hpp"

namespace superapp::metrics {
class registry;
}

namespace superapp::admin {

// An action as the dashboard's HTTP layer hands it over: who (from the session), what, where.
struct action_request {
  std::string operator_name;
  std::string role;    // "viewer" or "operator"; a viewer's action is refused and audited
  std::string action;  // restart, stop, start, crash, chaos, drain, undrain, reverse
  std::string node;    // the node's name; another node's goes to that peer
  std::string path;    // e.g. root/banking/front_door; empty for drain/undrain
  std::string mode;    // chaos: fail, delay or off
  std::int64_t delay_ms = 0;
  std::int64_t duration_s = 0;
  std::string transfer_id;  // reverse: the banking transfer (or capture) to reverse
  std::string reason;       // reverse: why, for the audit and the domain's log
};

// The outcome as an HTTP status, a wire code (empty when ok) and a message for the operator.
struct action_result {
  unsigned status = 200;
  std::string code;
  std::string message;
  std::int64_t audit_id = 0;
};

// Another node's admin listener, asked with the deployment's operator token.
struct ops_peer {
  std::string admin_url;  // http://HOST:PORT
  std::string token;
};

struct ops_settings {
  std::string node_name;
  caf::actor root;  // the node's root supervisor
  sup::front_door_directory_ptr directory;
  sup::chaos_board_ptr chaos;
  metrics::registry* registry = nullptr;
  std::shared_ptr<std::atomic<bool>> draining;  // read by the WebSocket listener and /readyz
  std::filesystem::path audit_file;             // JSON lines, appended and fsynced
  std::size_t window_s = 120;                   // how many one-second samples the charts keep
  std::chrono::milliseconds tick{1000};
  std::vector<ops_peer> peers;
  // Seals the ops an operator's action sends to a domain (reverse); null where front doors
  // take unsealed requests (tests).
  caller_seal_ptr seal;
};

using text_completion = std::function<void(std::string)>;  // a JSON document
using action_completion = std::function<void(action_result)>;

// Messages the operations actor takes (completions are called from its thread).
using ops_snapshot_atom = caf::atom_constant<caf::atom("ops_snap")>;    // + text_completion
using ops_self_atom = caf::atom_constant<caf::atom("ops_self")>;        // + text_completion
using ops_action_atom = caf::atom_constant<caf::atom("ops_act")>;       // + request + completion
using ops_audit_atom = caf::atom_constant<caf::atom("ops_audit")>;      // + limit + completion

// ops_snapshot_atom: {"at","window_s","nodes":[this node, then each peer]} (dashboard/API.md).
// ops_self_atom: this node's entry alone, for a peer's dashboard (GET /api/snapshot).
// ops_action_atom: runs (or forwards to the peer named by `node`) and audits the action.
// ops_audit_atom: {"entries":[...]} newest first.
caf::actor spawn_ops_monitor(caf::actor_system& sys, ops_settings settings);

// Quantile `q` (0..1) of the observations a histogram gained between two readings of its
// non-cumulative buckets, interpolated linearly inside the bucket, in milliseconds; negative
// when there were none. The overflow bucket reports the highest bound.
double quantile_ms(std::span<const std::int64_t> bounds_us,
                   const std::vector<std::uint64_t>& bucket_deltas, double q);

}  // namespace superapp::admin

// Local messages only (completions are closures).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::admin::text_completion)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::admin::action_completion)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::admin::action_request)
