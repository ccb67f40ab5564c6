// Front doors across nodes (CAF remote actors): a node publishes its domains on its cluster
// port; a node with peers reaches theirs through one link actor per peer (ADR 0011).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "supervisors/front_door.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::cluster {

// The registry a node publishes: (domains_atom) -> std::vector<std::string>, the domains this
// node hosts; (lookup_atom, domain) -> caf::actor, that domain's current front door, or
// `unavailable` while it is restarting.
using domains_atom = caf::atom_constant<caf::atom("cl_domains")>;
using lookup_atom = caf::atom_constant<caf::atom("cl_lookup")>;

// Loads the middleman and announces every type that crosses nodes (op_request, op_reply,
// caller). Both sides of a link need it; call it on every node's config.
void prepare_config(caf::actor_system_config& cfg);

struct peer_address {
  std::string host;
  std::uint16_t port = 0;
};

struct cluster_settings {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // the registry's port; 0 with `publish` set: any free port
  bool publish = false;    // publish this node's domains for other nodes
  std::vector<std::string> local_domains;  // what the registry offers (never a peer's)
  std::vector<peer_address> peers;         // nodes whose domains this node reaches
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds request_timeout{5'000};
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{5'000};
  std::int64_t credits_per_peer = 1024;  // ops in flight from this node to one peer
};

// `cluster` (one_for_one): `registry` (when publishing) and one `peer:<host>:<port>` link per
// peer. A link publishes each of its peer's domains in `directory` while the peer is reachable
// and withdraws them the moment it is not (the gateway then answers `unavailable` at once);
// requests in flight to a peer that goes down fail with `unavailable` at once, not at their
// timeout (CAF 0.17 would let them wait). `on_published` gets the registry's bound port.
sup::supervisor_spec cluster_supervisor(cluster_settings settings,
                                        sup::front_door_directory_ptr directory,
                                        std::function<void(std::uint16_t)> on_published = {});

}  // namespace superapp::cluster
