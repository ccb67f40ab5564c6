// The outbox relay: read unpublished rows, publish them in order, mark what was acknowledged.
#include "supervisors/bus/outbox_relay.hpp"

#include <algorithm>
#include <caf/all.hpp>

#include "persistence/connection.hpp"
#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::bus {
namespace {

struct relay_metrics {
  metrics::gauge backlog;
  metrics::gauge oldest_age_ms;
  metrics::counter published;
  metrics::counter failures;
  metrics::counter refilled;
};

struct relay_state {
  sup::domain_context_ptr ctx;
  outbox_relay_settings settings;
  relay_metrics series;
  relay_stats stats;
  std::size_t in_flight = 0;  // batches sent and not yet marked
  std::int64_t cursor = 0;     // the last position sent while batches are in flight
  bool halted = false;         // a batch failed: send nothing new until the others are done
  std::int64_t last_purge_ms = 0;
  std::int64_t last_backlog_ms = 0;
  std::uint64_t timer_generation = 0;
  // The refill (ADR 0019): the publisher last asked bus_refill_atom, whether it answered that
  // it is new (and not yet filled), and whether an ask or a fill is under way.
  caf::actor_addr refill_asked;
  bool refill_due = false;
  bool refill_busy = false;
  static inline const char* name = "outbox_relay";
};

using relay_pointer = caf::stateful_actor<relay_state>*;

std::int64_t now_ms(relay_pointer self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             self->state.settings.clock->now().time_since_epoch())
      .count();
}

// The relay's own timer: only the tick scheduled last counts (each schedule() supersedes the
// one before), so the ticks that finished batches ask for never pile up into parallel chains.
void schedule(relay_pointer self, std::chrono::milliseconds delay) {
  auto generation = ++self->state.timer_generation;
  if (delay.count() == 0)
    self->send(self, relay_tick_atom::value, generation);
  else
    self->delayed_send(self, delay, relay_tick_atom::value, generation);
}

void record_backlog(relay_pointer self, const persistence::outbox_backlog& backlog) {
  auto& st = self->state;
  st.stats.backlog_events = backlog.events;
  st.stats.oldest_age_ms =
      backlog.events == 0 ? 0 : std::max<std::int64_t>(0, now_ms(self) - backlog.oldest_created_at_ms);
  if (st.series.backlog) st.series.backlog.set(st.stats.backlog_events);
  if (st.series.oldest_age_ms) st.series.oldest_age_ms.set(st.stats.oldest_age_ms);
  auto over = st.stats.backlog_events > st.settings.alarm_backlog_events;
  if (over && !st.stats.alarm_on) {
    st.stats.alarm_on = true;
    ++st.stats.alarms;
    log::error("ALARM outbox backlog over threshold",
               {{"domain", st.ctx->domain}, {"backlog_events", st.stats.backlog_events},
                {"oldest_age_ms", st.stats.oldest_age_ms},
                {"threshold", st.settings.alarm_backlog_events}});
  } else if (!over && st.stats.alarm_on) {
    st.stats.alarm_on = false;
    log::info("outbox backlog back under threshold",
              {{"domain", st.ctx->domain}, {"backlog_events", st.stats.backlog_events}});
  }
}

// One batch: how many rows were read, and the positions the publisher acknowledged.
struct batch {
  std::size_t rows = 0;
  std::vector<std::int64_t> acknowledged;
  bool failed = false;
};

