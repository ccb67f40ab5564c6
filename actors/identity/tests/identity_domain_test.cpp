// The identity domain end to end below the gateway: its real tree (store, front door, service)
// over a real database (SQLite, or PostgreSQL under the `postgres` fixture) and a real SMS
// simulator on loopback; every attack of issue 6 in this scope, and restart survival.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/identity/tests/identity_node.hpp"
#include "actors/identity/identity_domain.hpp"
#include "actors/identity/identity_errc.hpp"
#include "actors/identity/identity_messages.hpp"
#include "persistence/connection.hpp"
#include "persistence/outbox.hpp"
#include "protocols/events/event.hpp"
#include "protocols/tokens/device_key.hpp"
#include "protocols/tokens/jwt.hpp"
#include "simulators/sms/sms_simulator.hpp"
#include "supervisors/node/logging.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace json = boost::json;

using namespace superapp::identity::testing;

TEST_CASE("a user registers by SMS code, binds a device and logs in with a verifiable ES256 token") {
  identity_node n;
  auto e = enrol(n, "+447700900001");
  auto tokens = login(n, e);
  REQUIRE_MESSAGE(tokens.ok, tokens.code);
  CHECK(str(tokens.body, "token_type") == "Bearer");
  CHECK(tokens.body.at("expires_in_s").as_int64() == 900);
  auto verified = verify_access(n, str(tokens.body, "access_token"));
  REQUIRE_MESSAGE(verified, verified.failure);
  CHECK(verified.accepted->subject == e.user_id);
  CHECK(verified.accepted->device_id == e.device_id);
  CHECK(verified.accepted->has_scope("user"));
  n.clock->advance(901s + tokens::jwt_clock_skew_allowance);
  CHECK(verify_access(n, str(tokens.body, "access_token")).failure == "expired");
}

TEST_CASE("bad phone numbers are refused and resends are limited") {
  identity_node n;
  CHECK(n.call("identity.register", {{"phone", "07700900123"}}).code == "invalid_phone");
  CHECK(n.call("identity.register", {{"phone", "+447700900002"}}).ok);
  CHECK(n.call("identity.register", {{"phone", "+447700900002"}}).code == "otp_resend_too_soon");
  n.clock->advance(31s);
  CHECK(n.call("identity.register", {{"phone", "+447700900002"}}).ok);
  CHECK(n.sms.last_message("+447700900002")->count == 2);
}

TEST_CASE("an OTP is single use, expires after 5 minutes and dies on the 6th try") {
  identity_node n;
  const std::string phone = "+447700900003";
  REQUIRE(n.call("identity.register", {{"phone", phone}}).ok);
  auto code = n.last_code(phone);
  auto wrong = code == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i)
    CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", wrong}}).code == "otp_wrong");
  CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", code}}).code ==
        "otp_tries_exhausted");

  n.clock->advance(31s);
  REQUIRE(n.call("identity.register", {{"phone", phone}}).ok);
  code = n.last_code(phone);
  CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", code}}).ok);
  CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", code}}).code == "otp_expired");

  n.clock->advance(31s);
  REQUIRE(n.call("identity.register", {{"phone", phone}}).ok);
  code = n.last_code(phone);
  n.clock->advance(300s);
  CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", code}}).code == "otp_expired");
}

TEST_CASE("the SMS provider being down is a retryable sms_unavailable and sends nothing") {
  identity_node n;
  n.sms.set_failing(true);
  auto r = n.call("identity.register", {{"phone", "+447700900004"}});
  CHECK(r.code == "sms_unavailable");
  CHECK(describe(identity::make_error(identity::identity_errc::sms_unavailable)).retryable);
  n.sms.set_failing(false);
  CHECK(n.call("identity.register", {{"phone", "+447700900004"}}).ok);  // no resend penalty
  n.sms.stop();
  n.clock->advance(31s);
  CHECK(n.call("identity.register", {{"phone", "+447700900004"}}).code == "sms_unavailable");
}

