// The filter chain end to end over the real units: order, first refusal wins, wire codes.
#include "gateway/filters/chain.hpp"

#include <doctest/doctest.h>

#include "gateway/filters/standard_filters.hpp"

using namespace superapp;
using namespace superapp::filters;
using namespace std::chrono_literals;

namespace {

const std::string issuer = "https://identity.superapp.test";
const std::string audience = "superapp-gateway";

struct counting_filter final : filter {
  int calls = 0;
  std::string_view name() const override { return "counting"; }
  filter_result apply(request_context&) override {
    ++calls;
    return std::nullopt;
  }
};

struct gateway_fixture {
  manual_clock clock;
  signing_key key = signing_key::generate("k1");
  jwt_key_store keys;
  jwt_verifier verifier{jwt_policy{issuer, audience}, keys, clock};
  rate_limiter per_source{rate_limit_config{100, 10.0}, clock};
  rate_limiter per_user{rate_limit_config{2, 1.0}, clock};
  rate_limiter per_device{rate_limit_config{100, 10.0}, clock};
  daily_quota quota{clock};
  route_table routes;
  node_lanes lanes{{10, 10}};
  session_lanes session{{1, 4}};

  trace_filter trace;
  rate_limit_filter source_limit{rate_key::source_address, per_source};
  authenticate_filter authenticate{verifier};
  rate_limit_filter user_limit{rate_key::user, per_user};
  rate_limit_filter device_limit{rate_key::device, per_device};
  quota_filter partner_quota{quota};
  route_filter route{routes, lanes};
  filter_chain chain{
      {&trace, &source_limit, &authenticate, &user_limit, &device_limit, &partner_quota, &route}};
  std::string token;

  gateway_fixture() {
    jwk_set set;
    std::string error;
    REQUIRE(set.add_pem("k1", key.public_pem(), error));
    keys.replace(std::move(set));
    routes.add_domain("banking.", "banking");
    routes.add_lane("banking.accounts.*", lane::query);
    claims c;
    c.subject = "user-1";
    c.device_id = "device-1";
    c.token_id = "t1";
    c.expires_at = clock.now() + 300s;
    token = sign_es256(c, token_issue{issuer, audience, clock.now()}, key);
  }

  request_context request(std::string_view op) {
    request_context ctx;
    ctx.op = op;
    ctx.bearer_token = token;
    ctx.source_address = "192.0.2.1";
    ctx.device_id = "device-1";
    ctx.session = &session;
    return ctx;
  }
};

}  // namespace

TEST_CASE_FIXTURE(gateway_fixture, "a good request passes every filter and comes out routed") {
  auto ctx = request("banking.accounts.list");
  ctx.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK_FALSE(chain.run(ctx));
  REQUIRE(ctx.verified);
  CHECK(ctx.verified->subject == "user-1");
  REQUIRE(ctx.target);
  CHECK(ctx.target->domain == "banking");
  CHECK(ctx.target->request_lane == lane::query);
  CHECK(ctx.trace.trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx.ticket);
  CHECK(lanes.in_flight(lane::query) == 1);
}

TEST_CASE_FIXTURE(gateway_fixture, "the chain stops at the first rejection") {
  counting_filter after;
  filter_chain short_chain{{&trace, &authenticate, &after}};
  auto ctx = request("banking.accounts.list");
  ctx.bearer_token.reset();
  auto refused = short_chain.run(ctx);
  REQUIRE(refused);
  CHECK(refused->describe().wire_code == "unauthorized");
  CHECK(after.calls == 0);
  ctx.bearer_token = token;
  CHECK_FALSE(short_chain.run(ctx));
  CHECK(after.calls == 1);
}

TEST_CASE_FIXTURE(gateway_fixture, "a bad token is unauthorized and the reason never holds it") {
  auto ctx = request("banking.accounts.list");
  auto forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  ctx.bearer_token = forged;
  auto refused = chain.run(ctx);
  REQUIRE(refused);
  CHECK(refused->code == platform_errc::unauthorized);
  CHECK(refused->log_reason.find(token.substr(0, 20)) == std::string_view::npos);
}

TEST_CASE_FIXTURE(gateway_fixture, "a token bound to another device is unauthorized") {
  auto ctx = request("banking.accounts.list");
  ctx.device_id = "device-2";
  auto refused = chain.run(ctx);
  REQUIRE(refused);
  CHECK(refused->log_reason == "device does not match token");
}

TEST_CASE_FIXTURE(gateway_fixture, "a user over the rate is refused with retry_after_ms") {
  for (int i = 0; i < 2; ++i) {
    auto ctx = request("banking.accounts.list");
    CHECK_FALSE(chain.run(ctx));
  }
  auto ctx = request("banking.accounts.list");
  auto refused = chain.run(ctx);
  REQUIRE(refused);
  CHECK(refused->describe().wire_code == "rate_limited");
  CHECK(refused->log_reason == "rate_limit_user");
  CHECK(refused->retry_after_ms == 1000);
}

TEST_CASE_FIXTURE(gateway_fixture, "a partner over its daily quota is refused until midnight") {
  quota.set_limit("partner-a", 1);
  auto first = request("banking.accounts.list");
  first.partner_credential = "partner-a";
  CHECK_FALSE(chain.run(first));
  auto second = request("banking.accounts.list");
  second.partner_credential = "partner-a";
  auto refused = chain.run(second);
  REQUIRE(refused);
  CHECK(refused->describe().wire_code == "quota_exceeded");
  CHECK(refused->retry_after_ms == 6'400'000);  // manual_clock starts 6400 s before midnight
  clock.advance(2s);                            // out of the per-user limit
  auto stranger = request("banking.accounts.list");
  stranger.partner_credential = "partner-z";
  CHECK(chain.run(stranger)->code == platform_errc::forbidden);
}

TEST_CASE_FIXTURE(gateway_fixture,
                  "routing refuses unknown ops, keyless transactions, full lanes") {
  // Each request a while after the last, so the per-user limit stays out of this test.
  auto run = [&](request_context& ctx) {
    clock.advance(10s);
    return chain.run(ctx);
  };
  auto unknown = request("rewards.redeem");
  CHECK(run(unknown)->describe().wire_code == "unknown_op");
  auto malformed = request("banking..x");
  CHECK(run(malformed)->code == platform_errc::bad_request);
  auto keyless = request("banking.transfer");
  CHECK(run(keyless)->describe().wire_code == "idempotency_key_required");
  auto keyed = request("banking.transfer");
  keyed.idempotency_key = "idem-1";
  CHECK_FALSE(run(keyed));
  auto second = request("banking.transfer");
  second.idempotency_key = "idem-2";
  auto full = run(second);  // the session allows one transaction in flight
  REQUIRE(full);
  CHECK(full->describe().wire_code == "overloaded");
  keyed.ticket.release();
  auto third = request("banking.transfer");
  third.idempotency_key = "idem-3";
  CHECK_FALSE(run(third));
  auto bad_key = request("banking.transfer");
  bad_key.idempotency_key = "has space";
  CHECK(run(bad_key)->code == platform_errc::bad_request);
}
