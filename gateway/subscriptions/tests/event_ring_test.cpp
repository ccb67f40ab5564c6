// The event ring and topic rules, alone: numbering, bounded memory, replay or resync.
#include <doctest/doctest.h>

#include "gateway/subscriptions/event_ring.hpp"

using superapp::gateway::event_ring;
using superapp::gateway::topic_matches;
using superapp::gateway::valid_topic;

TEST_CASE("pushed events are numbered from 1 and framed as protocol events") {
  event_ring ring{8, 4096};
  CHECK(ring.push("banking.transfer.completed", R"({"id":"t-1"})") ==
        R"({"type":"event","topic":"banking.transfer.completed","seq":1,"body":{"id":"t-1"}})");
  ring.push("rewards.coupon.awarded", "{}");
  CHECK(ring.last_seq() == 2);
}

TEST_CASE("a client that saw seq N gets exactly the events after N, in order") {
  event_ring ring{8, 4096};
  for (int i = 0; i < 5; ++i) ring.push("t.e", "{}");
  auto missed = ring.since(2);
  REQUIRE(missed.has_value());
  REQUIRE(missed->size() == 3);
  CHECK(missed->front().find("\"seq\":3") != std::string::npos);
  CHECK(missed->back().find("\"seq\":5") != std::string::npos);
  auto none = ring.since(5);
  REQUIRE(none.has_value());
  CHECK(none->empty());
}

TEST_CASE("a gap older than the ring, or a seq never sent, means resync") {
  event_ring ring{3, 4096};
  for (int i = 0; i < 5; ++i) ring.push("t.e", "{}");  // keeps 3, 4, 5
  CHECK(ring.kept_events() == 3);
  CHECK_FALSE(ring.since(1).has_value());  // 2 is gone
  CHECK(ring.since(2).has_value());
  CHECK_FALSE(ring.since(6).has_value());  // ahead of anything sent
}

TEST_CASE("the ring is bounded by bytes as well as by count") {
  event_ring ring{1000, 300};
  const std::string body = R"({"text":")" + std::string(100, 'x') + "\"}";
  for (int i = 0; i < 50; ++i) ring.push("t.e", body);
  CHECK(ring.kept_bytes() <= 300);
  CHECK(ring.kept_events() >= 1);
  CHECK(ring.last_seq() == 50);
}

TEST_CASE("topics are event types or dotted prefixes ending in .*") {
  CHECK(valid_topic("banking.transfer.completed"));
  CHECK(valid_topic("banking.*"));
  CHECK(valid_topic("rewards.coupon_2.awarded"));
  CHECK_FALSE(valid_topic(""));
  CHECK_FALSE(valid_topic("*"));
  CHECK_FALSE(valid_topic("banking."));
  CHECK_FALSE(valid_topic("banking..x"));
  CHECK_FALSE(valid_topic("Banking.x"));
  CHECK_FALSE(valid_topic("banking.*.x"));
  CHECK_FALSE(valid_topic("1banking"));
  CHECK_FALSE(valid_topic(std::string(200, 'a')));
  CHECK(topic_matches("banking.*", "banking.transfer.completed"));
  CHECK_FALSE(topic_matches("banking.*", "bankingx.transfer"));
  CHECK_FALSE(topic_matches("banking.*", "banking"));
  CHECK(topic_matches("banking.transfer.completed", "banking.transfer.completed"));
  CHECK_FALSE(topic_matches("banking.transfer", "banking.transfer.completed"));
}
