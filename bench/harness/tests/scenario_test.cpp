// Scenario files: a good one parses; each malformed key is one line naming the file and key.
#include "bench/harness/scenario.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

using namespace superapp::bench;

namespace {

const std::string good = R"(
[scenario]
name = "mixed-day"
description = "a day of mobile traffic"

[load]
mode = "open"
rate_per_s = 2000
ramp_s = 5
duration_s = 60
sessions = 500
source_addresses = 4
request_timeout_ms = 3000

[users]
count = 250
devices_per_user = 2

[[op]]
name = "banking.balance"
weight = 8
body = { account = "${user}-main" }

[[op]]
name = "banking.transfer"
weight = 2
idempotency_key = true
body = { from = "${user}-main", to = "bench-user-0-main", amount_minor = 100, currency = "EUR" }

[[dataset.per_user]]
op = "banking.open_account"
body = { account = "${user}-main", opening_balance_minor = 100000, currency = "EUR" }

[baseline]
kind = "ws_echo"
when = "after"
io_threads = 2
)";

// The one error line for `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  auto result = parse_scenario(text, "s.toml");
  if (auto* e = std::get_if<scenario_error>(&result)) return e->message;
  return "";
}

const std::string minimal_head = "[scenario]\nname = \"x\"\n";
const std::string minimal_load = "[load]\nmode = \"open\"\nrate_per_s = 10\nduration_s = 1\n";
const std::string minimal_op = "[[op]]\nname = \"system.ping\"\n";

}  // namespace

TEST_CASE("a complete scenario file parses into its load, users, op mix, data set and baseline") {
  auto result = parse_scenario(good, "good.toml");
  REQUIRE(std::holds_alternative<scenario>(result));
  const auto& s = std::get<scenario>(result);
  CHECK(s.name == "mixed-day");
  CHECK(s.mode == load_mode::open_loop);
  CHECK(s.rate_per_s == 2000);
  CHECK(s.ramp_s == 5);
  CHECK(s.duration_s == 60);
  CHECK(s.sessions == 500);
  CHECK(s.source_addresses == 4);
  CHECK(s.request_timeout_ms == 3000);
  CHECK(s.users == 250);
  CHECK(s.devices_per_user == 2);
  REQUIRE(s.ops.size() == 2);
  CHECK(s.ops[0].op == "banking.balance");
  CHECK(s.ops[0].weight == 8);
  CHECK(s.ops[0].body_json == R"({"account":"${user}-main"})");
  CHECK(s.ops[1].idempotency_key);
  REQUIRE(s.per_user_setup.size() == 1);
  CHECK(s.per_user_setup[0].op == "banking.open_account");
  REQUIRE(s.baseline.has_value());
  CHECK(s.baseline->kind == "ws_echo");
  CHECK_FALSE(s.baseline->before);
  CHECK_FALSE(s.chaos.has_value());
}

TEST_CASE("a data set's requests capture reply fields and may wait for one") {
  const auto text = minimal_head + minimal_load + minimal_op + R"(
[[dataset.per_user]]
op = "banking.link_bank"
body = { customer = "${user}" }
capture = { link_id = "link_id", first = "accounts.0.account_id" }

[[dataset.per_user]]
op = "banking.payment_status"
body = { payment_id = "${payment_id}" }
until = { path = "state", equals = "posted", within_s = 5 }
)";
  auto result = parse_scenario(text, "s.toml");
  REQUIRE(std::holds_alternative<scenario>(result));
  const auto& s = std::get<scenario>(result);
  REQUIRE(s.per_user_setup.size() == 2);
  using capture = std::vector<std::pair<std::string, std::string>>;
  CHECK(s.per_user_setup[0].capture ==  // by name: captures of one reply need no order
        capture{{"first", "accounts.0.account_id"}, {"link_id", "link_id"}});
  CHECK(s.per_user_setup[0].until_path.empty());
  CHECK(s.per_user_setup[1].until_path == "state");
  CHECK(s.per_user_setup[1].until_equals == "posted");
  CHECK(s.per_user_setup[1].until_within_s == 5);

  const auto head =
      minimal_head + minimal_load + minimal_op + "[[dataset.per_user]]\nop = \"a.b\"\n";
  CHECK(error_of(head + "capture = { x = 1 }\n").find("dataset.per_user[0].capture.x") !=
        std::string::npos);
  CHECK(error_of(head + "until = { path = \"state\" }\n").find("needs path and equals") !=
        std::string::npos);
  CHECK(error_of(head + "until = { path = \"s\", equals = \"p\", every = 1 }\n")
            .find("dataset.per_user[0].until.every") != std::string::npos);
}

