// The Kafka bridge: an idempotent producer the outbox relay publishes through, and consumers
// that hand events to a domain's handler, commit only after its effect is durable, and move
// failing events to a retry topic and then a dead-letter topic. Each is a bridge_sup child.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "protocols/clock.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::metrics {
class registry;
}

namespace superapp::kafka {

struct kafka_settings {
  std::string bootstrap_servers;  // "host:port[,host:port]"
  std::string client_id = "superapp";
  std::map<std::string, std::string> properties;  // any other librdkafka setting, applied last
  std::int32_t topic_partitions = 4;   // when the bridge creates a missing topic
  std::int16_t replication_factor = 1;
  std::chrono::milliseconds message_timeout{30000};  // produce: give up and report after this
};

// A consumer's handler is an actor answering
//   (event_apply_atom, std::string topic, events::event) -> bool
// with true once the event's effect is durable. It receives a partition's events in order, up
// to max_in_flight of them before its first answer is awaited (or was applied before: the handler dedups by
// event id in its inbox, persistence::inbox_claim). An error reply or a timeout counts as a
// failure: the event goes to the retry topic, and after max_attempts to the dead-letter topic.
using event_apply_atom = bus::event_apply_atom;

struct consumer_settings {
  kafka_settings kafka;
  std::string group;                // the consuming domain, e.g. "rewards" (group superapp.rewards)
  std::vector<std::string> topics;  // source topics, e.g. superapp.banking.events
  std::function<caf::actor()> handler;  // the handler's current handle (asked per event)
  int max_attempts = 3;                           // deliveries before the dead-letter topic
  std::chrono::milliseconds retry_backoff{1000};  // attempt n waits backoff * 2^(n-1)
  std::chrono::milliseconds handler_timeout{10000};
  // Records polled at once and asked of the handler without waiting for each answer (they reach
  // it in order); their outcomes are then taken, and offsets stored, in order. handler_timeout
  // runs from the ask, so a handler needs less than handler_timeout / max_in_flight per record
  // (40 ms by default) or the last of a full batch time out and go to the retry topic (harmless:
  // the inbox absorbs a late effect).
  std::size_t max_in_flight = 256;
  std::shared_ptr<const superapp::clock> clock;   // retry due times
  // Set: superapp_kafka_consumer_lag{group,topic} (records on the broker this group has not
  // consumed yet, summed over its assigned partitions), updated about once a second.
  metrics::registry* metrics = nullptr;
};

// Topic names derived from a source topic.
std::string retry_topic(const std::string& source, const std::string& group);  // <source>.retry.<group>
std::string dead_letter_topic(const std::string& source);                       // <source>.dlq

// Kafka record headers the bridge writes: event-id, event-type, traceparent (when set), and on
// retry/dead-letter copies attempt, not-before-ms, consumer-group, last-error.

// "kafka_producer": answers (bus_publish_atom, topic, event) -> bus_published once the broker
// acknowledged the record (acks=all, idempotent); position = {partition, offset}. Publishes
// itself in `directory` so outbox relays find it. A fatal producer error ends the actor and its
// supervisor starts a fresh producer; unacknowledged rows stay in the outboxes.
sup::child_spec producer_child(kafka_settings settings, bus::bus_directory_ptr directory);

// "kafka_consumer.<group>": a consumer group member over settings.topics and their retry topic.
sup::child_spec consumer_child(consumer_settings settings);

// The same as a worker of the consuming domain's own tree (put it last), so it consumes only
// while the domain runs and its handler is there (banking's kyc_limits, ADR 0012).
sup::domain_worker consumer_worker(consumer_settings settings);

// "kafka_mirror": the node's view of the mesh. A consumer group member of its own
// (`superapp.mirror.<node>`) over `topics` that republishes every event on the node's local bus
// (found in `local`), so the node's subscribers (the gateway's event feed, dashboards, `admin
// events tail`) see every node's events in one place. At least once from Kafka; the last
// `dedup_window` event ids are remembered so a redelivery (a relay that published a row again
// after a crash, a rebalance) is not shown twice. A publish the bus refuses is retried like any
// failed handler (retry topic, then dead-letter).
struct mirror_settings {
  kafka_settings kafka;
  std::string node;                 // the group is superapp.mirror.<node>
  std::vector<std::string> topics;  // usually topic_for_domain() of every domain
  bus::bus_directory_ptr local;
  std::size_t dedup_window = 65536;
  std::shared_ptr<const superapp::clock> clock;
  metrics::registry* metrics = nullptr;  // as consumer_settings::metrics
};
sup::child_spec mirror_child(mirror_settings settings);

// Creates the topics that do not exist yet (admin API); blocks up to `timeout`.
caf::error ensure_topics(const kafka_settings& settings, const std::vector<std::string>& topics,
                         std::chrono::milliseconds timeout);

}  // namespace superapp::kafka
