// The bank simulator over real loopback HTTP with the project's client: consents gate every
// call, payments settle after a delay and are reported by signed webhooks (verified here with
// OpenSSL's EVP_MAC, not the simulator's code), and each fault shows as the header says.
#include <doctest/doctest.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "protocols/hex.hpp"
#include "protocols/http/http_client.hpp"
#include "simulators/bank/bank_simulator.hpp"
#include "simulators/http/http_server.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A key, not a C string: a NUL inside must count.
const std::string bank_secret{"bank\0hook-key", 13};
constexpr auto call_timeout = 5000ms;
constexpr auto settle_delay = 50ms;
constexpr auto slow_delay = 400ms;

using header_list = std::vector<std::pair<std::string, std::string>>;

// Lower-case hex HMAC-SHA256 through OpenSSL 3's EVP_MAC.
std::string hmac_sha256_hex(const std::string& key, const std::string& text) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  REQUIRE(mac != nullptr);
  EVP_MAC_CTX* context = EVP_MAC_CTX_new(mac);
  REQUIRE(context != nullptr);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t length = 0;
  const bool made =
      EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) == 1 &&
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(text.data()), text.size()) ==
          1 &&
      EVP_MAC_final(context, out, &length, sizeof out) == 1;
  EVP_MAC_CTX_free(context);
  EVP_MAC_free(mac);
  REQUIRE(made);
  return to_hex(out, length);
}

// What the receiver was sent, headers as the simulator server gives them (lower-cased).
struct webhook {
  std::map<std::string, std::string> headers;
  std::string body;

  bool verifies_with(const std::string& key) const {
    const std::string& stamp = headers.at("x-bank-timestamp");
    return headers.at("x-bank-signature") == "v1=" + hmac_sha256_hex(key, stamp + "." + body);
  }
};

// The webhook end of a payment initiator: answers `failures_first` deliveries 500, then 200.
class webhook_inbox {
 public:
  explicit webhook_inbox(int failures_first = 0) : failures_left_(failures_first) {
    std::string failure;
    REQUIRE_MESSAGE(server_.start("127.0.0.1", 0, failure), failure);
  }
  std::string url() const { return server_.base_url() + "/webhooks/bank"; }
  std::vector<webhook> received() {
    std::lock_guard<std::mutex> guard{mutex_};
    return received_;
  }

 private:
  std::mutex mutex_;
  int failures_left_;
  std::vector<webhook> received_;
  sim::http_server server_{[this](const sim::http_query& query) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (query.path == "/webhooks/bank") received_.push_back({query.headers, query.body});
    return sim::http_answer{failures_left_-- > 0 ? 500 : 200, "{}"};
  }};
};