TEST_CASE("each malformed key stops parsing with one line naming the file and the key") {
  struct bad_case {
    std::string text;
    std::string key;
    std::string says;
  };
  const auto head_load = minimal_head + minimal_load;
  const bad_case cases[] = {
      {"[scenario\nname = 1", "s.toml:1:", ""},
      {minimal_load + minimal_op, "scenario", "missing"},
      {"[scenario]\nname = 3\n" + minimal_load + minimal_op, "scenario.name", "expected a string, got 3"},
      {"[scenario]\nname = \"a b\"\n" + minimal_load + minimal_op, "scenario.name", "letters"},
      {"[scenario]\nname = \"x\"\ncolour = 1\n" + minimal_load + minimal_op, "scenario.colour", "unknown key"},
      {minimal_head + minimal_op, "load", "missing"},
      {minimal_head + "[load]\nmode = \"fast\"\nduration_s = 1\n" + minimal_op, "load.mode",
       "expected one of \"open\", \"closed\", got \"fast\""},
      {minimal_head + "[load]\nmode = \"open\"\nduration_s = 1\n" + minimal_op, "load.rate_per_s", "missing"},
      {minimal_head + "[load]\nmode = \"open\"\nrate_per_s = \"lots\"\nduration_s = 1\n" + minimal_op,
       "load.rate_per_s", "expected a number from 0.1 to 1000000, got \"lots\""},
      {minimal_head + "[load]\nmode = \"open\"\nrate_per_s = 5000000\nduration_s = 1\n" + minimal_op,
       "load.rate_per_s", "got 5000000"},
      {minimal_head + "[load]\nmode = \"closed\"\nrate_per_s = 5\nduration_s = 1\n" + minimal_op,
       "load.rate_per_s", "closed-loop run has no rate"},
      {minimal_head + "[load]\nmode = \"open\"\nrate_per_s = 5\n" + minimal_op, "load.duration_s", "missing"},
      {minimal_head + "[load]\nmode = \"open\"\nrate_per_s = 5\nduration_s = 100000\n" + minimal_op,
       "load.duration_s", "expected a number from 0.1 to 86400"},
      {minimal_head + "[load]\nmode = \"open\"\nrate_per_s = 5\nduration_s = 2\nramp_s = 3\n" + minimal_op,
       "load.ramp_s", "from 0 to 2"},
      {minimal_head + minimal_load + "sessions = 0\n" + minimal_op, "load.sessions",
       "expected an integer from 1 to 200000, got 0"},
      {minimal_head + minimal_load + "sessions = 1.5\n" + minimal_op, "load.sessions", "got 1.5"},
      {minimal_head + minimal_load + "source_addresses = 300\n" + minimal_op, "load.source_addresses", "1 to 254"},
      {minimal_head + minimal_load + "in_flight_per_session = 0\n" + minimal_op, "load.in_flight_per_session", "1 to 1024"},
      {minimal_head + minimal_load + "request_timeout_ms = -1\n" + minimal_op, "load.request_timeout_ms", "got -1"},
      {minimal_head + minimal_load + "target = \"ws://10.0.0.1:80/ws\"\n" + minimal_op, "load.target", "unknown key"},
      {head_load + "[users]\ncount = 0\n" + minimal_op, "users.count", "got 0"},
      {head_load + "[users]\ndevices_per_user = 99\n" + minimal_op, "users.devices_per_user", "1 to 16"},
      {head_load, "op", "missing"},
      {"op = 3\n" + head_load, "op", "expected [[op]] tables"},
      {head_load + "[[op]]\nweight = 1\n", "op[0].name", "missing"},
      {head_load + minimal_op + "[[op]]\nname = \"ping\"\n", "op[1].name", "expected an op name like"},
      {head_load + "[[op]]\nname = \"system.ping\"\nweight = 0\n", "op[0].weight", "got 0"},
      {head_load + "[[op]]\nname = \"system.ping\"\nbody = \"{}\"\n", "op[0].body", "expected a table"},
      {head_load + "[[op]]\nname = \"system.ping\"\nbody = { at = 1979-05-27 }\n", "op[0].body.at", "dates"},
      {head_load + "[[op]]\nname = \"system.ping\"\nidempotency_key = \"yes\"\n", "op[0].idempotency_key",
       "expected true or false"},
      {head_load + "[[op]]\nname = \"system.ping\"\nrate = 1\n", "op[0].rate", "unknown key"},
      {head_load + minimal_op + "[[dataset.per_user]]\nbody = {}\n", "dataset.per_user[0].op", "missing"},
      {head_load + minimal_op + "[dataset]\nusers = 3\n", "dataset.users", "unknown key"},
      {head_load + minimal_op + "[baseline]\nkind = \"nginx\"\n", "baseline.kind",
       "unknown baseline \"nginx\"; implemented: \"ws_echo\""},
      {head_load + minimal_op + "[baseline]\nkind = \"pgbench\"\n", "baseline.kind",
       "\"pgbench\" (pgbench with a transfer script, the ledger on PostgreSQL) is not implemented yet"},
      {head_load + minimal_op + "[baseline]\nkind = \"ws_echo\"\nwhen = \"during\"\n", "baseline.when", "\"before\""},
      {head_load + minimal_op + "[chaos]\ndomain = \"rewards\"\naction = \"unplug\"\n", "chaos.action", "crash_loop"},
      {head_load + minimal_op + "[chaos]\naction = \"crash_loop\"\n", "chaos.domain", "missing"},
      {head_load + minimal_op + "[extra]\n", "extra", "unknown key"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto line = error_of(c.text);
    REQUIRE_FALSE(line.empty());
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.rfind("scenario error: s.toml", 0) == 0);
    CHECK(line.find(c.key) != std::string::npos);
    CHECK(line.find(c.says) != std::string::npos);
  }
}

