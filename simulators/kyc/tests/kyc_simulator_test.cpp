// The KYC simulator over real loopback HTTP, with the shared simulator server as the webhook
// receiver: outcomes arrive signed (checked here with OpenSSL's HMAC, not the simulator's code),
// failed deliveries are retried, and the check API answers like the protocol in the header says.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "protocols/http/http_client.hpp"
#include "simulators/http/http_server.hpp"
#include "simulators/kyc/kyc_simulator.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Raw bytes, a NUL among them: the secret is a key, not a C string.
const std::string secret{"whsec-\0-test", 12};
constexpr auto patience = 10s;  // generous: a loaded 2-core machine runs these

struct delivery {
  std::string path;
  std::string timestamp;
  std::string signature;
  std::string body;
};

// Answers each delivery with the next scripted status (200 once the script runs out).
class webhook_receiver {
 public:
  explicit webhook_receiver(std::deque<int> script = {}) : script_(std::move(script)) {
    std::string failure;
    REQUIRE_MESSAGE(server_.start("127.0.0.1", 0, failure), failure);
  }
  std::string url() const { return server_.base_url() + "/webhooks/kyc"; }
  std::vector<delivery> deliveries() {
    std::lock_guard<std::mutex> guard{mutex_};
    return seen_;
  }

 private:
  sim::http_answer take(const sim::http_query& query) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto header = [&](const std::string& name) {
      auto found = query.headers.find(name);
      return found == query.headers.end() ? std::string{} : found->second;
    };
    seen_.push_back({query.path, header("x-kyc-timestamp"), header("x-kyc-signature"), query.body});
    int status = 200;
    if (!script_.empty()) {
      status = script_.front();
      script_.pop_front();
    }
    return {status, "{}"};
  }

  std::mutex mutex_;
  std::deque<int> script_;
  std::vector<delivery> seen_;
  sim::http_server server_{[this](const sim::http_query& query) { return take(query); }};
};

template <typename Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string expected_signature(const delivery& d) {
  const std::string text = d.timestamp + "." + d.body;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t length = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                    reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac.data(),
                    mac.size(), &length) != nullptr);
  std::string hex = "v1=";
  for (std::size_t i = 0; i < length; ++i) {
    static constexpr char digits[] = "0123456789abcdef";
    hex += digits[mac[i] >> 4];
    hex += digits[mac[i] & 15];
  }
  return hex;
}

std::string check_body(const std::string& reference, const std::string& number) {
  return json::serialize(json::object{
      {"reference", reference},
      {"level", "tier2"},
      {"documents", json::array{json::object{{"type", "passport"}, {"number", number}}}}});
}

// A started simulator deciding after 20 ms and delivering to a receiver of its own.
struct kyc_bench {
  webhook_receiver receiver;
  sim::kyc_simulator kyc;
  http::endpoint at;

  explicit kyc_bench(std::deque<int> script = {}) : receiver(std::move(script)) {
    std::string failure;
    REQUIRE_MESSAGE(kyc.start("127.0.0.1", 0, failure), failure);
    kyc.set_decision_delay(20ms);
    kyc.set_webhook(receiver.url(), secret);
    at = *http::parse_url(kyc.base_url());
  }

  http::response post(const std::string& path, const std::string& body) {
    auto r = http::post_json(at, path, body, 5000ms);
    REQUIRE_MESSAGE(r, r.failure);
    return *r.reply;
  }
  json::object status_of(const std::string& provider_check_id) {
    auto r = http::get(at, "/v1/checks/" + provider_check_id, 5000ms);
    REQUIRE_MESSAGE(r, r.failure);
    REQUIRE(r.reply->status == 200);
    return json::parse(r.reply->body).as_object();
  }
  std::string open_check(const std::string& reference, const std::string& number) {
    auto r = post("/v1/checks", check_body(reference, number));
    REQUIRE(r.status == 202);
    auto body = json::parse(r.body).as_object();
    CHECK(body.at("status").as_string() == "pending");
    return std::string{body.at("provider_check_id").as_string()};
  }
  std::vector<delivery> wait_for_deliveries(std::size_t count) {
    REQUIRE(eventually([&] { return receiver.deliveries().size() >= count; }));
    return receiver.deliveries();
  }
};