// Polls `holds` every few ms for up to 10 s (generous: a loaded 2-core machine runs these).
bool comes_true(const std::function<bool()>& holds) {
  for (int polls = 0; polls < 2000; ++polls) {
    if (holds()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return holds();
}

json::object object_of(const http::response& r) {
  boost::system::error_code ec;
  auto parsed = json::parse(r.body, ec);
  REQUIRE_MESSAGE(!ec, r.body);
  REQUIRE(parsed.is_object());
  return parsed.as_object();
}

std::string text_at(const json::object& o, std::string_view key) {
  return std::string{o.at(key).as_string()};
}

std::string payment_body(const std::string& account, std::int64_t amount_minor,
                         const std::string& reference, const std::string& currency = "GBP") {
  return json::serialize(json::object{{"debtor_account", account},
                                      {"amount_minor", amount_minor},
                                      {"currency", currency},
                                      {"reference", reference}});
}

// A bank on loopback settling after 50 ms, and the calls of a connector against it.
struct bank_bench {
  sim::bank_simulator bank;
  http::endpoint at;

  bank_bench() {
    std::string failure;
    REQUIRE_MESSAGE(bank.start("127.0.0.1", 0, failure), failure);
    bank.set_settle_delay(settle_delay);
    bank.set_slow_delay(slow_delay);
    at = *http::parse_url(bank.base_url());
  }

  static http::response answered(const http::outcome& outcome) {
    REQUIRE_MESSAGE(outcome, outcome.failure);
    return *outcome.reply;
  }
  http::response get(const std::string& path, const std::string& consent_id) {
    return answered(http::get(at, path, call_timeout, {{"x-consent-id", consent_id}}));
  }
  http::response post(const std::string& path, const std::string& body, const header_list& h) {
    return answered(http::post_json(at, path, body, call_timeout, h));
  }
  http::response pay(const std::string& consent_id, const std::string& key,
                     const std::string& body) {
    return post("/v1/payments", body, {{"x-consent-id", consent_id}, {"x-idempotency-key", key}});
  }
  http::response revoke(const std::string& consent_id) {
    return answered(http::del(at, "/v1/consents/" + consent_id, call_timeout));
  }

  // A consent with `permissions` (all four unless given): its id.
  std::string consent_for(const std::string& customer,
                          json::array permissions = {"accounts", "balances", "transactions",
                                                     "payments"}) {
    auto r = post("/v1/consents",
                  json::serialize(json::object{{"customer", customer},
                                               {"permissions", std::move(permissions)}}),
                  {});
    REQUIRE(r.status == 201);
    return text_at(object_of(r), "consent_id");
  }
  std::string first_account(const std::string& consent_id) {
    auto r = get("/v1/accounts", consent_id);
    REQUIRE(r.status == 200);
    return text_at(object_of(r).at("accounts").as_array().at(0).as_object(), "account_id");
  }
  // Takes a payment (201): its id.
  std::string take(const std::string& consent_id, const std::string& key,
                   const std::string& body) {
    auto r = pay(consent_id, key, body);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    auto taken = object_of(r);
    CHECK(text_at(taken, "status") == "pending");
    return text_at(taken, "payment_id");
  }
  json::object payment(const std::string& consent_id, const std::string& payment_id) {
    auto r = get("/v1/payments/" + payment_id, consent_id);
    REQUIRE(r.status == 200);
    return object_of(r);
  }
  std::string settled_status(const std::string& consent_id, const std::string& payment_id) {
    std::string status;
    REQUIRE(comes_true([&] {
      status = text_at(payment(consent_id, payment_id), "status");
      return status != "pending";
    }));
    return status;
  }
};

}  // namespace

TEST_CASE("a consent is authorised at once with the customer's account, and is 403 once revoked") {
  bank_bench bench;
  auto r = bench.post("/v1/consents",
                      R"({"customer":"cust-a","permissions":["accounts","payments","accounts"]})",
                      {});
  REQUIRE(r.status == 201);
  CHECK(object_of(r) == json::object{{"consent_id", "cons-1"},
                                     {"status", "authorised"},
                                     {"customer", "cust-a"},
                                     {"permissions", {"accounts", "payments"}}});
  auto accounts = bench.get("/v1/accounts", "cons-1");
  REQUIRE(accounts.status == 200);
  CHECK(object_of(accounts) ==
        json::object{{"accounts", json::array{json::object{{"account_id", "acc-1"},
                                                           {"currency", "GBP"},
                                                           {"name", "Current account"}}}}});
  CHECK(bench.bank.balance_of("acc-1") == 100000);
  CHECK(bench.bank.balance_of("acc-9") == -1);

  // A second consent of the same customer reaches the same account.
  auto again = bench.consent_for("cust-a");
  CHECK(again == "cons-2");
  CHECK(bench.first_account(again) == "acc-1");

  CHECK(bench.revoke("cons-1").status == 204);
  auto revoked = bench.get("/v1/accounts", "cons-1");
  CHECK(revoked.status == 403);
  CHECK(object_of(revoked).contains("error"));
  CHECK(bench.pay("cons-1", "k-1", payment_body("acc-1", 100, "ref-1")).status == 403);
  CHECK(bench.revoke("cons-1").status == 204);  // revoking is idempotent
  CHECK(bench.revoke("cons-99").status == 404);
  CHECK(bench.get("/v1/accounts", again).status == 200);  // the other consent still works
}

TEST_CASE("a malformed consent request is a 400") {
  bank_bench bench;
  const std::vector<std::string> malformed{
      "not json",
      "[]",
      R"({"permissions":["accounts"]})",
      R"({"customer":"","permissions":["accounts"]})",
      R"({"customer":")" + std::string(65, 'c') + R"(","permissions":["accounts"]})",
      R"({"customer":"c","permissions":[]})",
      R"({"customer":"c","permissions":["accounts","everything"]})",
      R"({"customer":"c","permissions":[1]})",
      R"({"customer":"c"})"};
  for (const auto& body : malformed) {
    CAPTURE(body);
    auto r = bench.post("/v1/consents", body, {});
    CHECK(r.status == 400);
    CHECK(object_of(r).contains("error"));
  }
  CHECK(bench.consent_for(std::string(64, 'c')) == "cons-1");
}

TEST_CASE("a call naming no consent or an unknown one is 401; beyond its permissions, 403") {
  bank_bench bench;
  auto reader = bench.consent_for("cust-b", {"accounts"});
  auto account = bench.first_account(reader);
  auto none = bench.answered(http::get(bench.at, "/v1/accounts", call_timeout));
  CHECK(none.status == 401);
  CHECK(object_of(none).contains("error"));
  CHECK(bench.get("/v1/accounts", "cons-404").status == 401);
  CHECK(bench.get("/v1/accounts/" + account + "/balances", reader).status == 403);
  CHECK(bench.get("/v1/accounts/" + account + "/transactions", reader).status == 403);
  CHECK(bench.pay(reader, "k-1", payment_body(account, 100, "ref-1")).status == 403);
  CHECK(bench.get("/v1/payments?reference=ref-1", reader).status == 403);
  CHECK(bench.bank.payments_received() == 0);
  CHECK(bench.get("/v1/nowhere", reader).status == 404);
  auto health = bench.answered(http::get(bench.at, "/healthz", call_timeout));
  CHECK(health.status == 200);
}

TEST_CASE("balances and statements read per account; another customer's account is a 404") {
  bank_bench bench;
  bench.bank.set_opening_balance(2500);
  auto mine = bench.consent_for("cust-c");
  auto my_account = bench.first_account(mine);
  bench.bank.set_opening_balance(700);
  auto theirs = bench.consent_for("cust-d");
  auto their_account = bench.first_account(theirs);
  CHECK(my_account == "acc-1");
  CHECK(their_account == "acc-2");

  auto balance = bench.get("/v1/accounts/" + my_account + "/balances", mine);
  REQUIRE(balance.status == 200);
  CHECK(object_of(balance) == json::object{{"account_id", "acc-1"},
                                           {"currency", "GBP"},
                                           {"available_minor", 2500}});
  auto statement = bench.get("/v1/accounts/" + my_account + "/transactions", mine);
  REQUIRE(statement.status == 200);
  CHECK(object_of(statement) == json::object{{"transactions", json::array{}}});
  CHECK(bench.bank.balance_of(their_account) == 700);

  CHECK(bench.get("/v1/accounts/" + their_account + "/balances", mine).status == 404);
  CHECK(bench.get("/v1/accounts/" + their_account + "/transactions", mine).status == 404);
  CHECK(bench.get("/v1/accounts/acc-77/balances", mine).status == 404);
  CHECK(bench.pay(mine, "k-1", payment_body(their_account, 100, "ref-1")).status == 404);
  CHECK(bench.bank.payments_received() == 0);
}

TEST_CASE("a payment is taken pending, then completes: balance debited, transaction booked") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-e");
  auto account = bench.first_account(consent);

  bench.bank.set_settle_delay(60s);  // this one stays pending for the whole test
  auto waiting = bench.take(consent, "k-wait", payment_body(account, 1, "ref-wait"));
  CHECK(waiting == "pay-1");
  CHECK(bench.payment(consent, waiting) == json::object{{"payment_id", "pay-1"},
                                                        {"reference", "ref-wait"},
                                                        {"status", "pending"},
                                                        {"reason", ""},
                                                        {"amount_minor", 1},
                                                        {"currency", "GBP"},
                                                        {"debtor_account", account}});

  bench.bank.set_settle_delay(settle_delay);
  auto paid = bench.take(consent, "k-paid", payment_body(account, 12345, "ref-paid"));
  CHECK(paid == "pay-2");
  CHECK(bench.settled_status(consent, paid) == "completed");
  CHECK(text_at(bench.payment(consent, paid), "reason") == "");
  CHECK(bench.bank.balance_of(account) == 100000 - 12345);
  auto balance = object_of(bench.get("/v1/accounts/" + account + "/balances", consent));
  CHECK(balance.at("available_minor").as_int64() == 100000 - 12345);

  auto statement = object_of(bench.get("/v1/accounts/" + account + "/transactions", consent));
  const auto& booked = statement.at("transactions").as_array();
  REQUIRE(booked.size() == 1);
  const auto& txn = booked.at(0).as_object();
  CHECK(text_at(txn, "transaction_id") == "txn-1");
  CHECK(txn.at("amount_minor").as_int64() == -12345);
  CHECK(text_at(txn, "currency") == "GBP");
  CHECK(text_at(txn, "reference") == "ref-paid");
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  CHECK(std::llabs(txn.at("booked_at_ms").as_int64() - now_ms) < 60000);
  CHECK(text_at(bench.payment(consent, waiting), "status") == "pending");
  CHECK(bench.bank.payments_received() == 2);
  CHECK(bench.get("/v1/payments/pay-99", consent).status == 404);
}