// Batches run in read order and are marked as each completes. After a failure no new batch is
// sent; once the ones in flight are done the relay backs off and reads again from the oldest
// unpublished row, so the failed rows go out again (after later rows of theirs that succeeded:
// consumers see the aggregate's sequence and deduplicate by event id).
void finish_batch(relay_pointer self, std::shared_ptr<batch> b) {
  auto& st = self->state;
  if (b->failed) st.halted = true;
  auto next = [self, full = b->rows == st.settings.batch_rows] {
    auto& st = self->state;
    --st.in_flight;
    if (st.halted) {
      if (st.in_flight == 0) schedule(self, st.settings.retry_backoff);
      return;
    }
    // A full batch means more rows wait: read again at once.
    schedule(self, full ? std::chrono::milliseconds{0} : st.settings.poll_interval);
  };
  if (b->acknowledged.empty()) {
    next();
    return;
  }
  auto count = static_cast<std::int64_t>(b->acknowledged.size());
  self->request(st.ctx->store, st.settings.publish_timeout, persistence::write_atom::value,
                persistence::mark_published(b->acknowledged, now_ms(self)))
      .then(
          [self, count, next](persistence::unit_results&) {
            self->state.stats.published += count;
            if (self->state.series.published) self->state.series.published.increment(count);
            next();
          },
          [self, next](caf::error& err) {
            // The rows stay unpublished and go out again: consumers deduplicate by event id.
            log::warn("outbox relay could not mark rows published",
                      {{"domain", self->state.ctx->domain},
                       {"reason", std::string{describe(err).wire_code}}});
            self->state.halted = true;
            next();
          });
}

// Publishes the recently published rows again to `publisher`, a bus new to this relay, before
// anything new goes to it: consumers with effects find what they missed (their inbox drops
// what they had applied), in the order it was first published.
void refill(relay_pointer self, caf::actor publisher) {
  auto& st = self->state;
  st.refill_busy = true;
  auto fail = [self](std::string_view reason) {
    log::warn("outbox relay could not fill a new bus; trying again",
              {{"domain", self->state.ctx->domain}, {"reason", std::string{reason}}});
    self->state.refill_busy = false;
    schedule(self, self->state.settings.retry_backoff);
  };
  std::vector<persistence::outbox_row> rows;
  {
    auto lease = st.ctx->readers->borrow();
    if (!lease) return fail(describe(lease.error()).wire_code);
    auto read = persistence::read_recently_published(
        **lease, now_ms(self) - st.settings.refill_window.count(), st.settings.refill_max_events);
    if (!read) return fail(describe(read.error()).wire_code);
    rows = std::move(*read);
  }
  bus_batch request;
  request.refilled = true;
  for (auto& row : rows)
    if (auto decoded = events::decode(row.payload)) {  // a corrupt row was logged when first sent
      request.topics.push_back(std::move(row.topic));
      request.events.push_back(std::move(*decoded));
    }
  auto done = [self](std::int64_t count) {
    auto& st = self->state;
    st.refill_due = false;
    st.refill_busy = false;
    st.stats.refilled += count;
    if (st.series.refilled) st.series.refilled.increment(static_cast<std::uint64_t>(count));
    if (count > 0)
      log::info(
          "outbox relay filled a new bus with its recently published events",
          {{"domain", st.ctx->domain},
           {"events", count},
           {"window_s",
            std::chrono::duration_cast<std::chrono::seconds>(st.settings.refill_window).count()}});
    schedule(self, std::chrono::milliseconds{0});
  };
  if (request.events.empty()) return done(0);
  self->request(publisher, st.settings.publish_timeout, bus_publish_batch_atom::value,
                std::move(request))
      .then(
          [done](bus_batch_published& reply) {
            done(static_cast<std::int64_t>(std::count(reply.ok.begin(), reply.ok.end(), 1)));
          },
          [fail](caf::error& err) { fail(describe(err).wire_code); });
}

// Asks `publisher` whether it is new to this relay; a bus answers true once (bus_refill_atom).
void ask_refill(relay_pointer self, caf::actor publisher) {
  auto& st = self->state;
  st.refill_busy = true;
  st.refill_asked = publisher.address();
  self->request(publisher, st.settings.publish_timeout, bus_refill_atom::value, st.ctx->domain)
      .then(
          [self](bool fresh) {
            self->state.refill_due = fresh;
            self->state.refill_busy = false;
            schedule(self, std::chrono::milliseconds{0});
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.refill_busy = false;
            if (err == caf::sec::unexpected_message) {  // a publisher without refills
              schedule(self, std::chrono::milliseconds{0});
              return;
            }
            st.refill_asked = caf::actor_addr{};  // ask again (this publisher, or the next one)
            schedule(self, st.settings.retry_backoff);
          });
}

