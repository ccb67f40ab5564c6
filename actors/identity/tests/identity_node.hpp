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
#include "tests/support/domain_node.hpp"

namespace superapp::identity::testing {

using namespace std::chrono_literals;
namespace json = boost::json;

using superapp::testing::outcome;
using superapp::testing::str;
using superapp::testing::on_postgres;

// The identity domain's tree with its SMS simulator and a manual clock; `settings` are read at
// each start.
struct identity_node : superapp::testing::domain_node {
  sim::sms_simulator sms;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  identity::identity_settings settings;

  identity_node()
      : domain_node("identity", [this](const std::string& db_name) {
          return identity::identity_domain(settings, db_name);
        }) {
    std::string failure;
    REQUIRE(sms.start("127.0.0.1", 0, failure));
    settings.clock = clock;
    settings.sms_url = sms.base_url();
    settings.argon2 = {1, 8 * 1024};  // libsodium's minimum: keeps the suite fast
    start();
  }

  ~identity_node() { stop(); }

  // The stored form of every signing key (what a copy of the database would show).
  std::vector<std::string> stored_keys() {
    auto r = reader()->execute({"SELECT private_pem FROM signing_keys", {}});
    REQUIRE(r);
    std::vector<std::string> out;
    for (const auto& row : r->rows) out.push_back(persistence::as_text(row[0]).value_or(""));
    return out;
  }

  std::vector<events::event> outbox() { return domain_node::outbox("superapp.identity.events"); }

  std::string last_code(const std::string& phone) {
    auto m = sms.last_message(phone);
    REQUIRE(m);
    return sim::otp_code_in(m->text);
  }
};


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