TEST_CASE("a key sent again with the same body is the same payment; with another body, a 409") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-f");
  auto account = bench.first_account(consent);
  auto first = bench.take(consent, "key-1", payment_body(account, 500, "ref-f"));

  // The same request with its fields in another order and spacing is the same body.
  const std::string reordered = R"({ "reference": "ref-f", "currency": "GBP", "amount_minor": 500,
                                     "debtor_account": ")" + account + R"(" })";
  auto repeat = bench.pay(consent, "key-1", reordered);
  REQUIRE(repeat.status == 200);
  CHECK(text_at(object_of(repeat), "payment_id") == first);
  CHECK(text_at(object_of(repeat), "reference") == "ref-f");

  CHECK(bench.settled_status(consent, first) == "completed");
  auto after = bench.pay(consent, "key-1", payment_body(account, 500, "ref-f"));
  REQUIRE(after.status == 200);
  CHECK(object_of(after) == json::object{{"payment_id", first},
                                         {"status", "completed"},
                                         {"reference", "ref-f"}});

  auto reused = bench.pay(consent, "key-1", payment_body(account, 501, "ref-f"));
  CHECK(reused.status == 409);
  CHECK(object_of(reused).contains("error"));
  CHECK(bench.pay(consent, "key-1", payment_body(account, 500, "ref-g")).status == 409);
  CHECK(bench.bank.payments_received() == 1);
  CHECK(bench.bank.balance_of(account) == 100000 - 500);  // debited once
}

