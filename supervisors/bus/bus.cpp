// The in-process event bus: per-topic sequence, bounded replay ring, monitored subscribers.
#include "supervisors/bus/bus.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <map>
#include <random>
#include <set>
#include <string>

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/bus/topic_log.hpp"
#include "supervisors/counted.hpp"

namespace superapp::bus {
namespace {

struct topic_state {
  explicit topic_state(std::size_t capacity) : log(capacity) {}
  topic_log log;
  std::vector<caf::actor> subscribers;  // in subscription order
};

struct bus_state {
  bus_config config;
  std::uint64_t epoch = 0;
  std::map<std::string, topic_state> topics;
  std::map<caf::actor_addr, int> monitored;  // subscriber -> topics it is subscribed to
  std::int64_t published = 0;
  std::set<std::string> refilled_sources;  // relays that asked bus_refill_atom of this bus
  static inline const char* name = "event_bus";
};

using bus_pointer = caf::stateful_actor<bus_state>*;

topic_state* find_or_add(bus_pointer self, const std::string& topic) {
  auto& st = self->state;
  auto i = st.topics.find(topic);
  if (i != st.topics.end()) return &i->second;
  if (st.topics.size() >= st.config.max_topics) return nullptr;
  return &st.topics.emplace(topic, topic_state{st.config.ring_capacity}).first->second;
}

bool remove_subscriber(bus_pointer self, topic_state& t, const caf::actor& who) {
  auto i = std::find(t.subscribers.begin(), t.subscribers.end(), who);
  if (i == t.subscribers.end()) return false;
  t.subscribers.erase(i);
  auto m = self->state.monitored.find(who.address());
  if (m != self->state.monitored.end() && --m->second == 0) {
    self->demonitor(who);
    self->state.monitored.erase(m);
  }
  return true;
}

// The events after `after` in `topic`, or resync_required.
caf::expected<std::vector<topic_log::entry>> entries_after(bus_pointer self, topic_state& t,
                                                          const bus_position& after) {
  if (after.epoch != self->state.epoch) return events::make_error(events::events_errc::resync_required);
  auto r = t.log.after(after.seq);
  if (std::holds_alternative<topic_log::too_old>(r))
    return events::make_error(events::events_errc::resync_required);
  return std::get<std::vector<topic_log::entry>>(std::move(r));
}

// Appends `e` to `topic`, sends it to the topic's subscribers; its position.
caf::expected<bus_position> publish_one(bus_pointer self, const std::string& topic,
                                        const events::event& e, bool refilled = false) {
  if (auto err = events::validate(e)) return err;
  auto* t = find_or_add(self, topic);
  if (t == nullptr) return make_error(platform_errc::invalid_argument);
  bus_position pos{self->state.epoch, 0};
  pos.seq = t->log.append(e, refilled);
  ++self->state.published;
  for (const auto& sub : t->subscribers)
    self->send(sub, bus_event_atom::value, bus_delivery{topic, pos, e, refilled});
  return pos;
}

caf::behavior bus_behavior(bus_pointer self, bus_config config) {
  SUPERAPP_ASSERT(config.ring_capacity > 0 && config.max_topics > 0);
  self->state.config = config;
  self->state.epoch = config.epoch;
  if (self->state.epoch == 0) {
    std::random_device entropy;
    self->state.epoch = (static_cast<std::uint64_t>(entropy()) << 32) | entropy();
    if (self->state.epoch == 0) self->state.epoch = 1;
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.monitored.erase(msg.source) == 0) return;
    for (auto& [name, t] : st.topics)
      t.subscribers.erase(std::remove_if(t.subscribers.begin(), t.subscribers.end(),
                                         [&](const caf::actor& a) { return a.address() == msg.source; }),
                          t.subscribers.end());
  });
  return {
      [self](bus_publish_atom, std::string& topic,
             events::event& e) -> caf::result<bus_published> {
        auto pos = publish_one(self, topic, e);
        if (!pos) return std::move(pos.error());
        return bus_published{*pos};
      },
      [self](bus_publish_batch_atom, bus_batch& batch) -> caf::result<bus_batch_published> {
        if (batch.topics.size() != batch.events.size())
          return make_error(platform_errc::invalid_argument);
        bus_batch_published out;
        out.ok.reserve(batch.events.size());
        for (std::size_t i = 0; i < batch.events.size(); ++i) {
          auto pos = publish_one(self, batch.topics[i], batch.events[i], batch.refilled);
          out.ok.push_back(pos ? 1 : 0);
        }
        return out;
      },
      [self](bus_subscribe_atom, std::string& topic, caf::actor& subscriber,
             bus_position after) -> caf::result<bus_subscribed> {
        if (!subscriber) return make_error(platform_errc::invalid_argument);
        auto* t = find_or_add(self, topic);
        if (t == nullptr) return make_error(platform_errc::invalid_argument);
        bus_subscribed reply{{self->state.epoch, t->log.head()}, 0};
        if (!after.is_live()) {
          auto replay = entries_after(self, *t, after);
          if (!replay) return std::move(replay.error());
          for (const auto& entry : *replay)
            self->send(
                subscriber, bus_event_atom::value,
                bus_delivery{topic, {self->state.epoch, entry.seq}, *entry.event, entry.refilled});
          reply.replayed = static_cast<std::int64_t>(replay->size());
        }
        remove_subscriber(self, *t, subscriber);
        t->subscribers.push_back(subscriber);
        if (self->state.monitored[subscriber.address()]++ == 0) self->monitor(subscriber);
        return reply;
      },
      [self](bus_unsubscribe_atom, const std::string& topic, const caf::actor& subscriber) {
        auto i = self->state.topics.find(topic);
        return i != self->state.topics.end() && remove_subscriber(self, i->second, subscriber);
      },
      [self](bus_replay_atom, const std::string& topic,
             bus_position after) -> caf::result<bus_replayed> {
        auto* t = find_or_add(self, topic);
        if (t == nullptr) return make_error(platform_errc::invalid_argument);
        auto replay = entries_after(self, *t, after);
        if (!replay) return std::move(replay.error());
        bus_replayed out;
        out.deliveries.reserve(replay->size());
        for (const auto& entry : *replay)
          out.deliveries.push_back(
              {topic, {self->state.epoch, entry.seq}, *entry.event, entry.refilled});
        out.head = {self->state.epoch, t->log.head()};
        return out;
      },
      [self](bus_recent_atom, const std::string& topic,
             std::int64_t count) -> caf::result<bus_replayed> {
        auto* t = find_or_add(self, topic);
        if (t == nullptr || count < 0) return make_error(platform_errc::invalid_argument);
        auto from = std::max(t->log.head() - count, t->log.oldest_seq() - 1);
        auto entries = std::get<std::vector<topic_log::entry>>(t->log.after(from));
        bus_replayed out;
        for (const auto& entry : entries)
          out.deliveries.push_back(
              {topic, {self->state.epoch, entry.seq}, *entry.event, entry.refilled});
        out.head = {self->state.epoch, t->log.head()};
        return out;
      },
      [self](bus_refill_atom, const std::string& source) {
        // Only the first ask per source: this bus starts empty, and the source's relay fills
        // it once with what it published before (ADR 0019).
        return self->state.refilled_sources.insert(source).second;
      },
      [self](bus_stats_atom) {
        bus_stats s;
        s.epoch = self->state.epoch;
        s.topics = static_cast<std::int64_t>(self->state.topics.size());
        for (const auto& [name, t] : self->state.topics)
          s.subscriptions += static_cast<std::int64_t>(t.subscribers.size());
        s.published = self->state.published;
        return s;
      },
      [self](sup::probe_atom) {
        return sup::worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
  };
}

}  // namespace

caf::actor spawn_local_bus(caf::actor_system& sys, bus_config config) {
  return sup::spawn_counted(sys, bus_behavior, config);
}

sup::child_spec local_bus_child(bus_config config, bus_directory_ptr directory) {
  SUPERAPP_ASSERT(directory != nullptr);
  sup::child_spec c;
  c.id = "bus";
  c.answers_probe = true;
  c.start = [config, directory](caf::local_actor& parent,
                                const caf::message&) -> caf::expected<caf::actor> {
    auto bus = sup::spawn_counted(parent, bus_behavior, config);
    directory->publish(bus);
    return bus;
  };
  return c;
}

sup::supervisor_spec bridge_supervisor(bus_config config, bus_directory_ptr directory,
                                       std::vector<sup::child_spec> extra) {
  sup::supervisor_spec spec;
  spec.name = "bridge_sup";
  spec.strategy_kind = sup::strategy::one_for_one;
  spec.intensity = {10, std::chrono::seconds{10}};
  spec.backoff = {std::chrono::milliseconds{10}, std::chrono::seconds{2}, 20};
  spec.children.push_back(local_bus_child(config, std::move(directory)));
  for (auto& c : extra) spec.children.push_back(std::move(c));
  return spec;
}

}  // namespace superapp::bus
