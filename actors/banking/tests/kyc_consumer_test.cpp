// Banking's KYC limits on a node that runs Kafka, against the REAL broker (ctest fixture
// `kafka`): kyc_limits is fed by a consumer group of its own inside banking's tree, which
// commits an event's offset only after banking recorded the level (ADR 0012). A level kyc
// publishes while banking is down is recorded when banking starts again.
#include <doctest/doctest.h>

#include <thread>

#include "actors/banking/tests/banking_node.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/kafka/kafka_bridge.hpp"
#include "tests/support/kafka_broker.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace superapp::testing;
using namespace std::chrono_literals;

namespace {

kafka::kafka_settings broker() {
  kafka::kafka_settings s;
  s.bootstrap_servers = kafka_bootstrap();
  s.message_timeout = 20s;
  return s;
}

// What the node does on Kafka (app/node_runtime.cpp): the consumer as banking's last worker.
std::function<sup::domain_worker(std::function<caf::actor()>)> consumer_in_banking(
    std::string group) {
  return [group](std::function<caf::actor()> handler) {
    kafka::consumer_settings cs;
    cs.kafka = broker();
    cs.group = group;
    cs.topics = {events::topic_for_domain("kyc")};
    cs.handler = std::move(handler);
    cs.clock = std::make_shared<system_clock>();
    return kafka::consumer_worker(std::move(cs));
  };
}

events::event verified(const superapp::clock& clock, const caller& who, std::int64_t seq,
                       std::int64_t per_tx) {
  json::object body{{"check_id", "kyc-" + std::to_string(seq)},
                    {"level", "standard"},
                    {"level_now", "standard"},
                    {"limits", json::array{json::object{{"currency", "GBP"},
                                                        {"per_transaction_minor", per_tx},
                                                        {"per_day_minor", per_tx * 10},
                                                        {"balance_minor", per_tx * 100}}}}};
  auto e =
      events::make_event(clock, "kyc.check.verified", 1, who.subject, seq, json::serialize(body));
  e.audience = {who.subject};
  return e;
}

}  // namespace

TEST_CASE(
    "on Kafka, kyc levels reach banking through its own consumer group, also those sent while it "
    "was down") {
  // Users of this run only: the topic is shared with other runs on the same broker.
  const auto run = std::to_string(::getpid());
  const caller ann{"u-ann-" + run, "d-ann", {"user"}};
  const caller ben{"u-ben-" + run, "d-ben", {"user"}};
  const caller cat{"u-cat-" + run, "d-cat", {"user"}};
  banking_node n{[&](banking_settings& s) {
    s.kyc_consumer = consumer_in_banking("banking.kyc_limits.test-" + run);
    s.ledger.default_limits["GBP"] = {1'000, 1'000'000, 1'000'000};
  }};
  for (const auto& who : {ann, ben, cat}) REQUIRE(n.open(who).ok);
  n.fund(ann, 100'000);
  n.fund(ben, 100'000);
  CHECK(n.transfer(ann, cat, 5'000, "k1").code == "limit_per_transaction");

  // kyc's relay publishes to Kafka through the producer, as on a node on Kafka.
  auto kafka_dir = std::make_shared<bus::bus_directory>();
  auto producers = sup::spawn_supervisor(
      *n.sys, bus::bridge_supervisor(bus::bus_config{}, std::make_shared<bus::bus_directory>(),
                                     {kafka::producer_child(broker(), kafka_dir)}));
  caf::scoped_actor self{*n.sys};
  REQUIRE_FALSE(sup::await_ready(self, producers, 20s));
  auto publish = [&](const events::event& e) {
    self->request(kafka_dir->current(), 30s, bus::bus_publish_atom::value,
                  events::topic_for_domain("kyc"), e)
        .receive([](const bus::bus_published&) {},
                 [](caf::error& err) { FAIL("publish failed: " << caf::to_string(err)); });
  };
  auto eventually_ok = [&](const caller& who, const std::string& key) {
    for (int i = 0; i < 300; ++i) {  // the group's first join takes seconds
      if (n.transfer(who, cat, 5'000, key).ok) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  publish(verified(*n.clock, ann, 1, 10'000));
  CHECK(eventually_ok(ann, "k2"));

  // Banking is down (its consumer with it) while kyc verifies ben: the event waits in Kafka,
  // uncommitted by banking's group, and is recorded once banking runs again.
  n.stop();
  publish(verified(*n.clock, ben, 1, 10'000));
  n.start();
  CHECK(n.transfer(ann, cat, 5'000, "k3").ok);  // recorded before: the database kept it
  CHECK(eventually_ok(ben, "k4"));
  auto rows = n.reader()->execute(
      {"SELECT COUNT(*) FROM event_inbox WHERE consumer = 'banking.kyc_limits'", {}});
  REQUIRE(rows);
  CHECK(persistence::int_at(rows->rows[0], 0) == 2);  // each level once
  CHECK(n.books() == 0);
  n.stop();
  CHECK_FALSE(sup::shutdown(self, producers, 20s));
}
