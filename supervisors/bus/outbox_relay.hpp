// The outbox relay: a domain worker that publishes committed outbox rows, in order, and marks
// them published only once the publisher (local bus or Kafka producer) acknowledged them. A
// local bus that is new to the relay first gets the recently published rows again (ADR 0019).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "protocols/clock.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/metrics.hpp"

namespace superapp::bus {

struct outbox_relay_settings {
  // Where to publish: an actor answering (bus_publish_atom, topic, event) -> bus_published
  // only once the event is safe (the local bus: sequenced; the Kafka producer: acks=all).
  bus_directory_ptr publisher;
  std::shared_ptr<const superapp::clock> clock;  // created_at / published_at / backlog age
  metrics::registry* metrics = nullptr;          // backlog gauges and counters, per domain
  std::size_t batch_rows = 1024;                 // rows read and published at once
  std::size_t max_batches_in_flight = 4;         // read on while earlier batches await acks
  std::chrono::milliseconds poll_interval{50};   // idle wait between outbox reads
  std::chrono::milliseconds retry_backoff{500};  // after a failed publish or mark
  std::chrono::milliseconds publish_timeout{10000};
  std::int64_t alarm_backlog_events = 10000;  // log an alarm once the backlog passes this
  std::chrono::milliseconds retention{std::chrono::hours{24}};  // published rows kept this long
  // When the publisher is a bus new to this relay (bus_refill_atom: the node or the bus
  // restarted), the rows published in the last `refill_window`, at most the newest
  // `refill_max_events`, are published to it again before anything new (ADR 0019). Keep the
  // cap under the bus's ring (4096 per topic) so a consumer subscribing from the start of the
  // ring still finds them.
  std::chrono::milliseconds refill_window{std::chrono::hours{1}};
  std::size_t refill_max_events = 1024;
};

// Asks a relay what it has done (tests, and operators through probes).
using relay_stats_atom = caf::atom_constant<caf::atom("rly_stats")>;
// The relay's own poll timer (other actors may send it to make it read at once).
using relay_tick_atom = caf::atom_constant<caf::atom("rly_tick")>;

struct relay_stats {
  std::int64_t published = 0;       // rows acknowledged by the publisher and marked
  std::int64_t publish_failures = 0;  // publish requests that failed (retried later)
  std::int64_t skipped_corrupt = 0;   // rows whose payload did not decode (logged, marked)
  std::int64_t refilled = 0;          // published rows published again to a new bus
  std::int64_t backlog_events = 0;    // at the last read
  std::int64_t oldest_age_ms = 0;     // at the last read
  std::int64_t alarms = 0;            // times the backlog crossed alarm_backlog_events
  bool alarm_on = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_stats& x) {
  return f(caf::meta::type_name("relay_stats"), x.published, x.publish_failures, x.skipped_corrupt,
           x.refilled, x.backlog_events, x.oldest_age_ms, x.alarms, x.alarm_on);
}

// Spawns a relay over the domain context's readers (to read rows) and store (to mark them).
caf::actor spawn_outbox_relay(caf::actor_system& sys, sup::domain_context_ptr ctx,
                              outbox_relay_settings settings);

// The relay as a domain worker ("outbox_relay", permanent): it restarts alone when it
// crashes; the domain's store and front door are started before it and are not touched.
sup::domain_worker outbox_relay_worker(outbox_relay_settings settings);

// Adds the relay to `def` when its migrations include persistence::outbox_migration.
void add_outbox_relay(sup::domain_definition& def, const outbox_relay_settings& settings);

}  // namespace superapp::bus