TEST_CASE("a replayed, foreign-key or wrong-message signature cannot log in") {
  identity_node n;
  auto e = enrol(n, "+447700900005");
  auto ch = n.call("identity.challenge", {{"device_id", e.device_id}});
  REQUIRE(ch.ok);
  auto sig = tokens::sign_message_es256(e.device_key, str(ch.body, "challenge"));
  json::object body{{"device_id", e.device_id},
                    {"challenge_id", str(ch.body, "challenge_id")},
                    {"signature", sig},
                    {"mpin", "2468"}};
  CHECK(n.call("identity.login", body).ok);
  CHECK(n.call("identity.login", body).code == "challenge_invalid");  // replay

  auto stranger = tokens::signing_key::generate("stranger");
  CHECK(login(n, e, "2468", &stranger).code == "signature_invalid");

  auto ch2 = n.call("identity.challenge", {{"device_id", e.device_id}});
  REQUIRE(ch2.ok);
  auto other_msg = tokens::sign_message_es256(e.device_key, str(ch2.body, "challenge") + "x");
  CHECK(n.call("identity.login", {{"device_id", e.device_id},
                                  {"challenge_id", str(ch2.body, "challenge_id")},
                                  {"signature", other_msg},
                                  {"mpin", "2468"}})
            .code == "signature_invalid");
  // A challenge expires after 60 s.
  auto ch3 = n.call("identity.challenge", {{"device_id", e.device_id}});
  n.clock->advance(61s);
  CHECK(n.call("identity.login",
               {{"device_id", e.device_id},
                {"challenge_id", str(ch3.body, "challenge_id")},
                {"signature", tokens::sign_message_es256(e.device_key, str(ch3.body, "challenge"))},
                {"mpin", "2468"}})
            .code == "challenge_invalid");
}

TEST_CASE("five wrong mPINs lock the credential, and the lock survives reopening the database") {
  identity_node n;
  auto e = enrol(n, "+447700900006");
  for (int i = 0; i < 4; ++i) CHECK(login(n, e, "9999").code == "wrong_credential");
  CHECK(login(n, e, "9999").code == "credential_locked");
  CHECK(login(n, e, "2468").code == "credential_locked");  // even the right one
  n.stop();
  n.start();
  CHECK(login(n, e, "2468").code == "credential_locked");
  n.clock->advance(61s);
  CHECK(login(n, e, "2468").ok);
}

TEST_CASE("a refresh token rotates on use, and reusing one revokes its whole family") {
  identity_node n;
  auto e = enrol(n, "+447700900007");
  auto first = login(n, e);
  REQUIRE(first.ok);
  auto r1 = str(first.body, "refresh_token");
  auto second = n.call("identity.refresh", {{"refresh_token", r1}});
  REQUIRE_MESSAGE(second.ok, second.code);
  auto r2 = str(second.body, "refresh_token");
  CHECK(r2 != r1);
  CHECK(n.call("identity.refresh", {{"refresh_token", r1}}).code == "refresh_token_reused");
  CHECK(n.call("identity.refresh", {{"refresh_token", r2}}).code == "refresh_token_invalid");
  CHECK(n.call("identity.refresh", {{"refresh_token", "not-a-token"}}).code ==
        "refresh_token_invalid");
  // Another login is another family: unaffected by the theft above, ended by logout.
  auto other = login(n, e);
  REQUIRE(other.ok);
  CHECK(n.call("identity.logout", {{"refresh_token", str(other.body, "refresh_token")}}).ok);
  CHECK(n.call("identity.refresh", {{"refresh_token", str(other.body, "refresh_token")}}).code ==
        "refresh_token_invalid");
}

