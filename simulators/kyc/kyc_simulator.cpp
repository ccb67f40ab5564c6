// The KYC provider simulator: check routes on the shared simulator HTTP server, and a worker that
// decides checks when due and delivers their signed webhooks, retrying with backoff.
#include "simulators/kyc/kyc_simulator.hpp"

#include "protocols/hex.hpp"
#include "protocols/http/http_client.hpp"
#include "simulators/http/http_server.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace superapp::sim {
namespace {

namespace json = boost::json;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t max_reference_chars = 64;
constexpr int max_webhook_attempts = 6;
constexpr auto first_backoff = 250ms;
constexpr auto max_backoff = 4000ms;
constexpr auto webhook_deadline = 2000ms;
constexpr std::string_view check_path_prefix = "/v1/checks/";
constexpr std::string_view rejected_number_prefix = "REJECT";

struct document {
  std::string type;
  std::string number;
};

struct check_request {
  std::string reference;
  std::string level;
  std::vector<document> documents;
};

struct check {
  std::string provider_check_id;
  check_request request;
  std::string status = "pending";  // then the outcome: "verified" or "rejected"
  std::string reason{};            // "" unless rejected
};

// Work for the worker thread, run when due.
struct job {
  enum class kind { decide, deliver };
  kind what = kind::decide;
  std::string provider_check_id;
  int attempt = 1;  // of a delivery
};

http_answer reply(int status, const json::object& body) { return {status, json::serialize(body)}; }

const json::string* string_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value ? value->if_string() : nullptr;
}

std::optional<std::vector<document>> documents_in(const json::value* value) {
  const json::array* items = value ? value->if_array() : nullptr;
  if (!items || items->empty()) return std::nullopt;
  std::vector<document> documents;
  for (const auto& item : *items) {
    const json::object* fields = item.if_object();
    const json::string* type = fields ? string_at(*fields, "type") : nullptr;
    const json::string* number = fields ? string_at(*fields, "number") : nullptr;
    if (!type || !number) return std::nullopt;
    documents.push_back({std::string{*type}, std::string{*number}});
  }
  return documents;
}

// The body of POST /v1/checks, or nullopt with `problem` set to what the 400 says.
std::optional<check_request> check_request_in(const std::string& body, std::string& problem) {
  boost::system::error_code ec;
  auto doc = json::parse(body, ec);
  const json::object* fields = ec ? nullptr : doc.if_object();
  if (!fields) {
    problem = "body must be a JSON object";
    return std::nullopt;
  }
  const json::string* reference = string_at(*fields, "reference");
  if (!reference || reference->empty() || reference->size() > max_reference_chars) {
    problem = "reference must be a string of 1..64 characters";
    return std::nullopt;
  }
  const json::string* level = string_at(*fields, "level");
  if (!level) {
    problem = "level must be a string";
    return std::nullopt;
  }
  auto documents = documents_in(fields->if_contains("documents"));
  if (!documents) {
    problem = "documents must be a non-empty array of {\"type\", \"number\"} strings";
    return std::nullopt;
  }
  return check_request{std::string{*reference}, std::string{*level}, std::move(*documents)};
}

// The provider's rule, as the protocol in the header states it.
void decide(check& c) {
  bool rejected = std::any_of(c.request.documents.begin(), c.request.documents.end(),
                              [](const document& d) {
                                return d.number.starts_with(rejected_number_prefix);
                              });
  c.status = rejected ? "rejected" : "verified";
  c.reason = rejected ? "document_rejected" : "";
}

std::string webhook_body(const check& c) {
  return json::serialize(json::object{{"provider_check_id", c.provider_check_id},
                                      {"reference", c.request.reference},
                                      {"level", c.request.level},
                                      {"outcome", c.status},
                                      {"reason", c.reason}});
}

std::string signature_of(const std::string& secret, const std::string& timestamp,
                         const std::string& body) {
  const std::string signed_text = timestamp + "." + body;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  const auto* result =
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(),
           mac.data(), &length);
  // HMAC-SHA256 fails only when OpenSSL itself is broken; an unsigned webhook would hide that.
  if (result == nullptr) throw std::logic_error{"kyc simulator: HMAC-SHA256 failed"};
  return "v1=" + superapp::to_hex(mac.data(), length);
}

