// The in-process bus on CAF's deterministic test coordinator: order, sequence, replay, resync,
// dead subscribers, and the bus as bridge_sup's child.
#include <caf/all.hpp>

#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/topic_log.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::bus;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t test_epoch = 77;
const std::string banking = "superapp.banking.events";

events::event numbered(std::int64_t n) {
  manual_clock c;
  return events::make_event(c, "banking.transfer.completed", 1, "acct-1", n,
                            "{\"n\":" + std::to_string(n) + "}");
}

// Records what a subscriber receives.
struct inbox {
  std::vector<bus_delivery> got;
};

caf::behavior recording_subscriber(caf::event_based_actor*, std::shared_ptr<inbox> box) {
  return {[box](bus_event_atom, bus_delivery& d) { box->got.push_back(std::move(d)); }};
}

struct bus_fixture : test_coordinator_fixture<> {
  caf::actor bus;
  explicit bus_fixture(std::size_t ring = 4) {
    bus = spawn_local_bus(sys, bus_config{ring, 8, test_epoch});
    run();
  }
  ~bus_fixture() {
    anon_send_exit(bus, caf::exit_reason::user_shutdown);
    run();
  }
  bus_published publish(std::int64_t n, const std::string& topic = banking) {
    return request<bus_published>(bus, bus_publish_atom::value, topic, numbered(n));
  }
  caf::expected<bus_subscribed> subscribe(const caf::actor& who, bus_position after,
                                          const std::string& topic = banking) {
    caf::expected<bus_subscribed> out = caf::make_error(caf::sec::request_timeout);
    auto reply = self->request(bus, caf::infinite, bus_subscribe_atom::value, topic, who, after);
    run();
    reply.receive([&](bus_subscribed& s) { out = s; }, [&](caf::error& e) { out = e; });
    return out;
  }
  std::pair<caf::actor, std::shared_ptr<inbox>> subscriber() {
    auto box = std::make_shared<inbox>();
    auto a = sys.spawn(recording_subscriber, box);
    return {a, box};
  }
};

std::vector<std::int64_t> seqs(const inbox& box) {
  std::vector<std::int64_t> out;
  for (const auto& d : box.got) out.push_back(d.position.seq);
  return out;
}

}  // namespace

TEST_CASE("a topic log numbers events from 1 and keeps only the newest ones") {
  topic_log log{3};
  CHECK(log.head() == 0);
  CHECK(std::get<0>(log.after(0)).empty());
  for (int i = 1; i <= 5; ++i) CHECK(log.append(numbered(i)) == i);
  CHECK(log.size() == 3);
  CHECK(log.oldest_seq() == 3);
  auto tail = std::get<0>(log.after(2));
  REQUIRE(tail.size() == 3);
  CHECK(tail[0].seq == 3);
  CHECK(tail[0].event->sequence == 3);
  CHECK(tail[2].seq == 5);
  CHECK(std::get<0>(log.after(5)).empty());
  CHECK(std::holds_alternative<topic_log::too_old>(log.after(1)));
  CHECK(std::holds_alternative<topic_log::too_old>(log.after(6)));
}

