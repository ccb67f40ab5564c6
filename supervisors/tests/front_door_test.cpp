// Admission at front doors, domain trees on a real SQLite file, and fault isolation between
// two domain trees on a real, multi-threaded actor system.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "tests/support/temp_dir.hpp"
#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/chaos.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/supervisor.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::sup;
using namespace std::chrono_literals;

namespace {

using hold_atom = caf::atom_constant<caf::atom("hold")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

// A front door that answers `hold` only when told to: requests pile up at it. (It takes an
// argument because CAF 0.17's init_fun_factory binds a reference to a null tuple when a function
// actor is spawned with none, which UBSan rightly reports.)
caf::behavior slow_front_door(caf::event_based_actor* self, std::string /*name*/) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [self, held](hold_atom) {
        auto rp = self->make_response_promise();
        held->push_back(rp);
        return rp;
      },
      [held](release_atom) {
        for (auto& rp : *held) rp.deliver(std::string{"done"});
        held->clear();
      },
  };
}

// A client that sends `n` admitted requests and counts what came back.
struct outcome_counts {
  int ok = 0;
  int overloaded = 0;
  int other = 0;
};

caf::behavior admitted_client(caf::event_based_actor* self, admission_gate_ptr gate,
                              caf::actor door, int n, std::shared_ptr<outcome_counts> counts) {
  for (int i = 0; i < n; ++i)
    admitted_request(
        self, gate, door, 5s, [counts](std::string&) { ++counts->ok; },
        [counts](caf::error& err) {
          if (err == platform_errc::overloaded)
            ++counts->overloaded;
          else
            ++counts->other;
        },
        hold_atom::value);
  return {[](caf::unit_t) {}};
}

using superapp::testing::temp_dir;

domain_settings sqlite_settings(const std::filesystem::path& dir) {
  domain_settings s;
  s.database.engine_kind = persistence::engine::sqlite;
  s.database.sqlite_directory = dir.string();
  s.database.reader_connections = 1;
  s.directory = std::make_shared<front_door_directory>();
  return s;
}

}  // namespace

TEST_CASE("an admission gate admits up to its credits and counts refusals") {
  admission_gate gate{2};
  CHECK(gate.try_acquire());
  CHECK(gate.try_acquire());
  CHECK_FALSE(gate.try_acquire());
  CHECK(gate.rejected() == 1);
  gate.release();
  CHECK(gate.try_acquire());
  CHECK(gate.in_flight() == 2);
  CHECK(gate.admitted() == 3);
}

TEST_CASE_FIXTURE(test_coordinator_fixture<>,
                  "a request beyond the front door's credits is refused at once, not queued") {
  metrics::registry registry;
  admission_gate::gate_metrics series{
      registry.add_counter("superapp_front_door_requests_total", "admitted"),
      registry.add_counter("superapp_front_door_rejected_total", "rejected"),
      registry.add_histogram("superapp_front_door_request_duration_seconds", "latency")};
  auto gate = std::make_shared<admission_gate>(3, series);
  auto door = sys.spawn(slow_front_door, std::string{"slow"});
  auto counts = std::make_shared<outcome_counts>();
  auto client = sys.spawn(admitted_client, gate, door, 5, counts);
  consume_messages();
  CHECK(counts->overloaded == 2);
  CHECK(counts->ok == 0);
  CHECK(gate->in_flight() == 3);
  self->send(door, release_atom::value);
  consume_messages();
  CHECK(counts->ok == 3);
  CHECK(gate->in_flight() == 0);
  CHECK(series.admitted.value() == 3);
  CHECK(series.rejected.value() == 2);
  CHECK(series.latency.count() == 3);
  // The refusals are counted by wire code for the operators' dashboard.
  auto errors = gate->errors();
  CHECK(errors.size() == 1);
  CHECK(errors["overloaded"] == 2);
  self->send_exit(client, caf::exit_reason::kill);
  self->send_exit(door, caf::exit_reason::kill);
  run();
}

// CAF 0.17 does not fail a request whose receiver dies holding its promise: the timeout does.
TEST_CASE_FIXTURE(test_coordinator_fixture<>,
                  "a credit comes back when the front door dies with the request in it") {
  auto gate = std::make_shared<admission_gate>(1);
  auto door = sys.spawn(slow_front_door, std::string{"slow"});
  auto counts = std::make_shared<outcome_counts>();
  auto client = sys.spawn(admitted_client, gate, door, 1, counts);
  consume_messages();
  CHECK(gate->in_flight() == 1);
  self->send_exit(door, caf::exit_reason::kill);
  run();
  CHECK(counts->other == 1);
  CHECK(gate->in_flight() == 0);
  self->send_exit(client, caf::exit_reason::kill);
  run();
}