TEST_CASE("log out everywhere revokes every login of the user") {
  identity_node n;
  auto e = enrol(n, "+447700900008");
  auto a = login(n, e), b = login(n, e), c = login(n, e);
  REQUIRE(a.ok);
  REQUIRE(b.ok);
  REQUIRE(c.ok);
  REQUIRE(n.call("identity.logout", {{"refresh_token", str(c.body, "refresh_token")}}).ok);
  caller me{e.user_id, e.device_id, {"user"}};
  auto out = n.call("identity.logout_all", {}, me);
  REQUIRE(out.ok);
  CHECK(out.body.at("sessions_revoked").as_int64() == 2);
  CHECK(n.call("identity.refresh", {{"refresh_token", str(a.body, "refresh_token")}}).code ==
        "refresh_token_invalid");
  CHECK(n.call("identity.logout_all", {}).code == "unauthorized");
  // Each logout is an event for the gateway to close the sessions it ended.
  auto events = n.outbox();
  REQUIRE(events.size() == 3);  // bound, logged out (one device), logged out everywhere
  CHECK(events[1].type == "identity.user.logged_out");
  auto one = json::parse(events[1].body_json).as_object();
  CHECK(str(one, "device_id") == e.device_id);
  CHECK_FALSE(one.at("everywhere").as_bool());
  CHECK(events[2].type == "identity.user.logged_out");
  CHECK(json::parse(events[2].body_json).as_object().at("everywhere").as_bool());
  CHECK(events[2].audience == std::vector<std::string>{e.user_id});
  CHECK(events[2].sequence == 3);
}

TEST_CASE("devices are listed and revoked by their owner only; a revoked device cannot log in") {
  identity_node n;
  auto alice = enrol(n, "+447700900009");
  auto bob = enrol(n, "+447700900010");
  caller as_alice{alice.user_id, alice.device_id, {"user"}};
  caller as_bob{bob.user_id, bob.device_id, {"user"}};
  auto listed = n.call("identity.devices", {}, as_alice);
  REQUIRE(listed.ok);
  auto& devices = listed.body.at("devices").as_array();
  REQUIRE(devices.size() == 1);
  CHECK(str(devices[0].as_object(), "device_id") == alice.device_id);
  CHECK(devices[0].as_object().at("current").as_bool());
  // Bob asking about Alice's device gets exactly what a missing device gets.
  auto foreign = n.call("identity.revoke_device", {{"device_id", alice.device_id}}, as_bob);
  auto missing = n.call("identity.revoke_device", {{"device_id", "d-nosuchdevice"}}, as_bob);
  CHECK(foreign.code == "not_found");
  CHECK(missing.code == "not_found");
  auto session = login(n, alice);
  REQUIRE(session.ok);
  CHECK(n.call("identity.revoke_device", {{"device_id", alice.device_id}}, as_alice).ok);
  CHECK(login(n, alice).code == "not_found");
  CHECK(n.call("identity.refresh", {{"refresh_token", str(session.body, "refresh_token")}}).code ==
        "refresh_token_invalid");
  CHECK(n.call("identity.challenge", {{"device_id", "d-unknown"}}).code == "not_found");
  CHECK(n.call("identity.devices", {}, as_alice).body.at("devices").as_array().empty());
}