TEST_CASE("a payment without a key, with a bad body or in another currency is a 400") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-g");
  auto account = bench.first_account(consent);
  auto no_key = bench.post("/v1/payments", payment_body(account, 100, "ref-1"),
                           {{"x-consent-id", consent}});
  CHECK(no_key.status == 400);
  CHECK(object_of(no_key).contains("error"));
  CHECK(bench.pay(consent, std::string(65, 'k'), payment_body(account, 100, "ref-1")).status ==
        400);

  auto in_euros = bench.pay(consent, "k-eur", payment_body(account, 100, "ref-1", "EUR"));
  CHECK(in_euros.status == 400);
  CHECK(object_of(in_euros).contains("error"));

  const std::vector<std::string> malformed{
      "not json",
      "[]",
      payment_body(account, 0, "ref-1"),
      payment_body(account, -5, "ref-1"),
      payment_body(account, 100, ""),
      payment_body(account, 100, std::string(65, 'r')),
      R"({"debtor_account":")" + account +
          R"(","amount_minor":10.5,"currency":"GBP","reference":"r"})",
      R"({"debtor_account":")" + account +
          R"(","amount_minor":"10","currency":"GBP","reference":"r"})",
      R"({"amount_minor":10,"currency":"GBP","reference":"r"})",
      R"({"debtor_account":")" + account + R"(","amount_minor":10,"reference":"r"})"};
  for (const auto& body : malformed) {
    CAPTURE(body);
    CHECK(bench.pay(consent, "k-bad", body).status == 400);
  }
  CHECK(bench.bank.payments_received() == 0);
  // None of those used the key up.
  CHECK(bench.take(consent, "k-bad", payment_body(account, 100, "ref-1")) == "pay-1");
}

