// The kyc domain over a real database and the real KYC provider simulator, whose signed
// callbacks reach the front door the way the gateway hands them over (POST /webhooks/kyc ->
// kyc.provider_callback). Once on SQLite, once on PostgreSQL.
#include <doctest/doctest.h>

#include <mutex>
#include <thread>

#include "actors/kyc/kyc_domain.hpp"
#include "actors/kyc/webhook.hpp"
#include "simulators/http/http_server.hpp"
#include "simulators/kyc/kyc_simulator.hpp"
#include "tests/support/domain_node.hpp"

using namespace superapp;
using namespace superapp::testing;
using namespace std::chrono_literals;

namespace {

const std::string secret = "kyc webhook secret for tests";
const caller alice{"user-alice", "dev-a", {"user"}};
const caller bob{"user-bob", "dev-b", {"user"}};

// The domain, the provider, and between them a stand-in for the gateway's webhook route.
struct kyc_node : domain_node {
  kyc::kyc_settings settings;
  sim::kyc_simulator provider;
  std::mutex mutex;
  std::vector<std::string> callback_codes;
  std::mutex door_mutex;  // held by a delivery in progress and by stop/start around the tree
  bool accepting = true;  // "ok" or the front door's wire code, per delivery
  sim::http_server webhooks{[this](const sim::http_query& q) { return on_webhook(q); }};

  kyc_node()
      : domain_node("kyc", [this](const std::string& db_name) { return kyc::kyc_domain(settings, db_name); }) {
    std::string failure;
    REQUIRE(provider.start("127.0.0.1", 0, failure));
    REQUIRE(webhooks.start("127.0.0.1", 0, failure));
    provider.set_decision_delay(30ms);
    provider.set_webhook(webhooks.base_url() + "/webhooks/kyc", secret);
    settings.provider_url = provider.base_url();
    settings.webhook_secret = secret;
    start();
  }

  ~kyc_node() {
    provider.stop();
    webhooks.stop();
    stop();
  }

  sim::http_answer on_webhook(const sim::http_query& q) {
    auto header = [&](const char* name) {
      auto it = q.headers.find(name);
      return it == q.headers.end() ? std::string{} : it->second;
    };
    auto body = json::serialize(json::object{{"payload", q.body},
                                             {"timestamp", header("x-kyc-timestamp")},
                                             {"signature", header("x-kyc-signature")}});
    std::unique_lock<std::mutex> up{door_mutex};
    if (!accepting) return {503, R"({"error":"down"})"};
    auto out = call_raw("kyc.provider_callback", body);
    up.unlock();
    std::lock_guard<std::mutex> guard{mutex};
    callback_codes.push_back(out.ok ? "ok" : out.code);
    return {out.ok ? 200 : (out.code == "unavailable" ? 503 : 400), out.ok ? json::serialize(out.body) : "{}"};
  }

  std::vector<std::string> codes() {
    std::lock_guard<std::mutex> guard{mutex};
    return callback_codes;
  }