TEST_CASE("a second device needs a fresh OTP and the user's existing mPIN") {
  identity_node n;
  const std::string phone = "+447700900011";
  auto first = enrol(n, phone, "1357");
  n.clock->advance(31s);
  REQUIRE(n.call("identity.register", {{"phone", phone}}).ok);
  auto v = n.call("identity.verify_otp", {{"phone", phone}, {"code", n.last_code(phone)}});
  REQUIRE(v.ok);
  auto key = tokens::signing_key::generate("second");
  json::object bind{{"enrolment_token", str(v.body, "enrolment_token")},
                    {"public_key", tokens::device_public_key_b64url(key)},
                    {"device_name", "tablet"},
                    {"mpin", "9999"}};
  CHECK(n.call("identity.bind_device", bind).code == "wrong_credential");
  bind["mpin"] = "1357";
  auto ok = n.call("identity.bind_device", bind);
  REQUIRE_MESSAGE(ok.ok, ok.code);
  CHECK(n.call("identity.bind_device", bind).code == "enrolment_invalid");  // single use
  bind["public_key"] = "AAAA";
  CHECK(n.call("identity.bind_device", bind).code == "invalid_public_key");
  caller me{first.user_id, first.device_id, {"user"}};
  CHECK(n.call("identity.devices", {}, me).body.at("devices").as_array().size() == 2);

  // Each binding and revocation is an event for the user's devices, written with the change.
  auto tablet = str(ok.body, "device_id");
  REQUIRE(n.call("identity.revoke_device", {{"device_id", tablet}}, me).ok);
  auto events = n.outbox();
  REQUIRE(events.size() == 3);
  std::vector<std::string> types;
  for (std::size_t i = 0; i < events.size(); ++i) {
    types.push_back(events[i].type);
    CHECK(events[i].aggregate_id == first.user_id);
    CHECK(events[i].sequence == static_cast<std::int64_t>(i + 1));
    CHECK(events[i].audience == std::vector<std::string>{first.user_id});
  }
  CHECK(types == std::vector<std::string>{"identity.device.bound", "identity.device.bound",
                                          "identity.device.revoked"});
  auto first_body = json::parse(events[0].body_json).as_object();
  CHECK(str(first_body, "device_id") == first.device_id);
  CHECK(first_body.at("first_device").as_bool());
  auto second_body = json::parse(events[1].body_json).as_object();
  CHECK(str(second_body, "device_id") == tablet);
  CHECK(str(second_body, "device_name") == "tablet");
  CHECK_FALSE(second_body.at("first_device").as_bool());
  CHECK(str(json::parse(events[2].body_json).as_object(), "device_id") == tablet);
  // Refused attempts (wrong mPIN, used enrolment) left no event behind.
}

TEST_CASE("signing keys rotate: the new key signs, the previous one still verifies") {
  identity_node n;
  auto e = enrol(n, "+447700900012");
  auto before = login(n, e);
  REQUIRE(before.ok);
  caf::scoped_actor self{*n.sys};
  auto service = n.call("identity.jwks", {});
  REQUIRE(service.body.at("keys").as_array().size() == 1);
  // Rotation is an internal message to the service; reach it through the tree.
  caf::actor svc;
  self->request(n.root, 5s, sup::which_child_atom::value, std::string{"service"})
      .receive([&](caf::actor& a) { svc = a; }, [](caf::error&) {});
  REQUIRE(svc);
  std::string kid;
  self->request(caf::actor_cast<identity::service_actor>(svc), 10s, identity::rotate_key_atom::value)
      .receive([&](std::string& k) { kid = k; }, [](caf::error&) {});
  REQUIRE_FALSE(kid.empty());
  auto store = keys_of(n);
  CHECK(store.current()->size() == 2);
  tokens::jwt_verifier verifier{{"superapp-identity", "superapp-mobile"}, store, *n.clock};
  CHECK(verifier.verify(str(before.body, "access_token")));
  auto after = login(n, e);
  REQUIRE(after.ok);
  auto header = *tokens::base64url_decode(
      str(after.body, "access_token").substr(0, str(after.body, "access_token").find('.')));
  CHECK(header.find(kid) != std::string::npos);
  // Keys persist: a restarted service publishes the same two.
  n.stop();
  n.start();
  CHECK(keys_of(n).current()->size() == 2);
}

TEST_CASE("signing keys are sealed at rest: the database alone does not give them away") {
  identity_node n;  // started without a storage key: its first key is in the clear
  REQUIRE(n.stored_keys().at(0).find("PRIVATE KEY") != std::string::npos);
  n.stop();
  std::string error;
  n.settings.storage_key = *identity::storage_key_from_hex(identity::new_storage_key_hex(), error);
  n.start();  // ... and sealed when identity starts with one
  auto e = enrol(n, "+447700900014");
  REQUIRE(login(n, e).ok);
  auto stored = n.stored_keys();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].rfind("sbx1:", 0) == 0);
  CHECK(stored[0].find("PRIVATE KEY") == std::string::npos);
  // The same key opens them after a restart; tokens signed before still verify.
  auto kid_before = keys_of(n).current()->size();
  n.stop();
  n.start();
  CHECK(keys_of(n).current()->size() == kid_before);
  CHECK(login(n, e).ok);
  // Another storage key does not: identity refuses to start rather than mint a new key.
  n.stop();
  auto right = n.settings.storage_key;
  n.settings.storage_key = *identity::storage_key_from_hex(identity::new_storage_key_hex(), error);
  CHECK_FALSE(n.try_start());
  n.settings.storage_key = right;
  n.start();
  CHECK(login(n, e).ok);
}