TEST_CASE(
    "a completed payment returned: the account is credited back, booked, and told by webhook") {
  webhook_inbox inbox{0};
  bank_bench bench;
  bench.bank.set_webhook(inbox.url(), bank_secret);
  auto consent = bench.consent_for("cust-r");
  auto account = bench.first_account(consent);
  bench.bank.set_settle_delay(60s);
  auto waiting = bench.take(consent, "k-wait", payment_body(account, 5, "ref-wait"));
  CHECK_FALSE(bench.bank.return_payment("ref-wait", "fraud_recall"));  // pending: not returnable
  bench.bank.set_settle_delay(settle_delay);
  auto paid = bench.take(consent, "k-r", payment_body(account, 700, "ref-r"));
  REQUIRE(bench.settled_status(consent, paid) == "completed");
  REQUIRE(comes_true([&] { return bench.bank.webhooks_delivered() == 1; }));
  CHECK(bench.bank.balance_of(account) == 100000 - 700);

  CHECK(bench.bank.return_payment("ref-r", "fraud_recall"));
  CHECK_FALSE(bench.bank.return_payment("ref-r", "fraud_recall"));
  CHECK_FALSE(bench.bank.return_payment("ref-none", "fraud_recall"));
  auto returned = bench.payment(consent, paid);
  CHECK(text_at(returned, "status") == "returned");
  CHECK(text_at(returned, "reason") == "fraud_recall");
  CHECK(bench.bank.balance_of(account) == 100000);
  auto statement = object_of(bench.get("/v1/accounts/" + account + "/transactions", consent));
  const auto& booked = statement.at("transactions").as_array();
  REQUIRE(booked.size() == 2);
  CHECK(booked.at(1).as_object().at("amount_minor").as_int64() == 700);
  CHECK(text_at(booked.at(1).as_object(), "reference") == "ref-r");
  REQUIRE(comes_true([&] { return bench.bank.webhooks_delivered() == 2; }));
  auto got = inbox.received();
  REQUIRE(got.size() == 2);
  CHECK(got[1].verifies_with(bank_secret));
  CHECK(json::parse(got[1].body) == json::object{{"payment_id", paid},
                                                 {"reference", "ref-r"},
                                                 {"status", "returned"},
                                                 {"reason", "fraud_recall"}});
  CHECK(text_at(bench.payment(consent, waiting), "status") == "pending");
}

