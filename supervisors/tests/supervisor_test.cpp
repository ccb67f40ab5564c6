// Deterministic tests of the supervisor's OTP rules, run one message at a time on CAF's
// test_coordinator with virtual time.
#include <map>
#include <memory>
#include <optional>
#include <deque>
#include <array>
#include <random>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "protocols/error_catalogue.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/supervisor.hpp"
#include "tests/support/caf_test_bridge.hpp"

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& xs) {
    std::string out = "{";
    for (auto& x : xs) out += (out.size() > 1 ? ", " : "") + x;
    return String{(out + "}").c_str()};
  }
};
}  // namespace doctest

using namespace superapp;
using namespace superapp::sup;
using namespace std::chrono_literals;

namespace {

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;
using name_atom = caf::atom_constant<caf::atom("name")>;

using event_log = std::shared_ptr<std::vector<std::string>>;

// A worker that crashes or ends on request and writes its starts and stops to a shared log.
caf::behavior test_worker(caf::event_based_actor* self, event_log log, std::string id,
                          bool ignores_shutdown) {
  self->attach_functor([log, id](const caf::error&) { log->push_back("stop:" + id); });
  if (ignores_shutdown) self->set_exit_handler([](caf::exit_msg&) {});
  return {
      [self](crash_atom) { self->quit(caf::make_error(caf::sec::runtime_error)); },
      [self](finish_atom) { self->quit(); },
      [self](probe_atom) {
        return worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
      [id](name_atom) { return id; },
  };
}

child_spec worker(const std::string& id, event_log log,
                  restart_type restart = restart_type::permanent, bool ignores_shutdown = false) {
  child_spec c;
  c.id = id;
  c.restart = restart;
  c.answers_probe = true;
  c.shutdown_timeout = 1s;
  c.start = [log, id, ignores_shutdown](caf::local_actor& parent,
                                        const caf::message& args) -> caf::expected<caf::actor> {
    auto name = id;
    if (!args.empty() && args.match_element<std::string>(0)) name = args.get_as<std::string>(0);
    log->push_back("start:" + name);
    return parent.spawn(test_worker, log, name, ignores_shutdown);
  };
  return c;
}

// The same worker, spawned so that it counts the messages it handles.
child_spec counted_worker(const std::string& id, event_log log) {
  auto c = worker(id, log);
  c.start = [log, id](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    log->push_back("start:" + id);
    return spawn_counted(parent, test_worker, log, id, false);
  };
  return c;
}

child_spec failing_worker(const std::string& id, event_log log) {
  child_spec c;
  c.id = id;
  c.start = [log, id](caf::local_actor&, const caf::message&) -> caf::expected<caf::actor> {
    log->push_back("start-failed:" + id);
    return make_error(platform_errc::start_failed);
  };
  return c;
}

supervisor_spec sup_spec(std::string name, strategy s, std::vector<child_spec> children) {
  supervisor_spec spec;
  spec.name = std::move(name);
  spec.strategy_kind = s;
  spec.intensity = {10, 10s};
  spec.children = std::move(children);
  spec.jitter_seed = 42;
  return spec;
}

struct fixture : test_coordinator_fixture<> {
  event_log log = std::make_shared<std::vector<std::string>>();

  // Sends a request and delivers messages (no timers) until it is answered.
  template <class T, class... Ts>
  caf::expected<T> ask(const caf::actor& dest, Ts... xs) {
    auto handle = self->request(dest, caf::infinite, std::move(xs)...);
    consume_messages();
    caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
    if constexpr (std::is_same_v<T, caf::unit_t>)
      handle.receive([&] { result = caf::unit; },
                     [&](caf::error& err) { result = std::move(err); });
    else
      handle.receive([&](T& x) { result = std::move(x); },
                     [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::actor child(const caf::actor& sup, const std::string& id) {
    auto found = ask<caf::actor>(sup, which_child_atom::value, id);
    return found ? *found : caf::actor{};
  }

  caf::actor_id child_id(const caf::actor& sup, const std::string& id) {
    auto c = child(sup, id);
    return c ? c.id() : 0;
  }

  caf::actor start(supervisor_spec spec) {
    auto sup = spawn_supervisor(sys, std::move(spec));
    consume_messages();
    return sup;
  }

  std::vector<std::string> take_log() {
    auto copy = *log;
    log->clear();
    return copy;
  }

  // The exit reason of an actor this test monitors, if it is gone.
  std::optional<caf::error> exit_reason_of(const caf::actor& who) {
    std::optional<caf::error> reason;
    self->receive([&](caf::down_msg& dm) {
      if (dm.source == who.address()) reason = dm.reason;
    },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return reason;
  }
};

using strings = std::vector<std::string>;

}  // namespace

TEST_CASE_FIXTURE(fixture, "children start in order and the supervisor reports ready") {
  auto sup = start(sup_spec("domain", strategy::one_for_one,
                            {worker("a", log), worker("b", log), worker("c", log)}));
  CHECK(ask<ready_atom>(sup, ready_atom::value));
  CHECK(take_log() == strings{"start:a", "start:b", "start:c"});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "one_for_one restarts only the crashed child") {
  auto sup = start(sup_spec("domain", strategy::one_for_one,
                            {worker("a", log), worker("b", log), worker("c", log)}));
  auto a = child_id(sup, "a"), b = child_id(sup, "b"), c = child_id(sup, "c");
  take_log();
  self->send(child(sup, "b"), crash_atom::value);
  consume_messages();
  CHECK(take_log() == strings{"stop:b", "start:b"});
  CHECK(child_id(sup, "a") == a);
  CHECK(child_id(sup, "b") != b);
  CHECK(child_id(sup, "b") != 0);
  CHECK(child_id(sup, "c") == c);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "one_for_all stops the others in reverse order and restarts all in order") {
  auto sup = start(sup_spec("domain", strategy::one_for_all,
                            {worker("a", log), worker("b", log), worker("c", log)}));
  auto a = child_id(sup, "a"), c = child_id(sup, "c");
  take_log();
  self->send(child(sup, "b"), crash_atom::value);
  consume_messages();
  CHECK(take_log() == strings{"stop:b", "stop:c", "stop:a", "start:a", "start:b", "start:c"});
  CHECK(child_id(sup, "a") != a);
  CHECK(child_id(sup, "c") != c);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "rest_for_one restarts the crashed child and those started after it") {
  auto sup = start(sup_spec("domain", strategy::rest_for_one,
                            {worker("a", log), worker("b", log), worker("c", log),
                             worker("d", log)}));
  auto a = child_id(sup, "a");
  take_log();
  self->send(child(sup, "b"), crash_atom::value);
  consume_messages();
  CHECK(take_log() == strings{"stop:b", "stop:d", "stop:c", "start:b", "start:c", "start:d"});
  CHECK(child_id(sup, "a") == a);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "restart types decide whether an ended child comes back") {
  auto sup = start(sup_spec("domain", strategy::one_for_one,
                            {worker("perm", log, restart_type::permanent),
                             worker("trans", log, restart_type::transient),
                             worker("temp", log, restart_type::temporary)}));
  take_log();
  SUBCASE("a permanent child is restarted even after a normal exit") {
    self->send(child(sup, "perm"), finish_atom::value);
    consume_messages();
    CHECK(take_log() == strings{"stop:perm", "start:perm"});
  }
  SUBCASE("a transient child is restarted after a crash") {
    self->send(child(sup, "trans"), crash_atom::value);
    consume_messages();
    CHECK(take_log() == strings{"stop:trans", "start:trans"});
  }
  SUBCASE("a transient child that ends normally stays down") {
    self->send(child(sup, "trans"), finish_atom::value);
    consume_messages();
    CHECK(take_log() == strings{"stop:trans"});
    CHECK_FALSE(child(sup, "trans"));
  }
  SUBCASE("a temporary child is never restarted and leaves the report") {
    self->send(child(sup, "temp"), crash_atom::value);
    consume_messages();
    CHECK(take_log() == strings{"stop:temp"});
    auto report = ask<tree_node>(sup, report_atom::value);
    REQUIRE(report);
    CHECK(report->children.size() == 2);
  }
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "more restarts than the intensity allows make the supervisor give up") {
  auto spec = sup_spec("domain", strategy::one_for_one, {worker("a", log), worker("b", log)});
  spec.intensity = {2, 5s};
  auto sup = start(spec);
  self->monitor(sup);
  for (int i = 0; i < 2; ++i) {
    self->send(child(sup, "a"), crash_atom::value);
    consume_messages();
    REQUIRE(child(sup, "a"));
  }
  take_log();
  self->send(child(sup, "a"), crash_atom::value);
  run();
  // The third crash in the window: children are stopped in reverse order, then it exits.
  CHECK(take_log() == strings{"stop:a", "stop:b"});
  auto reason = exit_reason_of(sup);
  REQUIRE(reason);
  CHECK(*reason == platform_errc::restart_intensity_exceeded);
}

TEST_CASE_FIXTURE(fixture, "restarts spread over more than the period never exhaust the intensity") {
  auto spec = sup_spec("domain", strategy::one_for_one, {worker("a", log)});
  spec.intensity = {2, 5s};
  auto sup = start(spec);
  for (int i = 0; i < 10; ++i) {
    self->send(child(sup, "a"), crash_atom::value);
    consume_messages();
    REQUIRE(child(sup, "a"));
    advance_time(3s);
  }
  auto report = ask<tree_node>(sup, report_atom::value);
  REQUIRE(report);
  CHECK(report->children.at(0).restarts == 10);
  CHECK(report->intensity_used == 1);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "a giving-up supervisor escalates and its parent restarts the subtree") {
  auto inner = sup_spec("banking", strategy::one_for_one, {worker("payments", log)});
  inner.intensity = {1, 5s};
  auto other = sup_spec("rewards", strategy::one_for_one, {worker("campaign", log)});
  auto root = start(sup_spec("root", strategy::one_for_one,
                             {supervisor_child(inner), supervisor_child(other)}));
  CHECK(ask<ready_atom>(root, ready_atom::value));
  auto rewards_before = child_id(root, "rewards");
  auto banking_before = child_id(root, "banking");
  auto banking = child(root, "banking");
  self->send(child(banking, "payments"), crash_atom::value);
  consume_messages();
  take_log();
  self->send(child(banking, "payments"), crash_atom::value);
  run();
  CHECK(take_log() == strings{"stop:payments", "start:payments"});
  CHECK(child_id(root, "banking") != banking_before);
  CHECK(child_id(root, "rewards") == rewards_before);
  auto report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  REQUIRE(report->children.size() == 2);
  CHECK(report->children[0].restarts == 1);
  CHECK(report->children[0].last_exit_reason.find("restart_intensity_exceeded") !=
        std::string::npos);
  CHECK(report->children[1].restarts == 0);
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "backoff delays each consecutive restart twice as long") {
  auto spec = sup_spec("domain", strategy::one_for_one, {worker("a", log)});
  spec.backoff = {100ms, 1s, 0};
  auto sup = start(spec);
  take_log();
  self->send(child(sup, "a"), crash_atom::value);
  consume_messages();
  CHECK(take_log() == strings{"stop:a"});
  advance_time(99ms);
  consume_messages();
  CHECK(take_log().empty());
  advance_time(1ms);
  consume_messages();
  CHECK(take_log() == strings{"start:a"});
  self->send(child(sup, "a"), crash_atom::value);
  consume_messages();
  advance_time(199ms);
  consume_messages();
  CHECK(take_log() == strings{"stop:a"});
  advance_time(1ms);
  consume_messages();
  CHECK(take_log() == strings{"start:a"});
  // Running longer than the intensity period (10 s) without failing resets the backoff.
  advance_time(11s);
  self->send(child(sup, "a"), crash_atom::value);
  consume_messages();
  advance_time(100ms);
  consume_messages();
  CHECK(take_log() == strings{"stop:a", "start:a"});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "jitter spreads the backoff within its bounds") {
  auto spec = sup_spec("domain", strategy::one_for_one, {worker("a", log)});
  spec.backoff = {1000ms, 1000ms, 20};
  auto sup = start(spec);
  take_log();
  self->send(child(sup, "a"), crash_atom::value);
  consume_messages();
  advance_time(799ms);
  consume_messages();
  CHECK(take_log() == strings{"stop:a"});
  advance_time(402ms);
  consume_messages();
  CHECK(take_log() == strings{"start:a"});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "a child that fails to start stops the start and the started ones") {
  auto sup = start(sup_spec("domain", strategy::one_for_one,
                            {worker("a", log), failing_worker("b", log), worker("c", log)}));
  self->monitor(sup);
  auto ready = ask<ready_atom>(sup, ready_atom::value);
  run();
  CHECK_FALSE(ready);
  CHECK(take_log() == strings{"start:a", "start-failed:b", "stop:a"});
  auto reason = exit_reason_of(sup);
  REQUIRE(reason);
  CHECK(*reason == platform_errc::start_failed);
}

TEST_CASE_FIXTURE(fixture, "a child supervisor's subtree is up before its next sibling starts") {
  auto inner = sup_spec("inner", strategy::one_for_one, {worker("x", log), worker("y", log)});
  auto root = start(sup_spec("root", strategy::one_for_one,
                             {worker("a", log), supervisor_child(inner), worker("b", log)}));
  CHECK(ask<ready_atom>(root, ready_atom::value));
  CHECK(take_log() == strings{"start:a", "start:x", "start:y", "start:b"});
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
  CHECK(take_log() == strings{"stop:b", "stop:y", "stop:x", "stop:a"});
}

TEST_CASE_FIXTURE(fixture, "shutdown stops children in reverse order and kills one that hangs") {
  auto sup = start(sup_spec("domain", strategy::one_for_one,
                            {worker("a", log), worker("stubborn", log, restart_type::permanent, true),
                             worker("c", log)}));
  self->monitor(sup);
  take_log();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  consume_messages();
  CHECK(take_log() == strings{"stop:c"});
  CHECK_FALSE(exit_reason_of(sup));
  advance_time(1s);  // the stubborn child's shutdown_timeout
  consume_messages();
  CHECK(take_log() == strings{"stop:stubborn", "stop:a"});
  auto reason = exit_reason_of(sup);
  REQUIRE(reason);
  CHECK(*reason == caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(fixture, "simple_one_for_one starts dynamic children with their arguments") {
  auto sup = start(sup_spec("payments", strategy::simple_one_for_one,
                            {worker("payment", log, restart_type::transient)}));
  auto p1 = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"p1"}));
  auto p2 = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"p2"}));
  auto p3 = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"p3"}));
  REQUIRE(p1);
  REQUIRE(p2);
  REQUIRE(p3);
  CHECK(take_log() == strings{"start:p1", "start:p2", "start:p3"});
  CHECK(ask<std::uint64_t>(sup, count_children_atom::value) == std::uint64_t{3});
  self->send(*p1, crash_atom::value);  // transient + crash: back, with the same arguments
  self->send(*p2, finish_atom::value);  // transient + normal: gone
  consume_messages();
  CHECK(take_log() == strings{"stop:p1", "stop:p2", "start:p1"});
  CHECK(ask<std::uint64_t>(sup, count_children_atom::value) == std::uint64_t{2});
  CHECK(ask<caf::unit_t>(sup, stop_child_atom::value, *p3));
  CHECK(ask<std::uint64_t>(sup, count_children_atom::value) == std::uint64_t{1});
  auto report = ask<tree_node>(sup, report_atom::value);
  REQUIRE(report);
  CHECK(report->dynamic_children == 1);
  CHECK(report->children.size() == 1);
  CHECK(report->children[0].restarts == 1);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "simple_one_for_one refuses children beyond its limit as overloaded") {
  auto spec = sup_spec("sessions", strategy::simple_one_for_one,
                       {worker("session", log, restart_type::temporary)});
  spec.max_dynamic_children = 2;
  auto sup = start(spec);
  CHECK(ask<caf::actor>(sup, start_child_atom::value));
  CHECK(ask<caf::actor>(sup, start_child_atom::value));
  auto third = ask<caf::actor>(sup, start_child_atom::value);
  REQUIRE_FALSE(third);
  CHECK(third.error() == platform_errc::overloaded);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "the report shows the subtree with restarts, exit reasons and mailboxes") {
  auto inner = sup_spec("store_sup", strategy::rest_for_one, {worker("store", log)});
  auto root = start(sup_spec("banking", strategy::one_for_one,
                             {supervisor_child(inner), worker("front_door", log)}));
  CHECK(ask<ready_atom>(root, ready_atom::value));
  self->send(child(root, "front_door"), crash_atom::value);
  consume_messages();
  auto report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  CHECK(report->name == "banking");
  CHECK(report->strategy == "one_for_one");
  CHECK(report->intensity_used == 1);
  CHECK(report->intensity_max == 10);
  REQUIRE(report->children.size() == 2);
  auto& store_sup = report->children[0];
  CHECK(store_sup.kind == "supervisor");
  CHECK(store_sup.strategy == "rest_for_one");
  REQUIRE(store_sup.children.size() == 1);
  CHECK(store_sup.children[0].name == "store");
  CHECK(store_sup.children[0].mailbox_depth == 0);
  auto& front_door = report->children[1];
  CHECK(front_door.state == "running");
  CHECK(front_door.restarts == 1);
  CHECK(front_door.last_exit_reason.find("runtime_error") != std::string::npos);
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "the report counts the messages of actors spawned counting") {
  auto inner = sup_spec("store_sup", strategy::one_for_one, {counted_worker("store", log)});
  auto root = start(sup_spec("banking", strategy::one_for_one,
                             {supervisor_child(inner), counted_worker("counted", log),
                              worker("plain", log)}));
  CHECK(ask<ready_atom>(root, ready_atom::value));
  auto counted = child(root, "counted");
  for (int i = 0; i < 5; ++i) CHECK(ask<std::string>(counted, name_atom::value) == "counted");
  auto report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  REQUIRE(report->children.size() == 3);
  CHECK(report->messages > 0);  // supervisors count too: ready, which_child, report ...
  CHECK(report->children[0].messages > 0);
  REQUIRE(report->children[0].children.size() == 1);
  CHECK(report->children[0].children[0].messages == 0);  // the store was never asked anything
  CHECK(report->children[1].messages == 5);  // the probe for this report comes after the count
  CHECK(report->children[2].messages == -1);  // spawned the plain way: not counted
  CHECK(messages_of(counted) == 6);           // ... and the probe is counted now
  CHECK(messages_of(caf::actor{}) == -1);

  // A restarted actor counts from zero again.
  self->send(counted, crash_atom::value);
  consume_messages();
  report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  CHECK(report->children[1].restarts == 1);
  CHECK(report->children[1].messages == 0);
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "an operator restart replaces the subtree without using intensity") {
  auto inner = sup_spec("inner", strategy::one_for_one, {worker("x", log)});
  auto root = start(sup_spec("root", strategy::one_for_one, {supervisor_child(inner)}));
  CHECK(ask<ready_atom>(root, ready_atom::value));
  take_log();
  auto before = child_id(root, "inner");
  CHECK(ask<caf::unit_t>(root, restart_child_atom::value, std::string{"inner"}));
  run();
  CHECK(take_log() == strings{"stop:x", "start:x"});
  CHECK(child_id(root, "inner") != before);
  auto report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  CHECK(report->intensity_used == 0);
  CHECK_FALSE(ask<caf::unit_t>(root, restart_child_atom::value, std::string{"nope"}));
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
}