TEST_CASE("a storage key file holds 64 hex digits, nothing else") {
  std::string error;
  CHECK(identity::storage_key_from_hex(identity::new_storage_key_hex() + "\n", error));
  CHECK_FALSE(identity::storage_key_from_hex("abc", error));
  CHECK(error == "expected 64 hex digits");
  CHECK_FALSE(identity::storage_key_from_hex(std::string(64, 'g'), error));
  auto key = *identity::storage_key_from_hex(std::string(64, 'a'), error);
  auto sealed = identity::seal_stored(key, "secret");
  CHECK(identity::open_stored(key, sealed) == std::optional<std::string>{"secret"});
  auto tampered = sealed;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(identity::open_stored(key, tampered));
}

TEST_CASE("a password is set with the mPIN, logs in instead of it, and locks on its own") {
  identity_node n;
  auto e = enrol(n, "+447700900015");
  caller me{e.user_id, e.device_id, {"user"}};
  CHECK(n.call("identity.set_password", {{"mpin", "2468"}, {"password", "short"}}, me).code ==
        "bad_request");  // the schema refuses it before any rule
  CHECK(n.call("identity.set_password", {{"mpin", "1111"}, {"password", "correct horse"}}, me)
            .code == "wrong_credential");
  CHECK(n.call("identity.set_password", {{"mpin", "2468"}, {"password", "correct horse"}}).code ==
        "unauthorized");
  REQUIRE(n.call("identity.set_password", {{"mpin", "2468"}, {"password", "correct horse"}}, me).ok);
  auto by_password = [&](const std::string& password) {
    auto ch = n.call("identity.challenge", {{"device_id", e.device_id}});
    return n.call("identity.login",
                  {{"device_id", e.device_id},
                   {"challenge_id", str(ch.body, "challenge_id")},
                   {"signature", tokens::sign_message_es256(e.device_key, str(ch.body, "challenge"))},
                   {"password", password}});
  };
  CHECK(by_password("correct horse").ok);
  for (int i = 0; i < 4; ++i) CHECK(by_password("wrong horse!").code == "wrong_credential");
  CHECK(by_password("wrong horse!").code == "credential_locked");
  CHECK(by_password("correct horse").code == "credential_locked");
  CHECK(login(n, e).ok);  // the mPIN has its own counter
  // Neither or both knowledge factors is a malformed login.
  auto ch = n.call("identity.challenge", {{"device_id", e.device_id}});
  CHECK(n.call("identity.login",
               {{"device_id", e.device_id},
                {"challenge_id", str(ch.body, "challenge_id")},
                {"signature", tokens::sign_message_es256(e.device_key, str(ch.body, "challenge"))}})
            .code == "invalid_credential_format");
}

TEST_CASE("beyond the hashing pool's bound a login is refused as overloaded, not queued") {
  identity_node n;
  n.stop();
  n.settings.hashing_workers = 1;
  n.settings.max_hashing_in_flight = 1;
  n.start();
  auto e = enrol(n, "+447700900014");
  // Two logins in flight at once: the first takes the only hashing seat, the second is refused.
  auto c1 = n.call("identity.challenge", {{"device_id", e.device_id}});
  auto c2 = n.call("identity.challenge", {{"device_id", e.device_id}});
  REQUIRE(c1.ok);
  REQUIRE(c2.ok);
  auto login_request = [&](const outcome& ch) {
    op_request req;
    req.op = "identity.login";
    req.body_json = json::serialize(json::object{
        {"device_id", e.device_id},
        {"challenge_id", str(ch.body, "challenge_id")},
        {"signature", tokens::sign_message_es256(e.device_key, str(ch.body, "challenge"))},
        {"mpin", "2468"}});
    return req;
  };
  caf::scoped_actor a{*n.sys}, b{*n.sys};
  auto first = a->request(n.door, 20s, op_atom::value, login_request(c1));
  auto second = b->request(n.door, 20s, op_atom::value, login_request(c2));
  std::string first_code = "ok", second_code = "ok";
  first.receive([](op_reply&) {},
                [&](caf::error& err) { first_code = std::string{describe(err).wire_code}; });
  second.receive([](op_reply&) {},
                 [&](caf::error& err) { second_code = std::string{describe(err).wire_code}; });
  CHECK(first_code == "ok");
  CHECK(second_code == "overloaded");
  CHECK(login(n, e).ok);  // the seat is free again
}

