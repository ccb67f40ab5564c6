// The webhook relay: a provider's delivery reaches the domain's front door as one sealed op with
// its raw body and headers, and the domain's verdict comes back as the HTTP status providers
// understand.
#include <memory>
#include <string>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/pipeline/webhook_relay.hpp"
#include "protocols/front_door_messages.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::gateway;

namespace {

// A kyc front door that takes deliveries signed "good" and refuses the rest; it keeps what it
// was sent.
caf::behavior kyc_door(caf::event_based_actor*, std::shared_ptr<op_request> seen) {
  return {[seen](op_atom, const op_request& r) -> caf::result<op_reply> {
    *seen = r;
    auto body = boost::json::parse(r.body_json).as_object();
    if (body.at("signature") != "good")
      return make_error(platform_errc::unauthorized);
    return op_reply{R"({"accepted":true})"};
  }};
}

struct fixture : test_coordinator_fixture<> {
  manual_clock clock;
  std::shared_ptr<gateway_services> services = std::make_shared<gateway_services>(
      "node-1", clock, ws::protocol_ops(), filters::jwt_policy{"i", "a"}, filters::route_table{},
      filters::rate_limit_config{5, 1.0}, filters::rate_limit_config{5, 1.0},
      filters::rate_limit_config{5, 1.0}, std::array<std::uint32_t, filters::lane_count>{8, 8},
      std::make_shared<sup::front_door_directory>());
  std::shared_ptr<op_request> seen = std::make_shared<op_request>();
  caf::actor relay;
  unsigned status = 0;
  std::string body;

  fixture() {
    auto started = webhook_relay_child(services).start(*self.ptr(), caf::message{});
    REQUIRE(started);
    relay = *started;
    run();
  }
  ~fixture() override {
    self->send_exit(relay, caf::exit_reason::kill);
    run();
  }

  void deliver(std::string signature) {
    relay_webhook(*services,
                  webhook_delivery{"kyc", "kyc.provider_callback", R"({"outcome":"verified"})",
                                   "1790000000", std::move(signature)},
                  [this](unsigned s, std::string b) {
                    status = s;
                    body = std::move(b);
                  });
    run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a delivery reaches the domain with its raw body and headers; 200 with its answer") {
  services->directory->publish("kyc", sys.spawn(kyc_door, seen), std::make_shared<sup::admission_gate>(4));
  deliver("good");
  CHECK(status == 200);
  CHECK(body == R"({"accepted":true})");
  CHECK(seen->op == "kyc.provider_callback");
  CHECK(seen->who.subject.empty());
  auto forwarded = boost::json::parse(seen->body_json).as_object();
  CHECK(forwarded.at("payload") == R"({"outcome":"verified"})");
  CHECK(forwarded.at("timestamp") == "1790000000");
}

TEST_CASE_FIXTURE(fixture, "the domain's refusal becomes the status a provider acts on") {
  services->directory->publish("kyc", sys.spawn(kyc_door, seen), std::make_shared<sup::admission_gate>(4));
  deliver("forged");
  CHECK(status == 401);
  CHECK(body.find("unauthorized") != std::string::npos);
  CHECK(webhook_status("webhook_signature_invalid") == 401);
  CHECK(webhook_status("webhook_stale") == 401);
  CHECK(webhook_status("not_found") == 404);
  CHECK(webhook_status("webhook_conflict") == 409);
  CHECK(webhook_status("bad_request") == 400);
  for (const char* busy : {"unavailable", "overloaded", "timeout", "shutting_down", "storage_failure"})
    CHECK(webhook_status(busy) == 503);
  CHECK(webhook_status("internal") == 500);
}

TEST_CASE_FIXTURE(fixture, "no front door, a full gate, or no relay: 503, so the provider retries") {
  deliver("good");
  CHECK(status == 503);
  CHECK(body.find("unavailable") != std::string::npos);
  auto full = std::make_shared<sup::admission_gate>(1);
  REQUIRE(full->try_acquire());  // the one credit is in use
  services->directory->publish("kyc", sys.spawn(kyc_door, seen), full);
  deliver("good");
  CHECK(status == 503);
  CHECK(body.find("overloaded") != std::string::npos);
  gateway_services idle{"node-1", clock, ws::protocol_ops(), filters::jwt_policy{"i", "a"},
                        filters::route_table{}, filters::rate_limit_config{5, 1.0},
                        filters::rate_limit_config{5, 1.0}, filters::rate_limit_config{5, 1.0},
                        std::array<std::uint32_t, filters::lane_count>{8, 8},
                        std::make_shared<sup::front_door_directory>()};
  relay_webhook(idle, webhook_delivery{}, [this](unsigned s, std::string) { status = s; });
  CHECK(status == 503);
}