void check_signed_now(const delivery& d, std::chrono::seconds offset = 0s) {
  CHECK(d.path == "/webhooks/kyc");
  CHECK(d.signature == expected_signature(d));
  CHECK(std::llabs(std::stoll(d.timestamp) - (unix_now() + offset.count())) <= 5);
}

}  // namespace

TEST_CASE("a verified outcome reaches the webhook signed over the exact body, timestamped now") {
  kyc_bench bench;
  auto id = bench.open_check("kyc-ref-1", "P1234567");
  CHECK(id == "pc-1");
  auto got = bench.wait_for_deliveries(1);
  check_signed_now(got[0]);
  auto body = json::parse(got[0].body).as_object();
  CHECK(body == json::object{{"provider_check_id", "pc-1"},
                             {"reference", "kyc-ref-1"},
                             {"level", "tier2"},
                             {"outcome", "verified"},
                             {"reason", ""}});
  CHECK(eventually([&] { return bench.kyc.webhooks_delivered() == 1; }));
  CHECK(bench.kyc.webhook_attempts() == 1);
  CHECK(bench.kyc.last_webhook_status() == 200);
  CHECK(bench.kyc.checks_received() == 1);
}

TEST_CASE("a document number starting REJECT is rejected as document_rejected") {
  kyc_bench bench;
  bench.open_check("kyc-ref-2", "REJECT-0001");
  auto got = bench.wait_for_deliveries(1);
  check_signed_now(got[0]);
  auto body = json::parse(got[0].body).as_object();
  CHECK(body.at("outcome").as_string() == "rejected");
  CHECK(body.at("reason").as_string() == "document_rejected");
}

TEST_CASE("a receiver answering 500 twice then 200 gets three attempts and one delivery") {
  kyc_bench bench{{500, 500}};
  bench.open_check("kyc-ref-3", "P1");
  REQUIRE(eventually([&] { return bench.kyc.webhooks_delivered() == 1; }));
  CHECK(bench.kyc.webhook_attempts() == 3);
  CHECK(bench.kyc.last_webhook_status() == 200);
  auto got = bench.receiver.deliveries();
  REQUIRE(got.size() == 3);
  for (const auto& d : got) {
    CHECK(d.body == got[0].body);
    CHECK(d.signature == expected_signature(d));  // each attempt signed afresh
  }
}

TEST_CASE("stop ends a delivery waiting out its backoff at once") {
  kyc_bench bench{std::deque<int>(10, 503)};
  bench.open_check("kyc-ref-4", "P1");
  // After the third failure the next attempt is 1 s away.
  REQUIRE(eventually([&] { return bench.kyc.webhook_attempts() >= 3; }));
  CHECK(bench.kyc.last_webhook_status() == 503);
  auto started = std::chrono::steady_clock::now();
  bench.kyc.stop();
  CHECK(std::chrono::steady_clock::now() - started < 600ms);
  CHECK(bench.kyc.webhooks_delivered() == 0);
  bench.kyc.stop();
}

TEST_CASE("an outage answers 503 and malformed checks answer 400") {
  kyc_bench bench;
  bench.kyc.set_failing(true);
  auto down = bench.post("/v1/checks", check_body("kyc-ref-5", "P1"));
  CHECK(down.status == 503);
  CHECK(json::parse(down.body).as_object().at("error").as_string() == "provider down");
  bench.kyc.set_failing(false);
  CHECK(bench.kyc.checks_received() == 0);

  const std::vector<std::string> malformed{
      "not json",
      "[]",
      R"({"level":"tier2","documents":[{"type":"passport","number":"P1"}]})",
      check_body("", "P1"),
      check_body(std::string(65, 'r'), "P1"),
      R"({"reference":"r","level":"tier2","documents":[]})",
      R"({"reference":"r","level":"tier2","documents":[{"type":"passport"}]})",
      R"({"reference":"r","documents":[{"type":"passport","number":"P1"}]})"};
  for (const auto& bad : malformed) {
    CAPTURE(bad);
    auto r = bench.post("/v1/checks", bad);
    CHECK(r.status == 400);
    CHECK(json::parse(r.body).as_object().contains("error"));
  }
  CHECK(bench.kyc.checks_received() == 0);
  CHECK(bench.post("/v1/checks", check_body(std::string(64, 'r'), "P1")).status == 202);
}