TEST_CASE("no OTP, mPIN, token or hash appears in any log line") {
  std::ostringstream captured;
  node::init_logging({node::log_level::trace, node::log_format::json, ""},
                     std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  std::vector<std::string> secrets;
  {
    identity_node n;
    const std::string phone = "+447700900013";
    REQUIRE(n.call("identity.register", {{"phone", phone}}).ok);
    auto code = n.last_code(phone);
    secrets.push_back(code);
    CHECK(n.call("identity.verify_otp", {{"phone", phone}, {"code", code == "000000" ? "111111" : "000000"}}).code == "otp_wrong");
    auto v = n.call("identity.verify_otp", {{"phone", phone}, {"code", code}});
    REQUIRE(v.ok);
    secrets.push_back(str(v.body, "enrolment_token"));
    enrolled e;
    auto bound = n.call("identity.bind_device",
                        {{"enrolment_token", str(v.body, "enrolment_token")},
                         {"public_key", tokens::device_public_key_b64url(e.device_key)},
                         {"device_name", "p"},
                         {"mpin", "864209"}});
    REQUIRE(bound.ok);
    e.device_id = str(bound.body, "device_id");
    secrets.push_back("864209");
    CHECK(login(n, e, "555555").code == "wrong_credential");
    auto t = login(n, e, "864209");
    REQUIRE(t.ok);
    secrets.push_back(str(t.body, "access_token"));
    secrets.push_back(str(t.body, "refresh_token"));
    auto again = n.call("identity.refresh", {{"refresh_token", str(t.body, "refresh_token")}});
    CHECK(again.ok);
    CHECK(n.call("identity.refresh", {{"refresh_token", str(t.body, "refresh_token")}}).code ==
          "refresh_token_reused");
    // A step-up by SMS and the approval it earns: neither the code nor the approval is logged.
    caller who{str(t.body, "user_id"), e.device_id, {"user"}};
    json::object transfer{{"operation", "banking.transfer"},
                          {"amount", json::object{{"minor", 99'000}, {"currency", "GBP"}}},
                          {"payee", "acct-9"}};
    auto s = n.call("identity.step_up", {{"operation", "banking.transfer"},
                                         {"amount", transfer.at("amount")},
                                         {"payee", "acct-9"},
                                         {"method", "otp"}},
                    who, "idem-log-1");
    REQUIRE_MESSAGE(s.ok, s.code);
    auto step_code = n.last_code(phone);
    secrets.push_back(step_code);
    transfer["mpin"] = "864209";
    transfer["step_up"] = json::object{{"step_up_id", str(s.body, "step_up_id")}, {"otp", step_code}};
    auto approved = n.call("identity.authorise", transfer, who, "idem-log-2");
    REQUIRE_MESSAGE(approved.ok, approved.code);
    secrets.push_back(str(approved.body, "approval"));
  }
  spdlog::default_logger()->flush();
  auto text = captured.str();
  node::init_logging({node::log_level::info, node::log_format::json, ""},
                     std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr));
  CHECK(text.find("identity: login") != std::string::npos);  // the capture did see the flow
  CHECK(text.find("family revoked") != std::string::npos);
  CHECK(text.find("approval issued") != std::string::npos);
  for (const auto& s : secrets) CHECK_MESSAGE(text.find(s) == std::string::npos, "leaked: " << s);
  CHECK(text.find("$argon2id$") == std::string::npos);
  CHECK(text.find("PRIVATE KEY") == std::string::npos);
}