void tick(relay_pointer self) {
  auto& st = self->state;
  // Ticks come from the timer and from each finished batch; beyond the bound (or while halted)
  // the batch that finishes next reads on.
  if (st.in_flight >= st.settings.max_batches_in_flight || (st.halted && st.in_flight > 0)) return;
  if (st.refill_busy) return;  // its reply schedules the next tick
  // A publisher not asked yet may be a new bus: ask (and fill it) before sending it anything
  // new, once the batches sent to the one before are done.
  auto publisher = st.settings.publisher->current();
  if (publisher && publisher.address() != st.refill_asked) {
    if (st.in_flight == 0) ask_refill(self, publisher);
    return;
  }
  if (publisher && st.refill_due) {
    if (st.in_flight == 0) refill(self, publisher);
    return;
  }
  if (st.in_flight == 0) {
    st.halted = false;
    st.cursor = 0;  // nothing in flight: start from the oldest unpublished row
  }
  // Nothing could be sent now: try again after the backoff, unless a batch in flight will
  // read on when it finishes.
  auto retry_later = [self] {
    if (self->state.in_flight == 0) schedule(self, self->state.settings.retry_backoff);
  };
  std::vector<persistence::outbox_row> rows;
  {
    auto lease = st.ctx->readers->borrow();
    if (!lease) {
      retry_later();
      return;
    }
    // The backlog (a count) is measured on every read from idle, and at most every 250 ms
    // while batches follow each other.
    auto now = now_ms(self);
    if (st.in_flight == 0 || now - st.last_backlog_ms >= 250) {
      auto backlog = persistence::read_backlog(**lease);
      if (!backlog) {
        log::warn("outbox relay could not read the outbox", {{"domain", st.ctx->domain}});
        retry_later();
        return;
      }
      st.last_backlog_ms = now;
      record_backlog(self, *backlog);
    }
    auto read = persistence::read_unpublished(**lease, st.settings.batch_rows, st.cursor);
    if (!read) {
      log::warn("outbox relay could not read the outbox", {{"domain", st.ctx->domain}});
      retry_later();
      return;
    }
    rows = std::move(*read);
    if (rows.empty() && now - st.last_purge_ms > 60'000) {
      st.last_purge_ms = now;
      persistence::unit_of_work purge;
      purge.add(persistence::purge_published(now - st.settings.retention.count()));
      self->request(st.ctx->store, st.settings.publish_timeout, persistence::write_atom::value,
                    std::move(purge))
          .then([](persistence::unit_results&) {}, [](caf::error&) {});
    }
  }
  if (rows.empty()) {
    if (st.in_flight == 0) schedule(self, st.settings.poll_interval);
    return;
  }
  if (!publisher) {
    retry_later();
    return;
  }
  ++st.in_flight;
  st.cursor = rows.back().position;
  // Read the next batch while this one is in flight, when this one was full.
  if (rows.size() == st.settings.batch_rows && st.in_flight < st.settings.max_batches_in_flight)
    schedule(self, std::chrono::milliseconds{0});
  auto b = std::make_shared<batch>();
  b->rows = rows.size();
  // One request per batch, events in position order (requests to one actor also arrive in the
  // order sent, so batches in flight reach the publisher in order too).
  bus_batch request;
  std::vector<std::int64_t> positions;
  for (auto& row : rows) {
    auto decoded = events::decode(row.payload);
    if (!decoded) {
      // A row this domain wrote that does not decode is corruption, not a reason to block
      // every later event: log it with its position and skip it.
      log::error("outbox row does not decode; skipped",
                 {{"domain", st.ctx->domain}, {"position", row.position},
                  {"reason", std::string{describe(decoded.error()).wire_code}}});
      ++st.stats.skipped_corrupt;
      b->acknowledged.push_back(row.position);
      continue;
    }
    request.topics.push_back(std::move(row.topic));
    request.events.push_back(std::move(*decoded));
    positions.push_back(row.position);
  }
  if (positions.empty()) {
    finish_batch(self, b);
    return;
  }
  auto failed = [self, b](std::int64_t count, const caf::error& err) {
    if (!b->failed)
      log::warn("outbox relay publish failed",
                {{"domain", self->state.ctx->domain}, {"reason", std::string{describe(err).wire_code}},
                 {"events", count}});
    b->failed = true;
    self->state.stats.publish_failures += count;
    if (self->state.series.failures)
      self->state.series.failures.increment(static_cast<std::uint64_t>(count));
  };
  self->request(publisher, st.settings.publish_timeout, bus_publish_batch_atom::value, std::move(request))
      .then(
          [self, b, positions, failed](bus_batch_published& reply) {
            std::int64_t refused = 0;
            for (std::size_t i = 0; i < positions.size(); ++i) {
              if (i < reply.ok.size() && reply.ok[i] != 0)
                b->acknowledged.push_back(positions[i]);
              else
                ++refused;
            }
            if (refused > 0) failed(refused, make_error(platform_errc::unavailable));
            finish_batch(self, b);
          },
          [self, b, count = static_cast<std::int64_t>(positions.size()), failed](caf::error& err) {
            failed(count, err);
            finish_batch(self, b);
          });
}

