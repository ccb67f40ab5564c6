// One domain's real tree over a real database (SQLite, or PostgreSQL when the suite runs under
// SUPERAPP_TEST_ENGINE=postgres): restartable on the same database, called like the gateway
// calls its front door. The base of the domain suites' fixtures (identity, kyc, ...).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "persistence/connection.hpp"
#include "persistence/outbox.hpp"
#include "protocols/clock.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/domain.hpp"

namespace superapp::testing {

using namespace std::chrono_literals;
namespace json = boost::json;

inline bool on_postgres() {
  const char* e = std::getenv("SUPERAPP_TEST_ENGINE");
  return e != nullptr && std::string{e} == "postgres";
}

// The PostgreSQL run must fail, not skip, when the fixture's server is missing.
inline std::string pg_conninfo() {
  const char* path = std::getenv("SUPERAPP_PG_CONNINFO_FILE");
  REQUIRE_MESSAGE(path != nullptr, "SUPERAPP_PG_CONNINFO_FILE is not set; run via ctest");
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  REQUIRE_MESSAGE(!line.empty(), "no conninfo from scripts/pg-test-server");
  return line;
}

// A database name no other run of any suite uses.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<int> n{0};
  return std::string{prefix} + "_t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

struct outcome {
  bool ok = false;
  json::object body;
  std::string code;  // wire code when !ok
};

// Where a node keeps its database: a name and (SQLite) a directory, given when another process
// must open the same database (a crash test's children), else made afresh.
struct node_place {
  std::string name;
  std::filesystem::path dir;
};

class domain_node {
 public:
  // `make` builds the domain's definition anew at each start (settings may change between).
  // Without `place` the node gets a database of its own, removed at the end.
  domain_node(std::string prefix, std::function<sup::domain_definition(const std::string& name)> make,
              std::optional<node_place> place = std::nullopt)
      : name(place ? place->name : unique_name(prefix)), make_(std::move(make)), owns_dir_(!place) {
    if (place) {
      dir = place->dir;
    } else {
      std::string pattern = (std::filesystem::temp_directory_path() / "superapp-dom-XXXXXX").string();
      dir = ::mkdtemp(pattern.data());
    }
    add_error_renderers(cfg);
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  ~domain_node() {
    stop();
    sys.reset();
    if (owns_dir_) std::filesystem::remove_all(dir);
  }

  domain_node(const domain_node&) = delete;
  domain_node& operator=(const domain_node&) = delete;

  persistence::database_config database() const {
    persistence::database_config db;
    if (on_postgres()) {
      db.engine_kind = persistence::engine::postgres;
      db.pg_conninfo = pg_conninfo();
    } else {
      db.sqlite_directory = dir.string();
    }
    return sup::with_companions(make_(name), db);  // SQLite: the domain's companion files too
  }

  // A reader on the domain's database, beside the running tree.
  std::unique_ptr<persistence::connection> reader() {
    auto db = persistence::open_database(database(), name);
    REQUIRE(db);
    auto conn = (*db)->connect(persistence::connection_role::reader);
    REQUIRE(conn);
    return std::move(*conn);
  }

  // The events in the domain's outbox (no relay runs in these tests), in commit order; each
  // must be on `topic`.
  std::vector<events::event> outbox(const std::string& topic) {
    auto conn = reader();
    auto rows = persistence::read_unpublished(*conn, 1000);
    REQUIRE(rows);
    std::vector<events::event> out;
    for (const auto& r : *rows) {
      CHECK(r.topic == topic);
      auto e = events::decode(r.payload);
      REQUIRE(e);
      out.push_back(std::move(*e));
    }
    return out;
  }

  void start() { REQUIRE(try_start()); }

  // False when the tree does not come up (it is shut down again).
  bool try_start() {
    directory = std::make_shared<sup::front_door_directory>();
    sup::domain_settings ds;
    ds.database = database();
    ds.directory = directory;
    root = sup::spawn_supervisor(*sys, sup::domain_supervisor(make_(name), ds));
    caf::scoped_actor self{*sys};
    if (sup::await_ready(self, root, 30s)) {
      stop();
      return false;
    }
    auto entry = directory->lookup(name);
    REQUIRE(entry);
    door = entry->front_door;
    return true;
  }

  void stop() {
    if (!root) return;
    caf::scoped_actor self{*sys};
    sup::shutdown(self, root, 30s);
    root = nullptr;
    door = nullptr;
  }

  outcome call(const std::string& op, json::object body, const caller& who = {},
               std::string idempotency_key = {}) {
    return call_raw(op, json::serialize(body), who, std::move(idempotency_key));
  }

  outcome call_raw(const std::string& op, std::string body_json, const caller& who = {},
                   std::string idempotency_key = {}) {
    op_request req;
    req.op = op;
    req.body_json = std::move(body_json);
    req.who = who;
    req.idempotency_key = std::move(idempotency_key);
    outcome out;
    caf::scoped_actor self{*sys};
    self->request(door, 20s, op_atom::value, req)
        .receive(
            [&](op_reply& r) {
              out.ok = true;
              out.body = json::parse(r.body_json).as_object();
            },
            [&](caf::error& err) { out.code = std::string{describe(err).wire_code}; });
    return out;
  }

  std::filesystem::path dir;
  std::string name;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<sup::front_door_directory> directory;
  caf::actor root;
  caf::actor door;

 private:
  std::function<sup::domain_definition(const std::string& name)> make_;
  bool owns_dir_ = true;
};

inline std::string str(const json::object& o, const char* key) { return std::string{o.at(key).as_string()}; }

}  // namespace superapp::testing