TEST_CASE("a domain tree opens its database, migrates it and answers at its front door") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto settings = sqlite_settings(dir.path);
  domain_definition def;
  def.name = "banking";
  def.migrations = {{1, "accounts", "CREATE TABLE accounts (id INTEGER PRIMARY KEY)"}};
  def.ops["banking.hello"] = [](caf::event_based_actor*, const domain_context_ptr&,
                                 op_request&) -> caf::result<op_reply> {
    return op_reply{R"({"hello":true})"};
  };
  auto sup = spawn_supervisor(sys, domain_supervisor(def, settings));
  REQUIRE_FALSE(await_ready(self, sup, 10s));
  CHECK(std::filesystem::exists(dir.path / "banking.db"));
  auto door = settings.directory->lookup("banking");
  REQUIRE(door);
  std::string answer;
  self->request(door->front_door, 5s, ping_atom::value)
      .receive([&](std::string& name) { answer = name; }, [](caf::error&) {});
  CHECK(answer == "banking");
  auto call = [&](std::string op) {
    caf::expected<op_reply> reply = caf::make_error(caf::sec::request_timeout);
    self->request(door->front_door, 5s, op_atom::value, op_request{op, "{}", "", "", {}, 0, ""})
        .receive([&](op_reply& r) { reply = std::move(r); },
                 [&](caf::error& err) { reply = std::move(err); });
    return reply;
  };
  auto pong = call("banking.ping");
  REQUIRE(pong);
  CHECK(pong->body_json == R"({"pong":true,"domain":"banking"})");
  auto own = call("banking.hello");
  REQUIRE(own);
  CHECK(own->body_json == R"({"hello":true})");
  auto unknown = call("banking.nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == platform_errc::unknown_op);
  tree_node report;
  self->request(sup, 5s, report_atom::value).receive([&](tree_node& t) { report = t; },
                                                      [](caf::error&) {});
  REQUIRE(report.children.size() == 2);
  CHECK(report.strategy == "rest_for_one");
  CHECK(report.children[0].name == "store");
  CHECK(report.children[1].name == "front_door");
  CHECK(report.children[1].mailbox_depth == 0);
  CHECK_FALSE(shutdown(self, sup, 10s));
}