TEST_CASE("a payment the balance cannot cover is rejected for insufficient funds") {
  bank_bench bench;
  bench.bank.set_opening_balance(1000);
  auto consent = bench.consent_for("cust-h");
  auto account = bench.first_account(consent);
  auto too_much = bench.take(consent, "k-1", payment_body(account, 1001, "ref-big"));
  CHECK(bench.settled_status(consent, too_much) == "rejected");
  CHECK(text_at(bench.payment(consent, too_much), "reason") == "insufficient_funds");
  CHECK(bench.bank.balance_of(account) == 1000);
  auto statement = object_of(bench.get("/v1/accounts/" + account + "/transactions", consent));
  CHECK(statement.at("transactions").as_array().empty());

  auto exact = bench.take(consent, "k-2", payment_body(account, 1000, "ref-all"));
  CHECK(bench.settled_status(consent, exact) == "completed");
  CHECK(bench.bank.balance_of(account) == 0);
}

TEST_CASE("payments are found by reference among the consent's customer's own; none is []") {
  bank_bench bench;
  auto mine = bench.consent_for("cust-i");
  auto theirs = bench.consent_for("cust-j");
  auto paid = bench.take(mine, "k-1", payment_body(bench.first_account(mine), 300, "order-7"));
  bench.take(theirs, "k-1", payment_body(bench.first_account(theirs), 400, "order-7"));
  CHECK(bench.bank.payments_received() == 2);

  auto found = bench.get("/v1/payments?reference=order-7", mine);
  REQUIRE(found.status == 200);
  const auto answer = object_of(found);
  const auto& listed = answer.at("payments").as_array();
  REQUIRE(listed.size() == 1);
  CHECK(text_at(listed.at(0).as_object(), "payment_id") == paid);
  CHECK(listed.at(0).as_object().at("amount_minor").as_int64() == 300);
  CHECK(bench.get("/v1/payments/pay-2", mine).status == 404);  // theirs

  auto none = bench.get("/v1/payments?reference=order-8", mine);
  REQUIRE(none.status == 200);
  CHECK(object_of(none) == json::object{{"payments", json::array{}}});
  CHECK(bench.get("/v1/payments?reference=" + http::url_encode("order 7"), mine).status == 200);
}

TEST_CASE("a settled payment's webhook arrives signed over the exact body, retried after a 500") {
  webhook_inbox inbox{1};
  bank_bench bench;
  bench.bank.set_webhook(inbox.url(), bank_secret);
  auto consent = bench.consent_for("cust-k");
  auto paid = bench.take(consent, "k-1", payment_body(bench.first_account(consent), 10, "ref-w"));
  REQUIRE(comes_true([&] { return bench.bank.webhooks_delivered() == 1; }));
  auto got = inbox.received();
  REQUIRE(got.size() == 2);  // the 500, then the 200
  for (const auto& delivery : got) {
    CHECK(delivery.verifies_with(bank_secret));
    CHECK(delivery.body == got[0].body);
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    CHECK(std::llabs(std::stoll(delivery.headers.at("x-bank-timestamp")) - now_s) <= 5);
  }
  CHECK(json::parse(got[1].body) == json::object{{"payment_id", paid},
                                                 {"reference", "ref-w"},
                                                 {"status", "completed"},
                                                 {"reason", ""}});
}

TEST_CASE("the bad_signature fault signs webhooks with a key the shared secret does not verify") {
  webhook_inbox inbox;
  bank_bench bench;
  bench.bank.set_opening_balance(5);
  bench.bank.set_webhook(inbox.url(), bank_secret);
  bench.bank.set_fault(sim::bank_simulator::fault::bad_signature);
  auto consent = bench.consent_for("cust-l");
  bench.take(consent, "k-1", payment_body(bench.first_account(consent), 10, "ref-bad"));
  REQUIRE(comes_true([&] { return inbox.received().size() == 1; }));
  auto forged = inbox.received().at(0);
  CHECK_FALSE(forged.verifies_with(bank_secret));
  CHECK(forged.headers.at("x-bank-signature").starts_with("v1="));
  auto body = json::parse(forged.body).as_object();
  CHECK(text_at(body, "status") == "rejected");
  CHECK(text_at(body, "reason") == "insufficient_funds");

  bench.bank.set_fault(sim::bank_simulator::fault::none);
  bench.take(consent, "k-2", payment_body(bench.first_account(consent), 1, "ref-good"));
  REQUIRE(comes_true([&] { return inbox.received().size() == 2; }));
  CHECK(inbox.received().at(1).verifies_with(bank_secret));
}

