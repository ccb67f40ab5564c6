// The operations actor on a real actor system: snapshots of a live tree, actions on it, refusals
// and the audit file.
#include "gateway/admin/ops_monitor.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "protocols/caller_seal.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/supervisor.hpp"
#include "tests/support/temp_dir.hpp"

using namespace superapp;
using namespace superapp::admin;
using namespace std::chrono_literals;

namespace {

caf::behavior idle_worker(caf::event_based_actor* self) {
  return {[self](sup::probe_atom) {
    return sup::worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
  }};
}

// `counted`: spawned like the platform's actors, counting its messages; otherwise plainly.
sup::child_spec worker(std::string id, bool counted = true) {
  sup::child_spec c;
  c.id = std::move(id);
  c.answers_probe = true;
  c.start = [counted](caf::local_actor& parent,
                      const caf::message&) -> caf::expected<caf::actor> {
    if (counted) return sup::spawn_counted(parent, idle_worker);
    return parent.spawn(idle_worker);
  };
  return c;
}

// root -> banking (front_door, ledger), identity (front_door): the shape of domain trees.
sup::supervisor_spec tree_spec() {
  sup::supervisor_spec banking;
  banking.name = "banking";
  banking.strategy_kind = sup::strategy::rest_for_one;
  banking.children = {worker("front_door"), worker("ledger")};
  sup::supervisor_spec identity;
  identity.name = "identity";
  identity.children = {worker("front_door", false)};
  sup::supervisor_spec root;
  root.name = "root";
  root.intensity = {20, std::chrono::seconds{10}};
  root.children = {sup::supervisor_child(banking), sup::supervisor_child(identity)};
  return root;
}

action_result act(const caf::actor& ops, action_request r) {
  auto done = std::make_shared<std::promise<action_result>>();
  auto answer = done->get_future();
  caf::anon_send(ops, ops_action_atom::value, std::move(r),
                 action_completion{[done](action_result x) { done->set_value(std::move(x)); }});
  REQUIRE(answer.wait_for(30s) == std::future_status::ready);
  return answer.get();
}

boost::json::object snapshot(const caf::actor& ops) {
  auto done = std::make_shared<std::promise<std::string>>();
  auto answer = done->get_future();
  caf::anon_send(ops, ops_snapshot_atom::value,
                 text_completion{[done](std::string x) { done->set_value(std::move(x)); }});
  REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  return boost::json::parse(answer.get()).as_object();
}

action_request request(std::string role, std::string action, std::string path) {
  action_request r;
  r.operator_name = "alice";
  r.role = std::move(role);
  r.action = std::move(action);
  r.path = std::move(path);
  return r;
}

const boost::json::object* child(const boost::json::object& node, std::string_view name) {
  for (auto& c : node.at("children").as_array())
    if (c.as_object().at("name").as_string() == name) return &c.as_object();
  return nullptr;
}

// Polls the snapshot until `pred` holds (the actor samples every 50 ms here).
template <class Pred>
boost::json::object wait_for(const caf::actor& ops, Pred pred) {
  for (int i = 0; i < 200; ++i) {
    auto s = snapshot(ops);
    auto& node = s.at("nodes").as_array()[0].as_object();
    if (!node.at("tree").is_null() && pred(node)) return node;
    std::this_thread::sleep_for(50ms);
  }
  FAIL("the snapshot never showed what was expected");
  return {};
}

}  // namespace

