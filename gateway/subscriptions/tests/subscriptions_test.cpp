// The subscription router on CAF's deterministic test coordinator: who sees which event, the
// numbering, resume after a reconnect, and the detached session's time to live.
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/subscriptions/subscriptions.hpp"
#include "protocols/error_catalogue.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::gateway;
using namespace std::chrono_literals;

namespace {

// A session actor in miniature: collects the frames pushed to it, and "end: <reason>" when the
// router ends it.
caf::behavior session_actor(caf::event_based_actor*, std::shared_ptr<std::vector<std::string>> got) {
  return {[got](push_atom, const std::string& frame) { got->push_back(frame); },
          [got](end_session_atom, const std::string& reason) { got->push_back("end: " + reason); }};
}

struct fixture : test_coordinator_fixture<> {
  subscription_limits limits;
  caf::actor router;

  fixture() {
    limits.max_events = 4;
    limits.max_topics = 2;
    limits.detached_ttl = 10s;
    router = sys.spawn(subscription_router, limits);
    consume_messages();
  }

  ~fixture() override {
    self->send_exit(router, caf::exit_reason::kill);
    run();
  }

  struct session {
    caf::actor actor;
    std::shared_ptr<std::vector<std::string>> got = std::make_shared<std::vector<std::string>>();
  };

  session open() {
    session s;
    s.actor = sys.spawn(session_actor, s.got);
    return s;
  }