TEST_CASE_FIXTURE(bus_fixture, "subscribers receive a topic's events in publish order with its sequence") {
  auto [a, box_a] = subscriber();
  auto [b, box_b] = subscriber();
  auto [other, box_other] = subscriber();
  REQUIRE(subscribe(a, bus_position::live()));
  REQUIRE(subscribe(b, bus_position::live()));
  REQUIRE(subscribe(other, bus_position::live(), "superapp.rewards.events"));
  for (int i = 1; i <= 3; ++i) {
    auto p = publish(i);
    CHECK(p.position.seq == i);
    CHECK(p.position.epoch == test_epoch);
  }
  run();
  CHECK(seqs(*box_a) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(seqs(*box_b) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(box_other->got.empty());
  REQUIRE(box_a->got.size() == 3);
  CHECK(box_a->got[2].event.sequence == 3);
  CHECK(box_a->got[2].topic == banking);
  self->send_exit(a, caf::exit_reason::kill);
  self->send_exit(b, caf::exit_reason::kill);
  self->send_exit(other, caf::exit_reason::kill);
  run();
}

TEST_CASE_FIXTURE(bus_fixture, "a resume replays what was missed, then goes on live, with no gap") {
  publish(1);
  publish(2);
  publish(3);
  auto [a, box] = subscriber();
  auto s = subscribe(a, bus_position{test_epoch, 1});
  REQUIRE(s);
  CHECK(s->replayed == 2);
  CHECK(s->head.seq == 3);
  publish(4);
  run();
  CHECK(seqs(*box) == std::vector<std::int64_t>{2, 3, 4});
  CHECK(box->got[0].event.sequence == 2);

  auto replay = request<bus_replayed>(bus, bus_replay_atom::value, banking, bus_position{test_epoch, 2});
  REQUIRE(replay.deliveries.size() == 2);
  CHECK(replay.deliveries[0].position.seq == 3);
  self->send_exit(a, caf::exit_reason::kill);
  run();
}

TEST_CASE_FIXTURE(bus_fixture, "a resume from before the ring or from another epoch gets resync_required") {
  for (int i = 1; i <= 6; ++i) publish(i);  // the ring (4) holds 3..6
  auto [a, box] = subscriber();
  auto old = subscribe(a, bus_position{test_epoch, 1});
  REQUIRE_FALSE(old);
  CHECK(old.error() == events::events_errc::resync_required);
  CHECK(describe(old.error()).wire_code == "resync_required");
  auto stranger = subscribe(a, bus_position{test_epoch + 1, 5});
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error() == events::events_errc::resync_required);
  // Refused resumes do not subscribe.
  publish(7);
  run();
  CHECK(box->got.empty());
  // The ring now holds 4..7: resuming after 3 still works.
  CHECK_FALSE(subscribe(a, bus_position{test_epoch, 2}));
  auto ok = subscribe(a, bus_position{test_epoch, 3});
  REQUIRE(ok);
  CHECK(ok->replayed == 4);
  run();
  CHECK(seqs(*box) == std::vector<std::int64_t>{4, 5, 6, 7});
  self->send_exit(a, caf::exit_reason::kill);
  run();
}

TEST_CASE_FIXTURE(bus_fixture, "the recent events of a topic are the newest the ring holds, with where to go on") {
  auto none = request<bus_replayed>(bus, bus_recent_atom::value, banking, std::int64_t{10});
  CHECK(none.deliveries.empty());
  CHECK(none.head == bus_position{test_epoch, 0});
  for (int i = 1; i <= 6; ++i) publish(i);  // the ring (4) holds 3..6
  auto two = request<bus_replayed>(bus, bus_recent_atom::value, banking, std::int64_t{2});
  REQUIRE(two.deliveries.size() == 2);
  CHECK(two.deliveries[0].position.seq == 5);
  CHECK(two.deliveries[1].event.sequence == 6);
  CHECK(two.head == bus_position{test_epoch, 6});
  auto all = request<bus_replayed>(bus, bus_recent_atom::value, banking, std::int64_t{100});
  REQUIRE(all.deliveries.size() == 4);
  CHECK(all.deliveries[0].position.seq == 3);
  // Going on from the head gives only what came after it.
  publish(7);
  auto next = request<bus_replayed>(bus, bus_replay_atom::value, banking, all.head);
  REQUIRE(next.deliveries.size() == 1);
  CHECK(next.deliveries[0].position.seq == 7);
  CHECK(next.head.seq == 7);
}

TEST_CASE_FIXTURE(bus_fixture, "a dead subscriber is dropped and an unsubscribed one gets nothing more") {
  auto [a, box_a] = subscriber();
  auto [b, box_b] = subscriber();
  REQUIRE(subscribe(a, bus_position::live()));
  REQUIRE(subscribe(b, bus_position::live()));
  REQUIRE(subscribe(b, bus_position::live(), "superapp.rewards.events"));
  CHECK(request<bus_stats>(bus, bus_stats_atom::value).subscriptions == 3);
  self->send_exit(b, caf::exit_reason::kill);
  run();
  CHECK(request<bus_stats>(bus, bus_stats_atom::value).subscriptions == 1);
  CHECK(request<bool>(bus, bus_unsubscribe_atom::value, banking, a));
  CHECK_FALSE(request<bool>(bus, bus_unsubscribe_atom::value, banking, a));
  CHECK(request<bus_stats>(bus, bus_stats_atom::value).subscriptions == 0);
  publish(1);
  run();
  CHECK(box_a->got.empty());
  self->send_exit(a, caf::exit_reason::kill);
  run();
}

TEST_CASE_FIXTURE(bus_fixture, "an invalid event or one topic too many is refused") {
  auto bad = numbered(1);
  bad.type = "nope";
  caf::error err;
  auto r1 = self->request(bus, caf::infinite, bus_publish_atom::value, banking, bad);
  run();
  r1.receive([](bus_published&) {}, [&](caf::error& e) { err = e; });
  CHECK(err == events::events_errc::invalid_event);
  for (int i = 0; i < 8; ++i) publish(1, "superapp.t" + std::to_string(i) + ".events");
  caf::error over;
  auto r2 = self->request(bus, caf::infinite, bus_publish_atom::value,
                          std::string{"superapp.x.events"}, numbered(1));
  run();
  r2.receive([](bus_published&) {}, [&](caf::error& e) { over = e; });
  CHECK(over == platform_errc::invalid_argument);
}

TEST_CASE_FIXTURE(bus_fixture,
                  "a bus is new to each source once, and refilled events say so wherever they go") {
  CHECK(request<bool>(bus, bus_refill_atom::value, std::string{"kyc"}));
  CHECK_FALSE(request<bool>(bus, bus_refill_atom::value, std::string{"kyc"}));
  CHECK(request<bool>(bus, bus_refill_atom::value, std::string{"banking"}));
  auto [live, box] = subscriber();
  REQUIRE(subscribe(live, bus_position::live()));
  bus_batch refill;
  refill.refilled = true;
  for (int i = 1; i <= 2; ++i) {
    refill.topics.push_back(banking);
    refill.events.push_back(numbered(i));
  }
  CHECK(request<bus_batch_published>(bus, bus_publish_batch_atom::value, refill).ok ==
        std::vector<std::uint8_t>{1, 1});
  publish(3);
  run();
  REQUIRE(box->got.size() == 3);
  CHECK(box->got[0].refilled);
  CHECK(box->got[1].refilled);
  CHECK_FALSE(box->got[2].refilled);
  // The ring keeps the mark: a replay and a late subscriber see the same.
  auto replay =
      request<bus_replayed>(bus, bus_replay_atom::value, banking, bus_position{test_epoch, 0});
  REQUIRE(replay.deliveries.size() == 3);
  CHECK(replay.deliveries[0].refilled);
  CHECK_FALSE(replay.deliveries[2].refilled);
  auto [late, late_box] = subscriber();
  REQUIRE(subscribe(late, bus_position{test_epoch, 1}));
  run();
  REQUIRE(late_box->got.size() == 2);
  CHECK(late_box->got[0].refilled);
  CHECK_FALSE(late_box->got[1].refilled);
  self->send_exit(live, caf::exit_reason::kill);
  self->send_exit(late, caf::exit_reason::kill);
  run();
}

TEST_CASE("bridge_sup runs the bus, publishes it, and restarts it with a new epoch") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto directory = std::make_shared<bus_directory>();
  auto sup = sup::spawn_supervisor(sys, bridge_supervisor(bus_config{}, directory));
  REQUIRE_FALSE(sup::await_ready(self, sup, 10s));
  auto first = directory->current();
  REQUIRE(first);
  std::uint64_t epoch = 0;
  self->request(first, 5s, bus_stats_atom::value)
      .receive([&](bus_stats& s) { epoch = s.epoch; }, [](caf::error&) {});
  CHECK(epoch != 0);
  self->monitor(first);
  self->send_exit(first, caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {});
  caf::actor second;
  for (int i = 0; i < 500 && (!second || second == first); ++i) {
    self->request(sup, 5s, sup::which_child_atom::value, std::string{"bus"})
        .receive([&](caf::actor& a) { second = a; }, [](caf::error&) {});
  }
  REQUIRE(second);
  CHECK(second != first);
  CHECK(directory->current() == second);
  std::uint64_t epoch2 = 0;
  self->request(second, 5s, bus_stats_atom::value)
      .receive([&](bus_stats& s) { epoch2 = s.epoch; }, [](caf::error&) {});
  CHECK(epoch2 != epoch);
  sup::tree_node report;
  self->request(sup, 5s, sup::report_atom::value).receive([&](sup::tree_node& t) { report = t; },
                                                          [](caf::error&) {});
  CHECK(report.name == "bridge_sup");
  REQUIRE(report.children.size() == 1);
  CHECK(report.children[0].name == "bus");
  CHECK(report.children[0].restarts == 1);
  CHECK_FALSE(sup::shutdown(self, sup, 10s));
}