TEST_CASE("the operations actor shows the live tree and runs, refuses and audits actions") {
  superapp::testing::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto root = sup::spawn_supervisor(sys, tree_spec());
  REQUIRE_FALSE(sup::await_ready(self, root, 10s));
  metrics::registry registry;
  ops_settings settings;
  settings.node_name = "node-a";
  settings.root = root;
  settings.directory = std::make_shared<sup::front_door_directory>();
  settings.chaos = std::make_shared<sup::chaos_board>();
  settings.registry = &registry;
  settings.draining = std::make_shared<std::atomic<bool>>(false);
  settings.audit_file = dir.path / "audit.log";
  settings.tick = 50ms;
  superapp::system_clock clock;
  auto seal = std::make_shared<const caller_seal>(caller_seal::generate(clock));
  settings.seal = seal;
  auto ops = spawn_ops_monitor(sys, settings);

  auto first = wait_for(ops, [](const boost::json::object&) { return true; });
  CHECK(first.at("node").as_string() == "node-a");
  auto& tree = first.at("tree").as_object();
  CHECK(tree.at("name").as_string() == "root");
  REQUIRE(child(tree, "banking") != nullptr);
  CHECK(first.at("domains").as_array().size() == 2);  // both have a front door

  SUBCASE("every actor that counts its messages shows messages per second") {
    // Each sample probes the workers and asks every supervisor for its report, so even idle
    // actors handle a few messages a second here (one sample every 50 ms).
    auto rate = [](const boost::json::object* n) {
      if (n == nullptr || n->at("messages_per_s").is_null()) return -1.0;
      return n->at("messages_per_s").to_number<double>();
    };
    auto node = wait_for(ops, [&](const boost::json::object& n) {
      auto& t = n.at("tree").as_object();
      auto* banking = child(t, "banking");
      return rate(&t) > 0 && rate(banking) > 0 && rate(child(*banking, "ledger")) > 0;
    });
    auto& t = node.at("tree").as_object();
    auto* ledger = child(*child(t, "banking"), "ledger");
    CHECK(ledger->at("messages").as_int64() > 0);
    auto* plain = child(*child(t, "identity"), "front_door");
    REQUIRE(plain != nullptr);
    CHECK(plain->at("messages").is_null());
    CHECK(plain->at("messages_per_s").is_null());
  }

  SUBCASE("a crash restarts the worker under its supervisor's policy") {
    auto r = act(ops, request("operator", "crash", "root/banking/ledger"));
    CHECK(r.status == 200);
    CHECK(r.audit_id == 1);
    auto after = wait_for(ops, [](const boost::json::object& node) {
      auto* ledger = child(*child(node.at("tree").as_object(), "banking"), "ledger");
      return ledger != nullptr && ledger->at("restarts").as_int64() == 1 &&
             ledger->at("state").as_string() == "running";
    });
    auto* ledger = child(*child(after.at("tree").as_object(), "banking"), "ledger");
    CHECK(ledger->at("last_exit_reason").as_string().find("runtime_error") != std::string::npos);
    // The audit is in the snapshot and in the file.
    auto& audit = after.at("audit").as_array();
    REQUIRE_FALSE(audit.empty());
    CHECK(audit[0].as_object().at("operator").as_string() == "alice");
    CHECK(audit[0].as_object().at("outcome").as_string() == "done");
    std::ifstream in{dir.path / "audit.log"};
    std::string line;
    REQUIRE(std::getline(in, line));
    CHECK(line.find(R"("action":"crash")") != std::string::npos);
  }

  SUBCASE("stop and start a domain; restart a subtree") {
    CHECK(act(ops, request("operator", "stop", "root/identity")).status == 200);
    wait_for(ops, [](const boost::json::object& node) {
      return child(node.at("tree").as_object(), "identity")->at("state").as_string() == "stopped";
    });
    CHECK(act(ops, request("operator", "start", "root/identity")).status == 200);
    wait_for(ops, [](const boost::json::object& node) {
      return child(node.at("tree").as_object(), "identity")->at("state").as_string() == "running";
    });
    CHECK(act(ops, request("operator", "restart", "root/banking")).status == 200);
    // Actions find their target in the last sampled tree: wait until it has banking's ledger
    // again (a sample taken mid-restart lists no children).
    wait_for(ops, [](const boost::json::object& node) {
      auto* banking = child(node.at("tree").as_object(), "banking");
      return banking != nullptr && child(*banking, "ledger") != nullptr;
    });
    // stop/start/chaos take a domain, not a worker.
    auto r = act(ops, request("operator", "stop", "root/banking/ledger"));
    CHECK(r.status == 400);
    CHECK(r.code == "invalid_argument");
  }

  SUBCASE("refusals: a viewer, an unknown path, an unknown node, bad chaos") {
    auto viewer = act(ops, request("viewer", "crash", "root/banking/ledger"));
    CHECK(viewer.status == 403);
    CHECK(viewer.code == "forbidden");
    CHECK(viewer.message == "viewers cannot act");
    CHECK(viewer.audit_id == 1);  // refused, and audited
    auto missing = act(ops, request("operator", "crash", "root/banking/nothing"));
    CHECK(missing.status == 404);
    CHECK(missing.message == "no such actor: root/banking/nothing");
    auto rootless = act(ops, request("operator", "restart", "root"));
    CHECK(rootless.status == 400);
    auto elsewhere = request("operator", "crash", "root/banking/ledger");
    elsewhere.node = "node-z";
    CHECK(act(ops, elsewhere).status == 404);
    CHECK(act(ops, request("operator", "explode", "root/banking")).status == 400);
    auto chaos = request("operator", "chaos", "root/banking");
    chaos.mode = "delay";
    chaos.delay_ms = 0;
    chaos.duration_s = 5;
    CHECK(act(ops, chaos).status == 400);
  }

  SUBCASE("reverse is a sealed op to banking's front door in the operator's name") {
    // A stand-in for banking's front door: checks the seal and the caller, answers as banking.
    auto seen = std::make_shared<std::vector<op_request>>();
    auto door = sys.spawn([seen, seal](caf::event_based_actor*) -> caf::behavior {
      return {[seen, seal](op_atom, op_request& req) -> caf::result<op_reply> {
        if (!seal->verify(req)) return make_error(platform_errc::unauthorized);
        seen->push_back(req);
        if (req.body_json.find("tr_gone") != std::string::npos)
          return make_error(platform_errc::unavailable);
        return op_reply{R"({"transfer_id":"tr_1","reversal_id":"rv_1","state":"reversed",)"
                        R"("amount":{"minor":2500,"currency":"GBP"},"from":"user:u-bob",)"
                        R"("to":"user:u-alice"})"};
      }};
    });
    settings.directory->publish("banking", door, std::make_shared<sup::admission_gate>(4));
    auto reverse = request("operator", "reverse", "root/banking");
    reverse.transfer_id = "tr_1";
    reverse.reason = "fraud report 42";
    auto done = act(ops, reverse);
    CHECK(done.status == 200);
    CHECK(done.message == "reversed tr_1: 2500 GBP back from user:u-bob to user:u-alice as rv_1");
    REQUIRE(seen->size() == 1);
    CHECK((*seen)[0].op == "banking.reverse");
    CHECK((*seen)[0].who.subject == "operator:alice");
    CHECK((*seen)[0].who.scopes == std::vector<std::string>{"operator"});
    CHECK((*seen)[0].body_json == R"({"transfer_id":"tr_1","reason":"fraud report 42"})");
    // The audit keeps what was reversed and why.
    std::ifstream in{dir.path / "audit.log"};
    std::string line;
    REQUIRE(std::getline(in, line));
    CHECK(line.find(R"("transfer_id":"tr_1")") != std::string::npos);
    CHECK(line.find(R"("reason":"fraud report 42")") != std::string::npos);

    // The domain's refusal comes back with its code; bad requests never reach the domain.
    reverse.transfer_id = "tr_gone";
    auto gone = act(ops, reverse);
    CHECK(gone.status == 503);
    CHECK(gone.code == "unavailable");
    reverse.reason.clear();
    CHECK(act(ops, reverse).message == "reason is required");
    reverse.reason = "r";
    reverse.transfer_id.clear();
    CHECK(act(ops, reverse).message == "transfer_id is required");
    reverse.transfer_id = "tr_1";
    reverse.path = "root/identity";
    CHECK(act(ops, reverse).status == 400);
    reverse.path = "root/banking";
    reverse.role = "viewer";
    CHECK(act(ops, reverse).status == 403);
    CHECK(seen->size() == 2);
    settings.directory->clear();
    reverse.role = "operator";
    auto no_door = act(ops, reverse);
    CHECK(no_door.status == 503);
    CHECK(no_door.message == "banking has no front door reachable from this node");
    self->send_exit(door, caf::exit_reason::user_shutdown);
  }

  SUBCASE("chaos and drain are switched and shown") {
    auto chaos = request("operator", "chaos", "root/banking");
    chaos.mode = "fail";
    chaos.duration_s = 60;
    CHECK(act(ops, chaos).status == 200);
    CHECK(settings.chaos->for_domain("banking")->current(sup::wall_clock_ms()).mode ==
          sup::chaos_mode::fail);
    wait_for(ops, [](const boost::json::object& node) {
      for (auto& d : node.at("domains").as_array())
        if (d.as_object().at("name").as_string() == "banking")
          return !d.as_object().at("chaos").is_null();
      return false;
    });
    chaos.mode = "off";
    CHECK(act(ops, chaos).status == 200);
    CHECK(settings.chaos->for_domain("banking")->current(sup::wall_clock_ms()).mode ==
          sup::chaos_mode::off);
    auto drain = request("operator", "drain", "");
    CHECK(act(ops, drain).status == 200);
    CHECK(settings.draining->load());
    drain.action = "undrain";
    CHECK(act(ops, drain).status == 200);
    CHECK_FALSE(settings.draining->load());
  }

  self->send_exit(ops, caf::exit_reason::user_shutdown);
  self->wait_for(ops);  // it reads `registry`, which goes before the actor system
  sup::shutdown(self, root, 10s);
}