// The status the receiver answered, or 0 when none came (or the URL is not http://HOST:PORT).
int post_signed(const std::string& url, const std::string& secret, const std::string& timestamp,
                const std::string& body) {
  auto at = http::parse_url(url);
  if (!at) return 0;
  auto outcome = http::post_json(*at, at->base_path.empty() ? "/" : "", body, webhook_deadline,
                                 {{"X-Kyc-Timestamp", timestamp},
                                  {"X-Kyc-Signature", signature_of(secret, timestamp, body)}});
  return outcome ? outcome.reply->status : 0;
}

std::chrono::milliseconds backoff_after(int attempt) {
  return std::min<std::chrono::milliseconds>(first_backoff * (1 << (attempt - 1)), max_backoff);
}

}  // namespace

struct kyc_simulator::state {
  mutable std::mutex mutex;
  std::condition_variable wake;  // the worker: a job was queued, or stop
  std::map<std::string, check> checks;                   // by provider_check_id
  std::map<std::string, std::string> check_by_reference;  // reference -> provider_check_id
  std::multimap<steady_clock::time_point, job> due;       // soonest first, FIFO among equals
  std::string webhook_url;
  std::string webhook_secret;
  std::chrono::milliseconds decision_delay = 200ms;
  // The receiver checks the timestamp against its own wall clock, so signing uses the wall clock
  // too; the offset is how tests make a callback stale.
  std::chrono::seconds timestamp_offset{0};
  std::int64_t received = 0;
  std::int64_t delivered = 0;
  std::int64_t attempts = 0;
  int last_status = 0;
  bool stopping = false;
  std::atomic<bool> failing{false};
  std::thread worker;
  // Last, so it stops (and its io thread no longer reads the fields above) before they go.
  http_server server{[this](const http_query& query) { return handle(query); }};

  http_answer handle(const http_query& query) {
    if (query.path == "/healthz" && query.method == "GET") return reply(200, {{"ok", true}});
    if (query.path == "/v1/checks" && query.method == "POST") return open_check(query.body);
    if (query.path.starts_with(check_path_prefix) && query.method == "GET")
      return check_status(query.path.substr(check_path_prefix.size()));
    if (query.path == "/v1/webhooks" && query.method == "POST") return point_webhook(query.body);
    return reply(404, {{"error", "no such endpoint"}});
  }

  http_answer open_check(const std::string& body) {
    if (failing) return reply(503, {{"error", "provider down"}});
    std::string problem;
    auto request = check_request_in(body, problem);
    if (!request) return reply(400, {{"error", problem}});
    std::lock_guard<std::mutex> guard{mutex};
    if (auto known = check_by_reference.find(request->reference);
        known != check_by_reference.end()) {
      const check& existing = checks.at(known->second);
      return reply(200, {{"provider_check_id", existing.provider_check_id},
                         {"status", existing.status}});
    }
    auto id = "pc-" + std::to_string(++received);
    check_by_reference.emplace(request->reference, id);
    checks.emplace(id, check{id, std::move(*request)});
    schedule(steady_clock::now() + decision_delay, {job::kind::decide, id});
    return reply(202, {{"provider_check_id", id}, {"status", "pending"}});
  }

  http_answer check_status(const std::string& provider_check_id) const {
    std::lock_guard<std::mutex> guard{mutex};
    auto found = checks.find(provider_check_id);
    if (found == checks.end()) return reply(404, {{"error", "no such check"}});
    const check& c = found->second;
    return reply(200, {{"provider_check_id", c.provider_check_id},
                       {"reference", c.request.reference},
                       {"level", c.request.level},
                       {"status", c.status},
                       {"reason", c.reason}});
  }