  // Waits until the callbacks so far number `n`.
  bool await_callbacks(std::size_t n, std::chrono::seconds within = 15s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (codes().size() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  // The node goes down and comes back; the provider's deliveries meanwhile are answered 503.
  void go_down() {
    std::lock_guard<std::mutex> guard{door_mutex};
    accepting = false;
    stop();
  }
  void come_back() {
    std::lock_guard<std::mutex> guard{door_mutex};
    start();
    accepting = true;
  }

  outcome status(const caller& who = alice) { return call("kyc.status", {}, who); }

  // Waits for the caller's latest check to leave "pending"; its state.
  std::string await_decision(const caller& who = alice) {
    auto until = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < until) {
      auto s = status(who);
      REQUIRE(s.ok);
      if (s.body.contains("check_state") && str(s.body, "check_state") != "pending")
        return str(s.body, "check_state");
      std::this_thread::sleep_for(10ms);
    }
    return "pending";
  }

  std::vector<events::event> events() { return outbox("superapp.kyc.events"); }
};

json::object submission(const std::string& level, std::vector<std::pair<std::string, std::string>> docs) {
  json::array documents;
  for (auto& [type, number] : docs) documents.push_back(json::object{{"type", type}, {"number", number}});
  return {{"level", level}, {"documents", documents}};
}

outcome submit(kyc_node& n, const json::object& body, const std::string& key, const caller& who = alice) {
  return n.call("kyc.submit", body, who, key);
}

// A callback as the provider would send it, signed with `key` at `at` (unix seconds).
outcome forged(kyc_node& n, const std::string& payload, const std::string& key, std::int64_t at) {
  auto ts = std::to_string(at);
  return n.call("kyc.provider_callback", {{"payload", payload},
                                          {"timestamp", ts},
                                          {"signature", kyc::webhook_signature(key, ts, payload)}});
}

std::int64_t wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("a new user is at the default level; the levels and their limits are listed") {
  kyc_node n;
  auto s = n.status();
  REQUIRE_MESSAGE(s.ok, s.code);
  CHECK(str(s.body, "level") == "minimum");
  CHECK_FALSE(s.body.contains("check_id"));
  bool gbp = false;
  for (const auto& row : s.body.at("limits").as_array())
    if (row.at("currency") == "GBP") gbp = row.at("per_transaction_minor").as_int64() == 25000;
  CHECK(gbp);
  auto levels = n.call("kyc.levels", {}, alice);
  REQUIRE(levels.ok);
  CHECK(str(levels.body, "default_level") == "minimum");
  CHECK(levels.body.at("levels").as_array().size() == 3);
  CHECK(levels.body.at("document_types").as_array().size() >= 3);
}

TEST_CASE("documents go to the provider; its signed callback verifies the user at the new level") {
  kyc_node n;
  auto r = submit(n, submission("standard", {{"passport", "P 1234 56789"}}), "k-1");
  REQUIRE_MESSAGE(r.ok, r.code);
  CHECK(str(r.body, "state") == "pending");
  CHECK(str(r.body, "level") == "standard");
  auto check_id = str(r.body, "check_id");
  CHECK(n.await_decision() == "verified");
  auto s = n.status();
  CHECK(str(s.body, "level") == "standard");
  CHECK(str(s.body, "check_id") == check_id);
  // The decision is visible as soon as the front door has committed it, which can be before the
  // webhook stand-in records the answer it got.
  REQUIRE(n.await_callbacks(1));
  REQUIRE(n.codes() == std::vector<std::string>{"ok"});

  auto events = n.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "kyc.check.verified");
  CHECK(events[0].aggregate_id == alice.subject);
  CHECK(events[0].sequence == 1);
  CHECK(events[0].audience == std::vector<std::string>{alice.subject});
  auto body = json::parse(events[0].body_json).as_object();
  CHECK(str(body, "check_id") == check_id);
  CHECK(str(body, "level_now") == "standard");
  CHECK(!body.at("limits").as_array().empty());

  // Never the whole document number in the database.
  auto rows = n.reader()->execute({"SELECT documents FROM checks", {}});
  REQUIRE(rows);
  auto stored = persistence::as_text(rows->rows.at(0)[0]).value_or("");
  CHECK(stored.find("6789") != std::string::npos);
  CHECK(stored.find("1234 56789") == std::string::npos);

  // The same level again is refused; the next one up needs its own count of documents.
  CHECK(submit(n, submission("standard", {{"passport", "P1"}}), "k-2").code == "level_already_held");
  CHECK(submit(n, submission("minimum", {}), "k-3").code == "level_already_held");
  CHECK(submit(n, submission("full", {{"passport", "P2"}}), "k-4").code == "invalid_documents");
  auto full = submit(n, submission("full", {{"passport", "P2"}, {"proof_of_address", "U-77"}}), "k-5");
  REQUIRE_MESSAGE(full.ok, full.code);
  CHECK(n.await_decision() == "verified");
  CHECK(str(n.status().body, "level") == "full");
  CHECK(n.events().size() == 2);
}

TEST_CASE("a rejected check leaves the level as it was, says why, and may be tried again") {
  kyc_node n;
  REQUIRE(submit(n, submission("standard", {{"driving_licence", "REJECT-1"}}), "k-1").ok);
  CHECK(n.await_decision() == "rejected");
  auto s = n.status();
  CHECK(str(s.body, "level") == "minimum");
  CHECK(str(s.body, "check_reason") == "document_rejected");
  auto events = n.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "kyc.check.rejected");
  CHECK(str(json::parse(events[0].body_json).as_object(), "reason") == "document_rejected");
  REQUIRE(submit(n, submission("standard", {{"driving_licence", "DL-2"}}), "k-2").ok);
  CHECK(n.await_decision() == "verified");
}

