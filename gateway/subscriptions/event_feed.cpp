// The event feed: bus deliveries -> client events for the subscription router.
#include "gateway/subscriptions/event_feed.hpp"

#include <caf/all.hpp>

#include "gateway/subscriptions/subscriptions.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/bus/bus_messages.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::gateway {

namespace {

using attach_atom = caf::atom_constant<caf::atom("feed_att")>;
constexpr std::chrono::milliseconds retry{500};
constexpr std::chrono::milliseconds subscribe_timeout{5'000};

struct feed_state {
  std::shared_ptr<bus::bus_directory> buses;
  std::vector<std::string> domains;
  std::function<caf::actor()> router;
  caf::actor bus;
};

caf::behavior event_feed(caf::event_based_actor* self, std::shared_ptr<feed_state> st) {
  self->set_down_handler([self, st](caf::down_msg& down) {
    if (st->bus && down.source == st->bus.address()) {
      st->bus = nullptr;
      self->delayed_send(self, retry, attach_atom::value);
    }
  });
  self->send(self, attach_atom::value);
  return {
      [self, st](attach_atom) {
        if (st->bus) return;
        auto current = st->buses->current();
        if (!current) {
          self->delayed_send(self, retry, attach_atom::value);
          return;
        }
        st->bus = current;
        self->monitor(current);
        for (const auto& domain : st->domains) {
          self->request(current, subscribe_timeout, bus::bus_subscribe_atom::value,
                        events::topic_for_domain(domain), caf::actor_cast<caf::actor>(self),
                        bus::bus_position::live())
              .then([](const bus::bus_subscribed&) {},
                    [self, st, domain](caf::error&) {
                      // The bus is going away or refused: start over with whichever is current.
                      log::warn("gateway: event feed could not subscribe", {{"domain", domain}});
                      if (st->bus) self->demonitor(st->bus);
                      st->bus = nullptr;
                      self->delayed_send(self, retry, attach_atom::value);
                    });
        }
      },
      [st](bus::bus_event_atom, bus::bus_delivery& delivery) {
        auto& e = delivery.event;
        // A refill (a new bus filled again from the outboxes, ADR 0019) was pushed when it
        // happened; clients that were away resync rather than take old news as new.
        if (e.audience.empty() || delivery.refilled) return;
        auto router = st->router();
        if (!router) return;
        caf::anon_send(router, client_event_atom::value,
                       client_event{std::move(e.type), std::move(e.audience), std::move(e.body_json)});
      },
  };
}

}  // namespace

sup::child_spec event_feed_child(std::shared_ptr<bus::bus_directory> buses,
                                 std::vector<std::string> domains,
                                 std::function<caf::actor()> router) {
  sup::child_spec c;
  c.id = "event_feed";
  c.start = [buses = std::move(buses), domains = std::move(domains), router = std::move(router)](
                caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    auto st = std::make_shared<feed_state>();
    st->buses = buses;
    st->domains = domains;
    st->router = router;
    return sup::spawn_counted(parent, event_feed, st);
  };
  return c;
}

}  // namespace superapp::gateway
