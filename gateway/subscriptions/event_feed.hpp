// Feeds the subscription router from the node's event bus: every domain's topic, live.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "supervisors/bus/bus.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::gateway {

// A worker of the gateway's tree. It subscribes to `superapp.<domain>.events` for each of
// `domains` on the bus `buses` names, and turns every delivered event that has an audience into
// a client_event for the router `router()` returns (dropped while there is none). When the bus
// restarts it subscribes again to the new one (live: clients resume through their own seq).
sup::child_spec event_feed_child(std::shared_ptr<bus::bus_directory> buses,
                                 std::vector<std::string> domains,
                                 std::function<caf::actor()> router);

}  // namespace superapp::gateway
