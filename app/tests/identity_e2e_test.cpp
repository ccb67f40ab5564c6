// Identity end to end through the gateway: real WebSocket clients on loopback, the gateway's
// session pipeline and filters, the identity domain tree on SQLite, the SMS simulator over HTTP.
// register -> OTP from the simulator -> bind device -> signed-challenge login -> an op with the
// access token -> refresh -> logout.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "app/domains.hpp"
#include "app/gateway_wiring.hpp"
#include "app/tests/ws_test_client.hpp"
#include "protocols/caller_seal.hpp"
#include "protocols/tokens/device_key.hpp"
#include "simulators/sms/sms_simulator.hpp"
#include "supervisors/domain.hpp"
#include "tests/support/temp_dir.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using superapp::testing::temp_dir;

// The identity domain and the gateway wired as `superapp run` wires them, on free ports.
struct identity_gateway_node {
  temp_dir dir;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  sim::sms_simulator sms;
  node::node_config config;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::optional<app::gateway_parts> gateway;
  caf::actor root;
  std::unique_ptr<ws::ws_listener> listener;
  std::uint16_t port = 0;

  identity_gateway_node() {
    std::string failure;
    REQUIRE(sms.start("127.0.0.1", 0, failure));
    config = node::embedded_defaults(dir.path.string());
    config.node.roles = {node::role::identity};
    add_error_renderers(cfg);
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto directory = std::make_shared<sup::front_door_directory>();
    sup::domain_settings settings;
    settings.database = node::to_database_config(config);
    std::filesystem::create_directories(config.persistence.sqlite_directory);
    settings.directory = directory;
    gateway = app::make_gateway(config, directory, *clock, /*dev_keys=*/true, failure);
    REQUIRE(gateway);
    // As in a node: the gateway seals what it forwards (public ops too, with no caller) and the
    // front door takes only sealed ops.
    auto seal = std::make_shared<const caller_seal>(caller_seal::generate(*clock));
    settings.caller_seal = seal;
    gateway->services->caller_seal = seal;
    app::domain_wiring wiring;
    wiring.sms_url = sms.base_url();
    wiring.clock = clock;
    root = sup::spawn_supervisor(
        *sys, sup::node_root_supervisor(
                  "root", {sup::domain_supervisor(app::domain_for(node::role::identity, wiring),
                                                  settings),
                           gateway->supervisor}));
    caf::scoped_actor self{*sys};
    REQUIRE_FALSE(sup::await_ready(self, root, 30s));
    auto sessions = app::find_sessions_supervisor(self, root, 5s);
    REQUIRE(sessions);
    config.gateway.port = 0;
    listener = std::make_unique<ws::ws_listener>(app::ws_config_from(config), *sys, sessions);
    auto endpoint = listener->start();
    REQUIRE(endpoint);
    port = endpoint->port;
  }

  ~identity_gateway_node() {
    listener->stop();
    caf::scoped_actor self{*sys};
    sup::shutdown(self, root, 30s);
  }
};

using client = testing::ws_test_client;
using testing::code_of;

std::string field(const json::object& reply, const char* name) {
  return std::string{reply.at("body").as_object().at(name).as_string()};
}

}  // namespace

TEST_CASE("a new user registers, binds a device, logs in, refreshes and logs out over WebSocket") {
  identity_gateway_node node;
  const std::string phone = "+447700900100";
  auto device_key = tokens::signing_key::generate("device");

  client anonymous{node.port};
  // Ops that need a token are refused without one; public ones are served.
  CHECK(code_of(anonymous.call("identity.devices", {}, false)) == "unauthorized");
  auto reg = anonymous.call("identity.register", {{"phone", phone}});
  REQUIRE_MESSAGE(code_of(reg) == "ok", json::serialize(reg));
  auto sms = node.sms.last_message(phone);
  REQUIRE(sms);
  auto verified = anonymous.call("identity.verify_otp",
                                 {{"phone", phone}, {"code", sim::otp_code_in(sms->text)}});
  REQUIRE_MESSAGE(code_of(verified) == "ok", json::serialize(verified));
  auto bound = anonymous.call("identity.bind_device",
                              {{"enrolment_token", field(verified, "enrolment_token")},
                               {"public_key", tokens::device_public_key_b64url(device_key)},
                               {"device_name", "e2e phone"},
                               {"mpin", "4821"}});
  REQUIRE_MESSAGE(code_of(bound) == "ok", json::serialize(bound));
  auto device_id = field(bound, "device_id");
  auto challenge = anonymous.call("identity.challenge", {{"device_id", device_id}});
  REQUIRE(code_of(challenge) == "ok");
  auto login = anonymous.call(
      "identity.login",
      {{"device_id", device_id},
       {"challenge_id", field(challenge, "challenge_id")},
       {"signature", tokens::sign_message_es256(device_key, field(challenge, "challenge"))},
       {"mpin", "4821"}});
  REQUIRE_MESSAGE(code_of(login) == "ok", json::serialize(login));

  // The gateway learns identity's keys from identity.jwks (public), as the gateway's key
  // fetcher does; then the access token opens an authenticated session.
  auto jwks = anonymous.call("identity.jwks", {}, false);
  REQUIRE(code_of(jwks) == "ok");
  std::string err;
  auto keys = tokens::jwk_set::from_jwks_json(json::serialize(jwks.at("body")), err);
  REQUIRE_MESSAGE(keys, err);
  node.gateway->services->keys.replace(std::move(*keys));

  client session{node.port, field(login, "access_token")};
  auto devices = session.call("identity.devices", {}, false);
  REQUIRE_MESSAGE(code_of(devices) == "ok", json::serialize(devices));
  auto list = devices.at("body").as_object().at("devices").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].as_object().at("device_id").as_string() == device_id);
  CHECK(list[0].as_object().at("current").as_bool());

  auto refreshed = anonymous.call("identity.refresh",
                                  {{"refresh_token", field(login, "refresh_token")}});
  REQUIRE_MESSAGE(code_of(refreshed) == "ok", json::serialize(refreshed));
  CHECK(field(refreshed, "refresh_token") != field(login, "refresh_token"));
  auto out = anonymous.call("identity.logout", {{"refresh_token", field(refreshed, "refresh_token")}});
  CHECK(code_of(out) == "ok");
  CHECK(code_of(anonymous.call("identity.refresh",
                               {{"refresh_token", field(refreshed, "refresh_token")}})) ==
        "refresh_token_invalid");
  // A tampered access token is refused at the gateway.
  auto tampered = field(login, "access_token");
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  client forged{node.port, tampered};
  CHECK(code_of(forged.call("identity.devices", {}, false)) == "unauthorized");
}
