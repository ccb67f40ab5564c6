// The in-process event bus's message types: what publishers, subscribers and the gateway send.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "protocols/events/event.hpp"

namespace superapp::bus {

// Requests to the bus (atoms are at most 10 characters in CAF 0.17):
//
//   (bus_publish_atom, std::string topic, events::event)            -> bus_published
//       Appends the event to the topic; the reply means it is sequenced and sent to every
//       subscriber. The outbox relay marks its row published on this reply.
//   (bus_publish_batch_atom, bus_batch)                             -> bus_batch_published
//       The same for several events at once, in order (the outbox relay sends its batches so:
//       one message instead of one per event). ok[i] tells whether event i is safe; the reply
//       comes once every event has its outcome.
//   (bus_subscribe_atom, std::string topic, caf::actor subscriber, bus_position after)
//                                                                    -> bus_subscribed
//       Live delivery from now on (after = bus_position::live()), or first the events after
//       `after` then live ones, with no gap and no duplicate between the two (one actor does
//       both). Error events_errc::resync_required when `after` is from another bus epoch or
//       older than the ring holds; the subscriber is then NOT subscribed. Subscribing again
//       replaces the earlier subscription of that actor to that topic.
//   (bus_unsubscribe_atom, std::string topic, caf::actor subscriber) -> bool
//       True when it was subscribed.
//   (bus_replay_atom, std::string topic, bus_position after)         -> bus_replayed
//       The events after `after` without subscribing (same resync_required rule).
//   (bus_recent_atom, std::string topic, std::int64_t count)       -> bus_replayed
//       The last `count` events the ring holds (fewer if it holds fewer), for people looking
//       in (`superapp admin events tail`); `head` tells where to go on from.
//   (bus_stats_atom)                                                -> bus_stats
//   (bus_refill_atom, std::string source)                           -> bool
//       True the first time `source` (a domain's outbox relay) asks this bus: the bus is new
//       to it (the node or the bus restarted), so it holds none of the events the source
//       published before, acknowledged or not by their consumers. The relay then publishes its
//       recently published rows again as a batch with `refilled` set (ADR 0019). False on
//       every later ask; a Kafka producer always answers false (Kafka keeps the log).
//
// To each subscriber, in publish order per topic:
//   (bus_event_atom, bus_delivery)
//
// Subscribers are monitored; one that exits is dropped from every topic. The bus does not
// keep subscriptions across its own restart (its epoch changes): subscribers monitor the bus
// handle (bus_directory::current()) and subscribe again from their last position, getting
// resync_required if that position is gone.
using bus_publish_atom = caf::atom_constant<caf::atom("bus_pub")>;
using bus_publish_batch_atom = caf::atom_constant<caf::atom("bus_pubs")>;
using bus_subscribe_atom = caf::atom_constant<caf::atom("bus_sub")>;
using bus_unsubscribe_atom = caf::atom_constant<caf::atom("bus_unsub")>;
using bus_replay_atom = caf::atom_constant<caf::atom("bus_replay")>;
using bus_recent_atom = caf::atom_constant<caf::atom("bus_recent")>;
using bus_stats_atom = caf::atom_constant<caf::atom("bus_stats")>;
using bus_refill_atom = caf::atom_constant<caf::atom("bus_refill")>;
using bus_event_atom = caf::atom_constant<caf::atom("bus_event")>;

// What a durable consumer (a Kafka consumer group, supervisors/kafka) asks of a domain's
// handler: (event_apply_atom, std::string topic, events::event) -> bool, true once the event's
// effect is durable (or was applied before: the handler's inbox). Here so a domain can be a
// handler without depending on Kafka.
using event_apply_atom = caf::atom_constant<caf::atom("ev_apply")>;

// A point in one topic's stream: the bus incarnation (epoch) and the per-topic sequence
// (1, 2, ...). seq 0 means "before the first event of this epoch".
struct bus_position {
  std::uint64_t epoch = 0;
  std::int64_t seq = -1;
  static bus_position live() { return {0, -1}; }
  bool is_live() const { return seq < 0; }
  friend bool operator==(const bus_position&, const bus_position&) = default;
};

struct bus_delivery {
  std::string topic;
  bus_position position;  // resume from here: subscribe with after = this position
  events::event event;
  // Published again from the source's outbox after a bus restart (bus_refill_atom): a consumer
  // with effects may have applied it before (its inbox tells); one that only shows events
  // (the gateway's pushes) skips it.
  bool refilled = false;
};

struct bus_published {
  bus_position position;
};

struct bus_batch {
  std::vector<std::string> topics;  // topics[i] is events[i]'s
  std::vector<events::event> events;
  bool refilled = false;  // every event is a refill (see bus_refill_atom)
};

struct bus_batch_published {
  std::vector<std::uint8_t> ok;  // 1: event i is safe (sequenced / acknowledged), 0: failed
};

struct bus_subscribed {
  bus_position head;          // the last event sent (or replayed) to the subscriber so far
  std::int64_t replayed = 0;  // how many events the replay sent before live ones
};

struct bus_replayed {
  std::vector<bus_delivery> deliveries;
  bus_position head;  // the topic's last position when the reply was made (seq 0: none yet)
};

struct bus_stats {
  std::uint64_t epoch = 0;
  std::int64_t topics = 0;
  std::int64_t subscriptions = 0;
  std::int64_t published = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_position& x) {
  return f(caf::meta::type_name("bus_position"), x.epoch, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_delivery& x) {
  return f(caf::meta::type_name("bus_delivery"), x.topic, x.position, x.event, x.refilled);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_published& x) {
  return f(caf::meta::type_name("bus_published"), x.position);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_batch& x) {
  return f(caf::meta::type_name("bus_batch"), x.topics, x.events, x.refilled);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_batch_published& x) {
  return f(caf::meta::type_name("bus_batch_published"), x.ok);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_subscribed& x) {
  return f(caf::meta::type_name("bus_subscribed"), x.head, x.replayed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_replayed& x) {
  return f(caf::meta::type_name("bus_replayed"), x.deliveries, x.head);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_stats& x) {
  return f(caf::meta::type_name("bus_stats"), x.epoch, x.topics, x.subscriptions, x.published);
}

}  // namespace superapp::bus