caf::behavior relay_behavior(relay_pointer self, sup::domain_context_ptr ctx,
                             outbox_relay_settings settings) {
  SUPERAPP_ASSERT(ctx != nullptr && ctx->readers != nullptr && ctx->store);
  SUPERAPP_ASSERT(settings.publisher != nullptr && settings.clock != nullptr);
  SUPERAPP_ASSERT(settings.batch_rows > 0);
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.settings = std::move(settings);
  if (auto* registry = st.settings.metrics) {
    metrics::label_set labels{{"domain", st.ctx->domain}};
    st.series.backlog = registry->add_gauge(
        "superapp_outbox_backlog_events", "Committed outbox events not yet published", labels);
    st.series.oldest_age_ms = registry->add_gauge(
        "superapp_outbox_oldest_age_ms", "Age of the oldest unpublished outbox event", labels);
    st.series.published = registry->add_counter(
        "superapp_outbox_published_total", "Outbox events published and marked", labels);
    st.series.failures = registry->add_counter(
        "superapp_outbox_publish_failures_total", "Outbox publish attempts that failed", labels);
    st.series.refilled = registry->add_counter(
        "superapp_outbox_refilled_total",
        "Published outbox events published again to a bus new to the relay", labels);
  }
  schedule(self, std::chrono::milliseconds{0});
  return {
      [self](relay_tick_atom) { tick(self); },  // a nudge from outside: read now
      [self](relay_tick_atom, std::uint64_t generation) {
        if (generation == self->state.timer_generation) tick(self);
      },
      [self](relay_stats_atom) { return self->state.stats; },
      [self](sup::probe_atom) {
        return sup::worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
  };
}

}  // namespace

caf::actor spawn_outbox_relay(caf::actor_system& sys, sup::domain_context_ptr ctx,
                              outbox_relay_settings settings) {
  return sup::spawn_counted(sys, relay_behavior, std::move(ctx), std::move(settings));
}

sup::domain_worker outbox_relay_worker(outbox_relay_settings settings) {
  sup::domain_worker w;
  w.spec.id = "outbox_relay";
  w.spec.restart = sup::restart_type::permanent;
  w.spec.answers_probe = true;
  w.start = [settings](caf::local_actor& parent, const caf::message&,
                       sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    if (!ctx) return make_error(platform_errc::start_failed);
    return sup::spawn_counted(parent, relay_behavior, std::move(ctx), settings);
  };
  return w;
}

void add_outbox_relay(sup::domain_definition& def, const outbox_relay_settings& settings) {
  if (persistence::has_outbox(def.migrations))
    def.workers.push_back(outbox_relay_worker(settings));
}

}  // namespace superapp::bus