TEST_CASE("a check reads as pending, then as decided; an unknown one is a 404") {
  kyc_bench bench;
  bench.kyc.set_decision_delay(60s);
  auto slow = bench.open_check("kyc-ref-6", "P1");
  auto pending = bench.status_of(slow);
  CHECK(pending.at("status").as_string() == "pending");
  CHECK(pending.at("reason").as_string() == "");
  bench.kyc.set_decision_delay(20ms);
  auto fast = bench.open_check("kyc-ref-7", "REJECT-9");
  REQUIRE(eventually([&] { return bench.status_of(fast).at("status").as_string() != "pending"; }));
  CHECK(bench.status_of(fast) == json::object{{"provider_check_id", fast},
                                              {"reference", "kyc-ref-7"},
                                              {"level", "tier2"},
                                              {"status", "rejected"},
                                              {"reason", "document_rejected"}});
  CHECK(bench.status_of(slow).at("status").as_string() == "pending");
  auto unknown = http::get(bench.at, "/v1/checks/pc-999", 5000ms);
  REQUIRE(unknown);
  CHECK(unknown.reply->status == 404);
  auto health = http::get(bench.at, "/healthz", 5000ms);
  REQUIRE(health);
  CHECK(health.reply->status == 200);
}

TEST_CASE("the same reference posted twice is one check, decided and delivered once") {
  kyc_bench bench;
  auto first = bench.open_check("kyc-ref-8", "P1");
  auto again = bench.post("/v1/checks", check_body("kyc-ref-8", "P1"));
  CHECK(again.status == 200);
  CHECK(json::parse(again.body).as_object().at("provider_check_id").as_string() == first);
  CHECK(bench.kyc.checks_received() == 1);
  // A later check is decided after any second decision of the first would be: once its
  // webhook is in, every delivery of the first is too.
  auto later = bench.open_check("kyc-ref-9", "P1");
  REQUIRE(eventually([&] {
    for (const auto& d : bench.receiver.deliveries())
      if (d.body.find(later) != std::string::npos) return true;
    return false;
  }));
  int of_first = 0;
  for (const auto& d : bench.receiver.deliveries())
    of_first += json::parse(d.body).as_object().at("provider_check_id").as_string() == first;
  CHECK(of_first == 1);
}

TEST_CASE("resend_webhook delivers the decided outcome again, signed afresh") {
  kyc_bench bench;
  auto id = bench.open_check("kyc-ref-10", "P1");
  bench.wait_for_deliveries(1);
  bench.kyc.resend_webhook(id);
  bench.kyc.resend_webhook("pc-999");  // unknown: nothing to send
  auto got = bench.wait_for_deliveries(2);
  CHECK(got[1].body == got[0].body);
  check_signed_now(got[1]);
  CHECK(eventually([&] { return bench.kyc.webhooks_delivered() == 2; }));
}

TEST_CASE("a timestamp offset of -600 s shows in the signed timestamp") {
  kyc_bench bench;
  bench.kyc.set_timestamp_offset(-600s);
  bench.open_check("kyc-ref-11", "P1");
  auto got = bench.wait_for_deliveries(1);
  check_signed_now(got[0], -600s);
}

TEST_CASE("without a webhook URL checks are decided quietly; POST /v1/webhooks sets one") {
  kyc_bench bench;
  bench.kyc.set_webhook("", secret);
  auto quiet = bench.open_check("kyc-ref-12", "P1");
  REQUIRE(eventually([&] { return bench.status_of(quiet).at("status") == "verified"; }));
  CHECK(bench.kyc.webhook_attempts() == 0);
  CHECK(bench.kyc.last_webhook_status() == 0);

  CHECK(bench.post("/v1/webhooks", R"({"url":"ftp://x"})").status == 400);
  CHECK(bench.post("/v1/webhooks", R"({"url":")" + bench.receiver.url() + R"("})").status == 200);
  auto heard = bench.open_check("kyc-ref-13", "P1");
  auto got = bench.wait_for_deliveries(1);
  check_signed_now(got[0]);  // the secret set in C++ still signs
  CHECK(json::parse(got[0].body).as_object().at("provider_check_id").as_string() == heard);
  CHECK(bench.receiver.deliveries().size() == 1);
}