TEST_CASE("an operator's chaos makes a front door fail its ops, or answer them late, for a time") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto settings = sqlite_settings(dir.path);
  settings.chaos = std::make_shared<chaos_board>();
  domain_definition def;
  def.name = "banking";
  def.ops["banking.hello"] = [](caf::event_based_actor*, const domain_context_ptr&,
                                 op_request& r) -> caf::result<op_reply> {
    return op_reply{r.body_json};
  };
  auto sup = spawn_supervisor(sys, domain_supervisor(def, settings));
  REQUIRE_FALSE(await_ready(self, sup, 10s));
  auto door = settings.directory->lookup("banking");
  REQUIRE(door);
  auto call = [&](std::string body) {
    caf::expected<op_reply> reply = caf::make_error(caf::sec::request_timeout);
    self->request(door->front_door, 5s, op_atom::value,
                  op_request{"banking.hello", std::move(body), "", "", {}, 0, ""})
        .receive([&](op_reply& r) { reply = std::move(r); },
                 [&](caf::error& err) { reply = std::move(err); });
    return reply;
  };
  auto chaos = settings.chaos->for_domain("banking");
  chaos->set({chaos_mode::fail, 0, wall_clock_ms() + 60'000});
  auto failed = call(R"({"n":1})");
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == platform_errc::unavailable);
  // Delayed ops are answered late, to their own callers, each with its own answer.
  chaos->set({chaos_mode::delay, 300, wall_clock_ms() + 60'000});
  auto started = std::chrono::steady_clock::now();
  auto late = call(R"({"n":2})");
  REQUIRE(late);
  CHECK(late->body_json == R"({"n":2})");
  CHECK(std::chrono::steady_clock::now() - started >= 300ms);
  // Expired chaos is no chaos.
  chaos->set({chaos_mode::fail, 0, wall_clock_ms() - 1});
  auto normal = call(R"({"n":3})");
  REQUIRE(normal);
  CHECK(normal->body_json == R"({"n":3})");
  CHECK_FALSE(shutdown(self, sup, 10s));
}

TEST_CASE("a front door with the node's key takes only ops under the gateway's valid seal") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  superapp::system_clock clock;
  auto settings = sqlite_settings(dir.path);
  const auto key = std::make_shared<const caller_seal>(caller_seal::generate(clock));
  settings.caller_seal = key;
  domain_definition def;
  def.name = "banking";
  def.ops["banking.whoami"] = [](caf::event_based_actor*, const domain_context_ptr&,
                                  op_request& r) -> caf::result<op_reply> {
    return op_reply{"{\"subject\":\"" + r.who.subject + "\"}"};
  };
  auto sup = spawn_supervisor(sys, domain_supervisor(def, settings));
  REQUIRE_FALSE(await_ready(self, sup, 10s));
  auto door = settings.directory->lookup("banking");
  REQUIRE(door);
  auto call = [&](const op_request& request) {
    caf::expected<op_reply> reply = caf::make_error(caf::sec::request_timeout);
    self->request(door->front_door, 5s, op_atom::value, request)
        .receive([&](op_reply& r) { reply = std::move(r); },
                 [&](caf::error& err) { reply = std::move(err); });
    return reply;
  };
  op_request request{"banking.whoami", "{}", "", "", {"user-1", "", {"banking:read"}}, 0, ""};
  auto unsealed = call(request);
  REQUIRE_FALSE(unsealed);
  CHECK(unsealed.error() == platform_errc::unauthorized);
  key->seal(request);
  auto sealed = call(request);
  REQUIRE(sealed);
  CHECK(sealed->body_json == R"({"subject":"user-1"})");
  // Another caller under the first caller's seal: refused.
  request.who.subject = "user-2";
  auto impostor = call(request);
  REQUIRE_FALSE(impostor);
  CHECK(impostor.error() == platform_errc::unauthorized);
  // A seal from another deployment's key: refused.
  auto foreign = caller_seal::generate(clock);
  foreign.seal(request);
  CHECK_FALSE(call(request));
  CHECK_FALSE(shutdown(self, sup, 10s));
}

TEST_CASE("a database newer than the code stops the domain from starting") {
  temp_dir dir;
  auto settings = sqlite_settings(dir.path);
  {
    auto db = persistence::open_database(settings.database, "kyc");
    REQUIRE(db);
    auto conn = (*db)->connect(persistence::connection_role::writer);
    REQUIRE(conn);
    REQUIRE(persistence::apply_migrations(
        **conn, {{1, "one", "CREATE TABLE a (x INTEGER)"}, {2, "two", "CREATE TABLE b (x INTEGER)"}}));
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  domain_definition def;
  def.name = "kyc";
  def.migrations = {{1, "one", "CREATE TABLE a (x INTEGER)"}};
  auto sup = spawn_supervisor(sys, domain_supervisor(def, settings));
  auto err = await_ready(self, sup, 10s);
  CHECK(err == platform_errc::start_failed);
  CHECK_FALSE(settings.directory->lookup("kyc"));
}

// The isolation promise: one domain's crash loop stays in its subtree. The healthy domain
// answers every request, is never restarted, and the root survives.
TEST_CASE("a crash loop contained by its domain supervisor never touches another domain") {
  temp_dir dir;
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto settings = sqlite_settings(dir.path);
  auto rewards_settings = settings;
  rewards_settings.intensity = {100'000, 1s};
  rewards_settings.backoff = {1ms, 4ms, 0};
  domain_definition banking;
  banking.name = "banking";
  domain_definition rewards;
  rewards.name = "rewards";
  domain_worker crasher;
  crasher.spec = crash_loop_child("campaign", 2ms);
  crasher.start = [proto = crasher.spec](caf::local_actor& parent, const caf::message& args,
                                         domain_context_ptr) { return proto.start(parent, args); };
  rewards.workers.push_back(crasher);
  auto root_spec = node_root_supervisor(
      "root", {domain_supervisor(banking, settings), domain_supervisor(rewards, rewards_settings)});
  auto root = spawn_supervisor(sys, root_spec);
  REQUIRE_FALSE(await_ready(self, root, 10s));
  auto banking_door = settings.directory->lookup("banking");
  REQUIRE(banking_door);

  constexpr int requests = 3000;
  int ok = 0;
  for (int i = 0; i < requests; ++i)
    self->request(banking_door->front_door, 5s, ping_atom::value)
        .receive([&](std::string&) { ++ok; }, [](caf::error&) {});
  CHECK(ok == requests);

  tree_node report;
  self->request(root, 5s, report_atom::value).receive([&](tree_node& t) { report = t; },
                                                      [](caf::error&) {});
  REQUIRE(report.children.size() == 2);
  auto& banking_node = report.children[0];
  auto& rewards_node = report.children[1];
  CHECK(banking_node.restarts == 0);
  CHECK(banking_node.state == "running");
  for (auto& c : banking_node.children) CHECK(c.restarts == 0);
  // The crashes were counted inside the rewards subtree; the root never had to act.
  CHECK(rewards_node.restarts == 0);
  REQUIRE(rewards_node.children.size() == 3);
  CHECK(rewards_node.children[2].name == "campaign");
  CHECK(rewards_node.children[2].restarts > 0);
  CHECK(report.intensity_used == 0);
  // The front door the test used at the start is still the one in the directory.
  CHECK(settings.directory->lookup("banking")->front_door == banking_door->front_door);
  CHECK_FALSE(shutdown(self, root, 10s));
}