TEST_CASE_FIXTURE(fixture, "a crash by exception is restarted like any other") {
  child_spec thrower;
  thrower.id = "thrower";
  thrower.start = [log = log](caf::local_actor& parent,
                              const caf::message&) -> caf::expected<caf::actor> {
    log->push_back("start:thrower");
    // One argument: CAF 0.17 spawns argument-less function actors through a null tuple (UBSan).
    return parent.spawn(
        [](caf::event_based_actor*, int) -> caf::behavior {
          return {[](crash_atom) { throw std::runtime_error("handler bug"); }};
        },
        0);
  };
  auto sup = start(sup_spec("domain", strategy::one_for_one, {thrower}));
  take_log();
  self->send(child(sup, "thrower"), crash_atom::value);
  consume_messages();
  CHECK(take_log() == strings{"start:thrower"});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

// Escalation's worst case: a domain whose crash loop exhausts its own supervisor again and again.
// The root restarts it with a growing backoff, so its own intensity (10 per domain per minute)
// is never reached and the healthy domain is never touched.
TEST_CASE_FIXTURE(fixture, "a domain that keeps giving up never takes the node's root down") {
  auto banking = sup_spec("banking", strategy::one_for_one, {worker("ledger", log)});
  auto rewards = sup_spec("rewards", strategy::one_for_one, {worker("campaign", log)});
  rewards.intensity = {1, 5s};
  auto root = start(node_root_supervisor("root", {banking, rewards}));
  self->monitor(root);
  CHECK(ask<ready_atom>(root, ready_atom::value));
  auto ledger = child_id(child(root, "banking"), "ledger");
  int crashes = 0;
  auto began = sched.clock().now();
  for (int i = 0; i < 400; ++i) {
    auto sub = child(root, "rewards");
    if (!sub) {
      run();  // lets the root's backoff timer fire (virtual time moves to it)
      continue;
    }
    auto campaign = child(sub, "campaign");
    if (campaign) {
      self->send(campaign, crash_atom::value);
      ++crashes;
    }
    consume_messages();
  }
  CHECK(crashes > 100);
  CHECK(sched.clock().now() - began > std::chrono::minutes{5});
  CHECK_FALSE(exit_reason_of(root));
  CHECK(child_id(child(root, "banking"), "ledger") == ledger);
  auto report = ask<tree_node>(root, report_atom::value);
  REQUIRE(report);
  CHECK(report->children[0].restarts == 0);
  CHECK(report->children[1].restarts > 10);
  self->send_exit(root, caf::exit_reason::user_shutdown);
  run();
}

// Random crash sequences against a model of the OTP rules: a permanent child is never left
// dead unless the supervisor exceeded its intensity, in which case it is gone itself.
TEST_CASE_FIXTURE(fixture, "random crash sequences never leave a permanent child dead") {
  std::mt19937 rng{20261125};
  constexpr int rounds = 150;
  constexpr int children = 4;
  for (int round = 0; round < rounds; ++round) {
    auto strategy_kind = std::array{strategy::one_for_one, strategy::one_for_all,
                                    strategy::rest_for_one}[rng() % 3];
    std::vector<restart_type> types;
    std::vector<child_spec> specs;
    for (int i = 0; i < children; ++i) {
      auto t = std::array{restart_type::permanent, restart_type::transient,
                          restart_type::temporary}[rng() % 3];
      types.push_back(t);
      specs.push_back(worker("c" + std::to_string(i), log, t));
    }
    auto spec = sup_spec("random", strategy_kind, specs);
    spec.intensity = {3, 10s};
    auto sup = start(spec);
    self->monitor(sup);
    std::vector<bool> alive(children, true);
    std::deque<caf::actor_clock::time_point> restarts;
    bool gave_up = false;
    auto events = 1 + rng() % 12;
    for (std::size_t e = 0; e < events && !gave_up; ++e) {
      if (rng() % 4 == 0) {
        advance_time(std::chrono::milliseconds{rng() % 4000});
        continue;
      }
      auto i = static_cast<int>(rng() % children);
      if (!alive[i]) continue;
      bool crash = rng() % 3 != 0;
      auto c = child(sup, "c" + std::to_string(i));
      REQUIRE(c);
      if (crash)
        self->send(c, crash_atom::value);
      else
        self->send(c, finish_atom::value);
      consume_messages();
      auto t = types[i];
      bool restarts_it = t == restart_type::permanent || (t == restart_type::transient && crash);
      if (!restarts_it) {
        alive[i] = false;
        continue;
      }
      auto now = sched.clock().now();
      restarts.push_back(now);
      while (!restarts.empty() && restarts.front() + 10s <= now) restarts.pop_front();
      if (restarts.size() > 3) {
        gave_up = true;
        break;
      }
      auto first = strategy_kind == strategy::one_for_all ? 0
                   : strategy_kind == strategy::rest_for_one ? i
                                                             : children;
      for (int k = first; k < children; ++k)
        if (k != i) alive[k] = types[k] != restart_type::temporary;
      alive[i] = true;
    }
    auto reason = exit_reason_of(sup);
    if (gave_up) {
      REQUIRE(reason);
      CHECK(*reason == platform_errc::restart_intensity_exceeded);
      continue;
    }
    REQUIRE_FALSE(reason);
    for (int i = 0; i < children; ++i) {
      INFO("round " << round << " child c" << i);
      CHECK(static_cast<bool>(child(sup, "c" + std::to_string(i))) == alive[i]);
      if (types[i] == restart_type::permanent) CHECK(alive[i]);
    }
    self->send_exit(sup, caf::exit_reason::user_shutdown);
    run();
    exit_reason_of(sup);
    log->clear();
  }
}