  caf::expected<std::string> subscribe(const std::string& subject, const session& s,
                                       const std::string& topic) {
    caf::expected<std::string> out = caf::make_error(caf::sec::request_timeout);
    auto handle = self->request(router, caf::infinite, subscribe_atom::value, subject, s.actor, topic);
    consume_messages();
    handle.receive([&](std::string& token) { out = std::move(token); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  resume_outcome resume(const std::string& token, const std::string& subject, const session& s,
                        std::int64_t last_seq) {
    resume_outcome out;
    out.resync = false;
    auto handle =
        self->request(router, caf::infinite, resume_atom::value, token, subject, s.actor, last_seq);
    consume_messages();
    handle.receive([&](resume_outcome& r) { out = std::move(r); },
                 [&](caf::error&) { FAIL("resume failed"); });
    return out;
  }

  void publish(std::string type, std::vector<std::string> audience, std::string body = "{}") {
    self->send(router, client_event_atom::value,
               client_event{std::move(type), std::move(audience), std::move(body)});
    consume_messages();
  }

  // What the session pipeline sends once its token is verified.
  void authenticated(const std::string& subject, const std::string& device, const session& s) {
    self->send(router, session_user_atom::value, subject, device, s.actor);
    consume_messages();
  }

  void end(session& s) {
    self->send_exit(s.actor, caf::exit_reason::kill);
    consume_messages();
  }

  // A session of `user` that subscribed to banking.* and then lost its connection.
  std::string subscribed_then_dropped(const std::string& user) {
    auto first = open();
    auto token = subscribe(user, first, "banking.*");
    REQUIRE(token);
    end(first);
    return *token;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a user sees the events of the topics they subscribed that concern them") {
  auto alice = open();
  auto bob = open();
  REQUIRE(subscribe("alice", alice, "banking.*"));
  REQUIRE(subscribe("bob", bob, "banking.*"));
  publish("banking.transfer.completed", {"alice"}, R"({"id":"t-1"})");
  publish("rewards.coupon.awarded", {"alice"});  // a topic alice did not subscribe
  publish("banking.transfer.completed", {"alice", "bob"}, R"({"id":"t-2"})");
  REQUIRE(alice.got->size() == 2);
  CHECK(alice.got->at(0) ==
        R"({"type":"event","topic":"banking.transfer.completed","seq":1,"body":{"id":"t-1"}})");
  CHECK(alice.got->at(1).find(R"("seq":2)") != std::string::npos);
  REQUIRE(bob.got->size() == 1);  // bob never sees alice's own transfer
  CHECK(bob.got->at(0).find(R"("seq":1,"body":{"id":"t-2"})") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "an event without an audience or with a body that is not an object is never pushed") {
  auto alice = open();
  REQUIRE(subscribe("alice", alice, "banking.*"));
  publish("banking.ledger.closed", {});
  publish("banking.transfer.completed", {"alice"}, "[1,2]");
  publish("banking.transfer.completed", {"alice"}, "{not json");
  CHECK(alice.got->empty());
}

TEST_CASE_FIXTURE(fixture, "a bad topic and one topic too many are refused; subscribing twice is one subscription") {
  auto alice = open();
  auto bad = subscribe("alice", alice, "Banking.*");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == platform_errc::bad_request);
  auto token = subscribe("alice", alice, "banking.*");
  REQUIRE(token);
  auto again = subscribe("alice", alice, "banking.*");
  REQUIRE(again);
  CHECK(*again == *token);  // one resume token per session
  REQUIRE(subscribe("alice", alice, "rewards.*"));
  auto third = subscribe("alice", alice, "kyc.*");
  REQUIRE_FALSE(third);
  CHECK(third.error() == platform_errc::bad_request);
}

TEST_CASE_FIXTURE(fixture, "after a reconnect the missed events are replayed with their seq") {
  auto first = open();
  auto token = subscribe("alice", first, "banking.*");
  REQUIRE(token);
  publish("banking.transfer.completed", {"alice"}, R"({"n":1})");
  REQUIRE(first.got->size() == 1);
  end(first);
  publish("banking.transfer.completed", {"alice"}, R"({"n":2})");
  publish("banking.transfer.completed", {"alice"}, R"({"n":3})");
  auto second = open();
  auto outcome = resume(*token, "alice", second, 1);
  CHECK_FALSE(outcome.resync);
  REQUIRE(outcome.frames.size() == 2);
  CHECK(outcome.frames[0].find(R"("seq":2,"body":{"n":2})") != std::string::npos);
  CHECK(outcome.frames[1].find(R"("seq":3,"body":{"n":3})") != std::string::npos);
  // Live again: the next event goes to the new connection with the next seq.
  publish("banking.transfer.completed", {"alice"}, R"({"n":4})");
  REQUIRE(second.got->size() == 1);
  CHECK(second.got->at(0).find(R"("seq":4)") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a gap longer than the kept events asks the client to resync") {
  const auto token = subscribed_then_dropped("alice");
  for (int i = 0; i < 6; ++i) publish("banking.transfer.completed", {"alice"});  // keeps 3..6
  auto second = open();
  CHECK(resume(token, "alice", second, 0).resync);
  // Still subscribed after the resync: new events flow.
  publish("banking.transfer.completed", {"alice"});
  CHECK(second.got->size() == 1);
}

TEST_CASE_FIXTURE(fixture, "another user's resume token is answered like an unknown one") {
  const auto token = subscribed_then_dropped("alice");
  publish("banking.transfer.completed", {"alice"});
  auto mallory = open();
  auto stolen = resume(token, "mallory", mallory, 0);
  CHECK(stolen.resync);
  CHECK(stolen.frames.empty());
  CHECK(resume("no-such-token", "alice", mallory, 0).resync);
  publish("banking.transfer.completed", {"alice"});
  CHECK(mallory.got->empty());
}

TEST_CASE_FIXTURE(fixture, "a disconnected session's events are kept for the TTL, then forgotten") {
  const auto token = subscribed_then_dropped("alice");
  publish("banking.transfer.completed", {"alice"});
  advance_time(10s);
  consume_messages();
  auto second = open();
  CHECK(resume(token, "alice", second, 0).resync);  // the token no longer exists
  publish("banking.transfer.completed", {"alice"});
  CHECK(second.got->empty());  // and nothing was re-attached
}

TEST_CASE_FIXTURE(fixture, "a logout or a revoked device ends the sessions it names, after their push") {
  auto phone = open(), tablet = open(), laptop = open(), bobs = open();
  authenticated("alice", "d-phone", phone);
  authenticated("alice", "d-tablet", tablet);
  authenticated("alice", "d-laptop", laptop);
  authenticated("bob", "d-phone", bobs);  // same device id, another user: never touched
  REQUIRE(subscribe("alice", tablet, "identity.*"));
  publish("identity.user.logged_out", {"alice"}, R"({"device_id":"d-phone","everywhere":false})");
  CHECK(*phone.got == std::vector<std::string>{"end: logged out"});
  CHECK(tablet.got->size() == 1);  // the push, but not the end: another device
  CHECK(laptop.got->empty());
  publish("identity.device.revoked", {"alice"}, R"({"device_id":"d-tablet"})");
  REQUIRE(tablet.got->size() == 3);
  CHECK(tablet.got->at(1).find(R"("topic":"identity.device.revoked")") != std::string::npos);
  CHECK(tablet.got->at(2) == "end: device revoked");  // the subscribed session got its push first
  publish("identity.user.logged_out", {"alice"}, R"({"everywhere":true})");
  CHECK(laptop.got->back() == "end: logged out");
  CHECK(bobs.got->empty());
  // Other events end nothing, and a session that is gone is forgotten.
  end(laptop);
  publish("identity.device.bound", {"alice"}, R"({"device_id":"d-new"})");
  publish("identity.user.logged_out", {"alice"}, R"({"everywhere":true})");
  CHECK(phone.got->size() == 3);
}

TEST_CASE("which identity events end which sessions") {
  auto ending = [](const char* type, const char* body) {
    return session_ending_for(type, boost::json::parse(body).as_object());
  };
  auto one = ending("identity.user.logged_out", R"({"device_id":"d-1","everywhere":false})");
  REQUIRE(one);
  CHECK_FALSE(one->every_device);
  CHECK(one->device_id == "d-1");
  auto all = ending("identity.user.logged_out", R"({"everywhere":true})");
  REQUIRE(all);
  CHECK(all->every_device);
  CHECK(ending("identity.device.revoked", R"({"device_id":"d-2"})")->reason == "device revoked");
  CHECK_FALSE(ending("identity.device.revoked", R"({})"));
  CHECK_FALSE(ending("identity.user.logged_out", R"({"everywhere":false})"));
  CHECK_FALSE(ending("identity.device.bound", R"({"device_id":"d-3"})"));
}
