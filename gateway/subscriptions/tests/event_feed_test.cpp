// The event feed between the node's bus and the subscription router, with a real local bus.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "gateway/subscriptions/event_feed.hpp"
#include "gateway/subscriptions/subscriptions.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/bus/bus_messages.hpp"

using namespace superapp;
using namespace std::chrono_literals;

TEST_CASE("events with an audience on the bus reach the router; the others and refills do not") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto buses = std::make_shared<bus::bus_directory>();
  auto bus = bus::spawn_local_bus(sys, bus::bus_config{});
  buses->publish(bus);
  caf::actor router = self;  // the test stands in for the router
  auto feed_spec = gateway::event_feed_child(buses, {"banking"}, [router] { return router; });
  caf::actor feed;
  // A function actor with no arguments trips UBSan in CAF 0.17's init_fun_factory: pass one.
  auto holder = sys.spawn(
      [&](caf::event_based_actor* parent, int) -> caf::behavior {
        auto child = feed_spec.start(*parent, caf::make_message());
        if (child) feed = *child;
        return {[](caf::unit_t) {}};
      },
      0);
  // The feed subscribes asynchronously: publish until the first event comes through (bounded).
  system_clock clock;
  auto publish = [&](std::vector<std::string> audience, std::string type) {
    auto e = events::make_event(clock, std::move(type), 1, "acct-1", 1, R"({"n":1})", "");
    e.audience = std::move(audience);
    self->request(bus, 5s, bus::bus_publish_atom::value, events::topic_for_domain("banking"), e)
        .receive([](const bus::bus_published&) {}, [](caf::error&) { FAIL("publish failed"); });
  };
  gateway::client_event got;
  bool received = false;
  for (int attempt = 0; attempt < 50 && !received; ++attempt) {
    publish({"alice"}, "banking.transfer.completed");
    self->receive([&](gateway::client_event_atom, gateway::client_event& e) {
                    got = std::move(e);
                    received = true;
                  },
                  caf::after(100ms) >> [] {});
  }
  REQUIRE(received);
  CHECK(got.type == "banking.transfer.completed");
  CHECK(got.audience == std::vector<std::string>{"alice"});
  CHECK(got.body_json == R"({"n":1})");
  // An event without an audience is never forwarded (earlier attempts may still arrive), nor
  // is a refill of a new bus (ADR 0019): it was news when it first happened.
  publish({}, "banking.ledger.closed");
  bus::bus_batch refill;
  refill.refilled = true;
  refill.topics = {events::topic_for_domain("banking")};
  refill.events = {
      events::make_event(clock, "banking.transfer.refilled", 1, "acct-1", 1, "{}", "")};
  refill.events[0].audience = {"alice"};
  self->request(bus, 5s, bus::bus_publish_batch_atom::value, refill)
      .receive([](const bus::bus_batch_published&) {}, [](caf::error&) { FAIL("refill failed"); });
  bool forwarded = false;
  bool quiet = false;
  while (!quiet)
    self->receive(
        [&](gateway::client_event_atom, gateway::client_event& e) {
          if (e.type == "banking.ledger.closed" || e.type == "banking.transfer.refilled")
            forwarded = true;
        },
        caf::after(300ms) >> [&] { quiet = true; });
  CHECK_FALSE(forwarded);
  for (auto& a : {feed, holder, bus}) self->send_exit(a, caf::exit_reason::kill);
}
