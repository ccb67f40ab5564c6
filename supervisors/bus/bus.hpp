// The in-process event bus actor, where relays find it, and bridge_sup, the node's bridge tree.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "supervisors/bus/bus_messages.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::bus {

struct bus_config {
  std::size_t ring_capacity = 4096;  // events kept per topic for replay
  std::size_t max_topics = 256;      // a publish to one more topic is refused (invalid_argument)
  std::uint64_t epoch = 0;           // 0: a random one at each start (tests pin it)
};

// Where publishers (outbox relays) and subscribers (the gateway) find the current bus. The bus
// child publishes itself here at each start; a holder of an old handle gets
// request_receiver_down and asks again.
class bus_directory {
 public:
  void publish(caf::actor bus) {
    std::lock_guard<std::mutex> guard{mutex_};
    bus_ = std::move(bus);
  }
  caf::actor current() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return bus_;
  }
  void clear() { publish(caf::actor{}); }

 private:
  mutable std::mutex mutex_;
  caf::actor bus_;
};

using bus_directory_ptr = std::shared_ptr<bus_directory>;

// Spawns a bus (see bus_messages.hpp for what it understands).
caf::actor spawn_local_bus(caf::actor_system& sys, bus_config config);

// The "bus" child: spawns local_bus and publishes it in `directory`.
sup::child_spec local_bus_child(bus_config config, bus_directory_ptr directory);

// bridge_sup, the root's first child (one_for_one): the local bus, then `extra` children (the
// Kafka producer and consumers when the node runs them). Its restarts never touch a domain.
sup::supervisor_spec bridge_supervisor(bus_config config, bus_directory_ptr directory,
                                       std::vector<sup::child_spec> extra = {});

}  // namespace superapp::bus
