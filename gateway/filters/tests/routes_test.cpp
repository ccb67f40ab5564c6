// The route table: prefix lookup, lanes, loaders, and per-lane concurrency seats.
#include "gateway/filters/routes.hpp"

#include <doctest/doctest.h>

using namespace superapp::filters;

namespace {

route_table sample_table() {
  route_table t;
  t.add_domain("banking.", "banking");
  t.add_domain("system.", "system");
  t.add_domain("banking.cards.", "cards");
  t.add_lane("banking.accounts.*", lane::query);
  t.add_lane("banking.accounts.freeze", lane::transactional);
  t.add_lane("system.*", lane::query);
  return t;
}

}  // namespace

TEST_CASE("an op resolves to the domain of its longest prefix") {
  auto t = sample_table();
  CHECK(t.find("banking.transfer")->domain == "banking");
  CHECK(t.find("banking.cards.block")->domain == "cards");
  CHECK(t.find("banking.cardsx.block")->domain == "banking");
  CHECK(t.find("system.ping")->domain == "system");
}

TEST_CASE("an unknown or malformed op has no route") {
  auto t = sample_table();
  CHECK_FALSE(t.find("rewards.redeem"));
  CHECK_FALSE(t.find("banking"));  // the prefix is "banking.": the bare name is no op of it
  CHECK_FALSE(t.find("bankingx.transfer"));
  CHECK_FALSE(t.find("banking..transfer"));
  CHECK_FALSE(t.find("banking.transfer."));
  CHECK_FALSE(t.find("Banking.transfer"));
  CHECK_FALSE(t.find(""));
  CHECK_FALSE(t.find(std::string(max_op_bytes + 1, 'a')));
  CHECK(valid_op("banking.accounts.list_2"));
  CHECK_FALSE(valid_op("banking.accounts list"));
}

TEST_CASE("lanes: an exact op beats a prefix, a prefix beats the transactional default") {
  auto t = sample_table();
  CHECK(t.find("banking.transfer")->request_lane == lane::transactional);
  CHECK(t.find("banking.accounts.list")->request_lane == lane::query);
  CHECK(t.find("banking.accounts.freeze")->request_lane == lane::transactional);
  CHECK(t.find("system.ping")->request_lane == lane::query);
  route_table reads{lane::query};
  reads.add_domain("catalogue.", "ecommerce");
  CHECK(reads.find("catalogue.search")->request_lane == lane::query);
}

TEST_CASE("a route table loads from JSON") {
  std::string error;
  auto t = route_table::from_json(R"({
    "default_lane": "transactional",
    "domains": {"banking.": "banking", "system.": "system"},
    "lanes": {"banking.accounts.*": "query", "system.*": "query"}})",
                                  error);
  REQUIRE_MESSAGE(t, error);
  CHECK(t->find("banking.accounts.list")->request_lane == lane::query);
  CHECK(t->find("banking.transfer")->request_lane == lane::transactional);
  CHECK(t->find("system.ping")->domain == "system");
  CHECK_FALSE(route_table::from_json(R"({"domains": {"banking": "banking"}})", error));
  CHECK(error.find("banking") != std::string::npos);
  CHECK_FALSE(route_table::from_json(R"({"domains": {}, "lanes": {"x.*": "fast"}})", error));
  CHECK_FALSE(route_table::from_json("[]", error));
}

TEST_CASE("a route table loads from TOML") {
  std::string error;
  auto t = route_table::from_toml(R"(
default_lane = "query"
[domains]
"banking." = "banking"
[lanes]
"banking.transfer" = "transactional"
)",
                                  error);
  REQUIRE_MESSAGE(t, error);
  CHECK(t->find("banking.transfer")->request_lane == lane::transactional);
  CHECK(t->find("banking.balance")->request_lane == lane::query);
  CHECK_FALSE(route_table::from_toml("default_lane = \"slow\"\n[domains]\n", error));
  CHECK_FALSE(route_table::from_toml("[domains\n", error));
}

TEST_CASE("lane seats are limited per session and per node and given back by the ticket") {
  node_lanes node{{3, 100}};
  session_lanes first{{2, 10}};
  session_lanes second{{2, 10}};
  auto a = try_enter_lane(lane::transactional, first, node);
  auto b = try_enter_lane(lane::transactional, first, node);
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(try_enter_lane(lane::transactional, first, node));  // session full
  CHECK(try_enter_lane(lane::query, first, node));                // other lane unaffected
  auto c = try_enter_lane(lane::transactional, second, node);
  REQUIRE(c);
  CHECK_FALSE(try_enter_lane(lane::transactional, second, node));  // node full
  CHECK(node.in_flight(lane::transactional) == 3);
  a->release();
  CHECK(node.in_flight(lane::transactional) == 2);
  CHECK(first.in_flight(lane::transactional) == 1);
  {
    auto d = try_enter_lane(lane::transactional, second, node);
    CHECK(d);
    CHECK(node.in_flight(lane::transactional) == 3);
  }
  CHECK(node.in_flight(lane::transactional) == 2);
  lane_ticket moved = std::move(*b);
  CHECK(moved);
  CHECK_FALSE(*b);
  moved = lane_ticket{};
  CHECK(first.in_flight(lane::transactional) == 0);
  CHECK(node.in_flight(lane::transactional) == 1);
}