TEST_CASE("defaults fill what a minimal scenario leaves out") {
  auto result = parse_scenario(minimal_head + minimal_load + minimal_op, "m.toml");
  REQUIRE(std::holds_alternative<scenario>(result));
  const auto& s = std::get<scenario>(result);
  CHECK(s.sessions == 10);
  CHECK(s.users == 10);
  CHECK(s.ops[0].weight == 1);
  CHECK(s.ops[0].body_json == "{}");
  CHECK_FALSE(s.baseline.has_value());
}

TEST_CASE("a missing file is one line naming the file") {
  auto result = load_scenario("/nonexistent/x.toml");
  REQUIRE(std::holds_alternative<scenario_error>(result));
  CHECK(std::get<scenario_error>(result).message.find("/nonexistent/x.toml: cannot read") !=
        std::string::npos);
}

TEST_CASE("every scenario shipped in bench/scenarios parses") {
  const auto dir = std::filesystem::path{SUPERAPP_SOURCE_DIR} / "bench" / "scenarios";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator{dir}) {
    if (entry.path().extension() != ".toml") continue;
    CAPTURE(entry.path().string());
    auto result = load_scenario(entry.path().string());
    if (auto* e = std::get_if<scenario_error>(&result)) FAIL(e->message);
    ++count;
  }
  CHECK(count >= 6);
}