TEST_CASE("callbacks with a wrong signature or a stale timestamp change nothing") {
  kyc_node n;
  n.provider.set_webhook(n.webhooks.base_url() + "/webhooks/kyc", "not our secret");
  REQUIRE(submit(n, submission("standard", {{"passport", "P1"}}), "k-1").ok);
  REQUIRE(n.await_callbacks(1));
  CHECK(n.codes()[0] == "webhook_signature_invalid");
  CHECK(str(n.status().body, "check_state") == "pending");

  // The same decision, signed with our secret but 10 minutes ago (a captured delivery), then
  // now (the provider's honest retry).
  auto check_id = str(n.status().body, "check_id");
  auto payload = json::serialize(json::object{{"provider_check_id", "pc-1"}, {"reference", check_id},
                                              {"level", "standard"}, {"outcome", "verified"}, {"reason", ""}});
  CHECK(forged(n, payload, secret, wall_s() - 600).code == "webhook_stale");
  CHECK(forged(n, payload, secret, wall_s() + 600).code == "webhook_stale");
  CHECK(str(n.status().body, "check_state") == "pending");
  CHECK(n.events().empty());
  auto honest = forged(n, payload, secret, wall_s());
  REQUIRE_MESSAGE(honest.ok, honest.code);
  CHECK(str(n.status().body, "check_state") == "verified");
  CHECK(n.events().size() == 1);
}

TEST_CASE("a repeated delivery is taken once; a contradicting or unknown one is refused") {
  kyc_node n;
  auto r = submit(n, submission("standard", {{"passport", "P1"}}), "k-1");
  REQUIRE(r.ok);
  CHECK(n.await_decision() == "verified");
  n.provider.resend_webhook("pc-1");
  REQUIRE(n.await_callbacks(2));
  CHECK(n.codes()[1] == "ok");
  CHECK(n.events().size() == 1);

  auto check_id = str(r.body, "check_id");
  auto payload = [&](const std::string& reference, const std::string& outcome, const std::string& level) {
    return json::serialize(json::object{{"provider_check_id", "pc-1"}, {"reference", reference},
                                        {"level", level}, {"outcome", outcome}, {"reason", ""}});
  };
  auto dup = forged(n, payload(check_id, "verified", "standard"), secret, wall_s());
  REQUIRE(dup.ok);
  CHECK(dup.body.at("duplicate").as_bool());
  CHECK(forged(n, payload(check_id, "rejected", "standard"), secret, wall_s()).code == "webhook_conflict");
  CHECK(forged(n, payload(check_id, "verified", "full"), secret, wall_s()).code == "webhook_conflict");
  CHECK(forged(n, payload("kyc-nope", "verified", "standard"), secret, wall_s()).code == "not_found");
  CHECK(forged(n, "{\"not\":\"a decision\"}", secret, wall_s()).code == "bad_request");
  CHECK(n.call("kyc.provider_callback", {{"payload", "{}"}}).code == "bad_request");
  CHECK(str(n.status().body, "level") == "standard");
}

TEST_CASE("a retried submission answers the first reply; the same key with another body is refused") {
  kyc_node n;
  auto body = submission("standard", {{"passport", "P1"}});
  auto first = submit(n, body, "k-1");
  REQUIRE(first.ok);
  auto again = submit(n, body, "k-1");
  REQUIRE_MESSAGE(again.ok, again.code);
  CHECK(str(again.body, "check_id") == str(first.body, "check_id"));
  CHECK(n.provider.checks_received() == 1);
  CHECK(submit(n, submission("standard", {{"passport", "P2"}}), "k-1").code == "idempotency_key_reused");
  // Another user's key of the same name is theirs.
  CHECK(submit(n, body, "k-1", bob).ok);
}