TEST_CASE("the unavailable fault answers 503 to every /v1 call; the slow one answers late") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-m");
  auto account = bench.first_account(consent);
  bench.bank.set_fault(sim::bank_simulator::fault::unavailable);
  auto down = bench.get("/v1/accounts", consent);
  CHECK(down.status == 503);
  CHECK(object_of(down).contains("error"));
  CHECK(bench.pay(consent, "k-1", payment_body(account, 1, "ref-1")).status == 503);
  CHECK(bench.post("/v1/consents", R"({"customer":"x","permissions":["accounts"]})", {}).status ==
        503);
  CHECK(bench.answered(http::get(bench.at, "/healthz", call_timeout)).status == 200);
  CHECK(bench.bank.payments_received() == 0);

  bench.bank.set_fault(sim::bank_simulator::fault::slow);
  const auto asked = std::chrono::steady_clock::now();
  CHECK(bench.get("/v1/accounts", consent).status == 200);
  CHECK(std::chrono::steady_clock::now() - asked >= slow_delay);
}

TEST_CASE("lost_payment_answer: the caller times out, yet the payment is found and settles") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-n");
  auto account = bench.first_account(consent);
  bench.bank.set_fault(sim::bank_simulator::fault::lost_payment_answer);
  auto lost = http::post_json(bench.at, "/v1/payments", payment_body(account, 250, "ref-lost"),
                              150ms, {{"x-consent-id", consent}, {"x-idempotency-key", "k-1"}});
  CHECK_FALSE(lost);
  CHECK(bench.bank.payments_received() == 1);

  bench.bank.set_fault(sim::bank_simulator::fault::none);
  auto found = object_of(bench.get("/v1/payments?reference=ref-lost", consent));
  const auto& listed = found.at("payments").as_array();
  REQUIRE(listed.size() == 1);
  const auto payment_id = text_at(listed.at(0).as_object(), "payment_id");
  CHECK(bench.settled_status(consent, payment_id) == "completed");
  CHECK(bench.bank.balance_of(account) == 100000 - 250);
}

TEST_CASE("stop is prompt while a payment's answer is held back") {
  bank_bench bench;
  auto consent = bench.consent_for("cust-o");
  auto account = bench.first_account(consent);
  bench.bank.set_slow_delay(30s);
  bench.bank.set_fault(sim::bank_simulator::fault::lost_payment_answer);
  std::thread caller{[&] {
    http::post_json(bench.at, "/v1/payments", payment_body(account, 1, "ref-held"), call_timeout,
                    {{"x-consent-id", consent}, {"x-idempotency-key", "k-1"}});
  }};
  REQUIRE(comes_true([&] { return bench.bank.payments_received() == 1; }));
  const auto stopping = std::chrono::steady_clock::now();
  bench.bank.stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 1s);
  caller.join();
  bench.bank.stop();  // safe twice
}

TEST_CASE("stop is prompt while a webhook delivery waits out its backoff") {
  webhook_inbox inbox{100};
  bank_bench bench;
  bench.bank.set_webhook(inbox.url(), bank_secret);
  auto consent = bench.consent_for("cust-p");
  bench.take(consent, "k-1", payment_body(bench.first_account(consent), 1, "ref-refused"));
  // After the third refusal the next attempt is 1 s away.
  REQUIRE(comes_true([&] { return inbox.received().size() >= 3; }));
  const auto stopping = std::chrono::steady_clock::now();
  bench.bank.stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 600ms);
  CHECK(bench.bank.webhooks_delivered() == 0);
}
