// The identity domain's real tree over a real database and SMS simulator, for the domain
// suites (identity_domain_tests): a restartable node, enrolment and login helpers.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/identity/identity_domain.hpp"
#include "actors/identity/identity_messages.hpp"
#include "persistence/connection.hpp"
#include "persistence/outbox.hpp"
#include "protocols/events/event.hpp"
#include "protocols/tokens/device_key.hpp"
#include "protocols/tokens/jwt.hpp"
#include "simulators/sms/sms_simulator.hpp"

namespace superapp::identity::testing {

using namespace std::chrono_literals;
namespace json = boost::json;

inline bool on_postgres() {
  const char* e = std::getenv("SUPERAPP_TEST_ENGINE");
  return e != nullptr && std::string{e} == "postgres";
}

inline std::string pg_conninfo() {
  const char* path = std::getenv("SUPERAPP_PG_CONNINFO_FILE");
  REQUIRE_MESSAGE(path != nullptr, "SUPERAPP_PG_CONNINFO_FILE is not set; run via ctest");
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  REQUIRE_MESSAGE(!line.empty(), "no conninfo from scripts/pg-test-server");
  return line;
}

inline std::string unique_name() {
  static std::atomic<int> n{0};
  return "identity_t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

struct outcome {
  bool ok = false;
  json::object body;
  std::string code;  // wire code when !ok
};

// One identity domain tree, restartable on the same database.
struct identity_node {
  std::filesystem::path dir;
  std::string name = unique_name();
  sim::sms_simulator sms;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<sup::front_door_directory> directory;
  caf::actor root;
  caf::actor door;
  identity::identity_settings settings;

  identity_node() {
    std::string pattern = (std::filesystem::temp_directory_path() / "superapp-id-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    std::string failure;
    REQUIRE(sms.start("127.0.0.1", 0, failure));
    settings.clock = clock;
    settings.sms_url = sms.base_url();
    settings.argon2 = {1, 8 * 1024};  // libsodium's minimum: keeps the suite fast
    add_error_renderers(cfg);
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    start();
  }

  ~identity_node() {
    stop();
    sys.reset();
    std::filesystem::remove_all(dir);
  }

  persistence::database_config database() const {
    persistence::database_config db;
    if (on_postgres()) {
      db.engine_kind = persistence::engine::postgres;
      db.pg_conninfo = pg_conninfo();
    } else {
      db.sqlite_directory = dir.string();
    }
    return db;
  }

  // A reader on the domain's database, beside the running tree.
  std::unique_ptr<persistence::connection> reader() {
    auto db = persistence::open_database(database(), name);
    REQUIRE(db);
    auto conn = (*db)->connect(persistence::connection_role::reader);
    REQUIRE(conn);
    return std::move(*conn);
  }

  // The stored form of every signing key (what a copy of the database would show).
  std::vector<std::string> stored_keys() {
    auto r = reader()->execute({"SELECT private_pem FROM signing_keys", {}});
    REQUIRE(r);
    std::vector<std::string> out;
    for (const auto& row : r->rows) out.push_back(persistence::as_text(row[0]).value_or(""));
    return out;
  }

  // The events in the domain's outbox (no relay runs in these tests), in commit order.
  std::vector<events::event> outbox() {
    auto conn = reader();
    auto rows = persistence::read_unpublished(*conn, 1000);
    REQUIRE(rows);
    std::vector<events::event> out;
    for (const auto& r : *rows) {
      CHECK(r.topic == "superapp.identity.events");
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
    root = sup::spawn_supervisor(*sys, sup::domain_supervisor(identity::identity_domain(settings, name), ds));
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
    op_request req;
    req.op = op;
    req.body_json = json::serialize(body);
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

  std::string last_code(const std::string& phone) {
    auto m = sms.last_message(phone);
    REQUIRE(m);
    return sim::otp_code_in(m->text);
  }
};

inline std::string str(const json::object& o, const char* key) { return std::string{o.at(key).as_string()}; }

struct enrolled {
  std::string user_id;
  std::string device_id;
  tokens::signing_key device_key = tokens::signing_key::generate("device");
};

// register -> code from the simulator -> verify -> bind a fresh device key with `mpin`.
inline enrolled enrol(identity_node& n, const std::string& phone, const std::string& mpin = "2468") {
  enrolled e;
  auto reg = n.call("identity.register", {{"phone", phone}});
  REQUIRE_MESSAGE(reg.ok, reg.code);
  e.user_id = str(reg.body, "user_id");
  CHECK(reg.body.at("otp_expires_in_s").as_int64() == 300);
  auto verified = n.call("identity.verify_otp", {{"phone", phone}, {"code", n.last_code(phone)}});
  REQUIRE_MESSAGE(verified.ok, verified.code);
  CHECK(str(verified.body, "user_id") == e.user_id);
  auto bound = n.call("identity.bind_device",
                      {{"enrolment_token", str(verified.body, "enrolment_token")},
                       {"public_key", tokens::device_public_key_b64url(e.device_key)},
                       {"device_name", "test phone"},
                       {"mpin", mpin}});
  REQUIRE_MESSAGE(bound.ok, bound.code);
  e.device_id = str(bound.body, "device_id");
  return e;
}

inline outcome login(identity_node& n, const enrolled& e, const std::string& mpin = "2468",
              const tokens::signing_key* signer = nullptr) {
  auto ch = n.call("identity.challenge", {{"device_id", e.device_id}});
  if (!ch.ok) return ch;
  auto sig = tokens::sign_message_es256(signer ? *signer : e.device_key, str(ch.body, "challenge"));
  return n.call("identity.login", {{"device_id", e.device_id},
                                   {"challenge_id", str(ch.body, "challenge_id")},
                                   {"signature", sig},
                                   {"mpin", mpin}});
}

inline tokens::jwt_key_store keys_of(identity_node& n) {
  auto jwks = n.call("identity.jwks", {});
  REQUIRE(jwks.ok);
  std::string err;
  auto set = tokens::jwk_set::from_jwks_json(json::serialize(jwks.body), err);
  REQUIRE_MESSAGE(set, err);
  return tokens::jwt_key_store{std::move(*set)};
}

// An access token as the gateway sees it, with identity's keys of the moment.
inline tokens::jwt_outcome verify_access(identity_node& n, const std::string& token) {
  auto store = keys_of(n);
  tokens::jwt_verifier verifier{{"superapp-identity", "superapp-mobile"}, store, *n.clock};
  return verifier.verify(token);
}


}  // namespace superapp::identity::testing