TEST_CASE("bad submissions are refused with their own codes and record nothing") {
  kyc_node n;
  n.provider.set_decision_delay(2000ms);  // the first check stays pending meanwhile
  CHECK(submit(n, submission("gold", {{"passport", "P1"}}), "k-1").code == "invalid_level");
  CHECK(submit(n, submission("standard", {}), "k-2").code == "invalid_documents");
  CHECK(submit(n, submission("standard", {{"library_card", "L1"}}), "k-3").code == "invalid_documents");
  CHECK(submit(n, submission("full", {{"passport", "P1"}, {"passport", "P2"}}), "k-4").code ==
        "invalid_documents");
  CHECK(submit(n, submission("standard", {{"passport", "P1;DROP"}}), "k-5").code == "invalid_documents");
  CHECK(n.call("kyc.submit", {{"level", "standard"}}, alice, "k-6").code == "bad_request");
  CHECK(n.call("kyc.submit", submission("standard", {{"passport", "P1"}}), alice).code ==
        "idempotency_key_required");
  CHECK(n.call("kyc.submit", submission("standard", {{"passport", "P1"}}), {}, "k-7").code == "unauthorized");
  caller partner{"shop-1", "", {"ecommerce.orders"}};
  CHECK(n.call("kyc.submit", submission("standard", {{"passport", "P1"}}), partner, "k-8").code ==
        "forbidden");
  CHECK(n.call("kyc.status", {}, partner).code == "forbidden");
  CHECK(n.provider.checks_received() == 0);
  auto rows = n.reader()->execute({"SELECT COUNT(*) FROM checks", {}});
  REQUIRE(rows);
  CHECK(persistence::as_int(rows->rows[0][0]).value_or(-1) == 0);

  REQUIRE(submit(n, submission("standard", {{"passport", "P1"}}), "k-9").ok);
  CHECK(submit(n, submission("full", {{"passport", "P1"}, {"national_id", "N1"}}), "k-10").code ==
        "check_pending");
}

TEST_CASE("a provider outage is answered provider_unavailable and the next try goes through") {
  kyc_node n;
  n.provider.set_failing(true);
  auto r = submit(n, submission("standard", {{"passport", "P1"}}), "k-1");
  CHECK(r.code == "provider_unavailable");
  CHECK(str(n.status().body, "check_state") == "failed");
  n.provider.set_failing(false);
  // The failed try was not remembered under its key: the retry is a new attempt.
  auto again = submit(n, submission("standard", {{"passport", "P1"}}), "k-1");
  REQUIRE_MESSAGE(again.ok, again.code);
  CHECK(n.await_decision() == "verified");
}

TEST_CASE("a check pending across a restart is decided by the provider's retried callback") {
  kyc_node n;
  n.provider.set_decision_delay(1000ms);  // the node is down before it is decided
  REQUIRE(submit(n, submission("standard", {{"passport", "P1"}}), "k-1").ok);
  n.go_down();  // the decision's first delivery finds the node down (503)
  auto until = std::chrono::steady_clock::now() + 15s;
  while (n.provider.webhook_attempts() < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(n.provider.webhook_attempts() >= 1);
  CHECK(n.provider.webhooks_delivered() == 0);
  n.come_back();
  CHECK(n.await_decision() == "verified");
  CHECK(n.events().size() == 1);
}

TEST_CASE("users see only their own checks") {
  kyc_node n;
  REQUIRE(submit(n, submission("standard", {{"passport", "P1"}}), "k-1").ok);
  CHECK(n.await_decision() == "verified");
  auto s = n.status(bob);
  REQUIRE(s.ok);
  CHECK(str(s.body, "level") == "minimum");
  CHECK_FALSE(s.body.contains("check_id"));
}