  http_answer point_webhook(const std::string& body) {
    boost::system::error_code ec;
    auto doc = json::parse(body, ec);
    const json::string* url = !ec && doc.is_object() ? string_at(doc.get_object(), "url") : nullptr;
    if (!url || !http::parse_url(*url))
      return reply(400, {{"error", "body must be {\"url\": \"http://HOST:PORT/path\"}"}});
    std::lock_guard<std::mutex> guard{mutex};
    webhook_url = std::string{*url};
    return reply(200, {{"url", webhook_url}});
  }

  // With `mutex` held.
  void schedule(steady_clock::time_point when, job work) {
    due.emplace(when, std::move(work));
    wake.notify_one();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mutex};
    while (!stopping) {
      if (due.empty()) {
        wake.wait(lock);
        continue;
      }
      auto next = due.begin();
      // A copy: wait_until reads the time again on waking, after stop() may have freed the job.
      const steady_clock::time_point when = next->first;
      if (steady_clock::now() < when) {
        wake.wait_until(lock, when);
        continue;
      }
      job work = std::move(next->second);
      due.erase(next);
      if (work.what == job::kind::decide)
        decide_check(work.provider_check_id);
      else
        deliver(lock, work);
    }
  }

  // With `mutex` held.
  void decide_check(const std::string& provider_check_id) {
    decide(checks.at(provider_check_id));
    if (!webhook_url.empty())
      schedule(steady_clock::now(), {job::kind::deliver, provider_check_id});
  }

  // Called with `lock` held; releases it for the HTTP exchange only.
  void deliver(std::unique_lock<std::mutex>& lock, const job& work) {
    if (webhook_url.empty()) return;  // unset since the delivery was queued
    const std::string url = webhook_url;
    const std::string secret = webhook_secret;
    const std::string body = webhook_body(checks.at(work.provider_check_id));
    const auto signed_at = std::chrono::system_clock::now() + timestamp_offset;
    const auto timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(signed_at.time_since_epoch()).count());
    lock.unlock();
    const int status = post_signed(url, secret, timestamp, body);
    lock.lock();
    ++attempts;
    last_status = status;
    if (status / 100 == 2) {
      ++delivered;
    } else if (work.attempt < max_webhook_attempts) {
      schedule(steady_clock::now() + backoff_after(work.attempt),
               {job::kind::deliver, work.provider_check_id, work.attempt + 1});
    }
  }
};

kyc_simulator::kyc_simulator() : state_(std::make_unique<state>()) {}

kyc_simulator::~kyc_simulator() { stop(); }

std::optional<std::uint16_t> kyc_simulator::start(const std::string& bind_address,
                                                  std::uint16_t port, std::string& failure) {
  auto bound = state_->server.start(bind_address, port, failure);
  if (!bound) {
    failure = "kyc simulator: " + failure;
    return std::nullopt;
  }
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->stopping = false;
  }
  state_->worker = std::thread{[s = state_.get()] { s->run(); }};
  return bound;
}

void kyc_simulator::stop() {
  state_->server.stop();
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->stopping = true;
    state_->due.clear();
  }
  state_->wake.notify_all();
  if (state_->worker.joinable()) state_->worker.join();
}

std::string kyc_simulator::base_url() const { return state_->server.base_url(); }

void kyc_simulator::set_webhook(std::string url, std::string secret) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->webhook_url = std::move(url);
  state_->webhook_secret = std::move(secret);
}

void kyc_simulator::set_failing(bool failing) { state_->failing = failing; }

void kyc_simulator::set_decision_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->decision_delay = delay;
}

void kyc_simulator::set_timestamp_offset(std::chrono::seconds offset) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->timestamp_offset = offset;
}

void kyc_simulator::resend_webhook(const std::string& provider_check_id) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto found = state_->checks.find(provider_check_id);
  if (found == state_->checks.end() || found->second.status == "pending") return;
  if (state_->webhook_url.empty()) return;
  state_->schedule(steady_clock::now(), {job::kind::deliver, provider_check_id});
}

std::int64_t kyc_simulator::checks_received() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->received;
}

std::int64_t kyc_simulator::webhooks_delivered() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->delivered;
}

std::int64_t kyc_simulator::webhook_attempts() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->attempts;
}

int kyc_simulator::last_webhook_status() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->last_status;
}

}  // namespace superapp::sim
