// Two nodes in one process (two actor systems over loopback TCP): a node reaches another's
// front doors through its peer link, and loses them at once when they go.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <doctest/doctest.h>

#include "tests/support/temp_dir.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/cluster/cluster.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/supervisor.hpp"

using namespace superapp;
using namespace std::chrono_literals;

namespace {

using superapp::testing::temp_dir;

std::unique_ptr<caf::actor_system> make_system() {
  auto cfg = std::make_unique<caf::actor_system_config>();
  cluster::prepare_config(*cfg);
  add_error_renderers(*cfg);
  cfg->set("scheduler.max-threads", 2);
  // The config must outlive the system; keep it with it.
  static std::vector<std::unique_ptr<caf::actor_system_config>> configs;
  configs.push_back(std::move(cfg));
  return std::make_unique<caf::actor_system>(*configs.back());
}

// How many `banking.hold` ops core's front door holds, unanswered.
std::atomic<int> ops_held{0};

// "core": a banking domain whose `banking.hold` op is never answered; its domains published.
struct core_node {
  temp_dir dir;
  std::unique_ptr<caf::actor_system> sys = make_system();
  sup::front_door_directory_ptr directory = std::make_shared<sup::front_door_directory>();
  caf::actor tree;
  std::atomic<std::uint16_t> port{0};

  core_node() {
    sup::domain_settings settings;
    settings.database.engine_kind = persistence::engine::sqlite;
    settings.database.sqlite_directory = dir.path.string();
    settings.database.reader_connections = 1;
    settings.directory = directory;
    sup::domain_definition banking;
    banking.name = "banking";
    banking.ops["banking.hold"] = [](caf::event_based_actor* self, const sup::domain_context_ptr&,
                                     op_request&) -> caf::result<op_reply> {
      auto promise = self->make_response_promise<op_reply>();
      static std::vector<caf::typed_response_promise<op_reply>> held;  // never answered
      held.push_back(promise);
      ++ops_held;
      return promise;
    };
    cluster::cluster_settings cs;
    cs.publish = true;
    cs.local_domains = {"banking"};
    tree = sup::spawn_supervisor(
        *sys, sup::node_root_supervisor(
                  "root", {sup::domain_supervisor(banking, settings),
                           cluster::cluster_supervisor(cs, directory,
                                                       [this](std::uint16_t p) { port = p; })}));
    caf::scoped_actor self{*sys};
    REQUIRE_FALSE(sup::await_ready(self, tree, 30s));
    REQUIRE(port.load() != 0);
  }

  void stop_tree() {
    caf::scoped_actor self{*sys};
    sup::shutdown(self, tree, 30s);
  }
};

// "edge": no domains of its own; reaches core's through one peer link.
struct edge_node {
  std::unique_ptr<caf::actor_system> sys = make_system();
  sup::front_door_directory_ptr directory = std::make_shared<sup::front_door_directory>();
  caf::actor tree;

  explicit edge_node(std::uint16_t core_port) {
    cluster::cluster_settings cs;
    cs.peers = {{"127.0.0.1", core_port}};
    cs.reconnect_min = 50ms;
    cs.request_timeout = 30s;  // far longer than any wait below: failures must come early
    tree = sup::spawn_supervisor(*sys, sup::node_root_supervisor(
                                           "root", {cluster::cluster_supervisor(cs, directory)}));
    caf::scoped_actor self{*sys};
    REQUIRE_FALSE(sup::await_ready(self, tree, 30s));
  }

  ~edge_node() {
    caf::scoped_actor self{*sys};
    sup::shutdown(self, tree, 30s);
  }

  // Polls the directory (bounded) until `domain` is there (or gone, with present = false).
  bool wait_for(const std::string& domain, bool present, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (directory->lookup(domain).has_value() == present) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  caf::expected<op_reply> call(const std::string& op, std::chrono::seconds timeout = 30s) {
    auto entry = directory->lookup(op.substr(0, op.find('.')));
    if (!entry) return make_error(platform_errc::unavailable);
    caf::scoped_actor self{*sys};
    caf::expected<op_reply> out = caf::make_error(caf::sec::request_timeout);
    op_request request;
    request.op = op;
    request.body_json = "{}";
    self->request(entry->front_door, timeout, op_atom::value, request)
        .receive([&](op_reply& r) { out = std::move(r); },
                 [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

}  // namespace

TEST_CASE("an edge node reaches a core node's front door through its peer link") {
  core_node core;
  edge_node edge{core.port};
  REQUIRE(edge.wait_for("banking", true));
  auto pong = edge.call("banking.ping");
  REQUIRE(pong);
  CHECK(pong->body_json == R"({"pong":true,"domain":"banking"})");
  auto unknown = edge.call("banking.nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == platform_errc::unknown_op);  // the remote domain's own answer
  CHECK_FALSE(edge.call("rewards.ping"));  // nobody offers rewards
  core.stop_tree();
}

TEST_CASE("an op in flight fails with unavailable at once when the peer's domain goes away") {
  core_node core;
  edge_node edge{core.port};
  REQUIRE(edge.wait_for("banking", true));
  std::atomic<bool> answered{false};
  caf::expected<op_reply> held = caf::make_error(caf::sec::request_timeout);
  std::thread caller{[&] {
    held = edge.call("banking.hold");
    answered = true;
  }};
  // Wait (bounded) until core's front door holds the op.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ops_held.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE(ops_held.load() == 1);
  CHECK_FALSE(answered.load());
  const auto started = std::chrono::steady_clock::now();
  core.stop_tree();  // the front door and the registry go: the edge notices through monitors
  caller.join();
  const auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(held);
  CHECK(held.error() == platform_errc::unavailable);
  CHECK(waited < 5s);  // the request's own timeout is 30 s
  CHECK(edge.wait_for("banking", false));
}
