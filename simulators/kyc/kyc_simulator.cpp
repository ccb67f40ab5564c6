// The KYC provider simulator: check routes on the shared simulator HTTP server; checks are
// decided when due on the shared webhook worker, which delivers their signed outcomes.
#include "simulators/kyc/kyc_simulator.hpp"

#include "protocols/http/http_client.hpp"
#include "simulators/http/http_server.hpp"
#include "simulators/http/signed_webhooks.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

namespace superapp::sim {
namespace {

namespace json = boost::json;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t max_reference_chars = 64;
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

}  // namespace

struct kyc_simulator::state {
  mutable std::mutex mutex;
  std::map<std::string, check> checks;                   // by provider_check_id
  std::map<std::string, std::string> check_by_reference;  // reference -> provider_check_id
  std::chrono::milliseconds decision_delay = 200ms;
  std::int64_t received = 0;
  std::atomic<bool> failing{false};
  // After the checks its jobs decide, so it stops before they go.
  signed_webhooks webhooks{"X-Kyc"};
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
    webhooks.run_at(steady_clock::now() + decision_delay, [this, id] { decide_check(id); });
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
    webhooks.set_url(std::string{*url});
    return reply(200, {{"url", *url}});
  }

  // A job of the webhook worker, decision_delay after the check arrived.
  void decide_check(const std::string& provider_check_id) {
    std::lock_guard<std::mutex> guard{mutex};
    check& c = checks.at(provider_check_id);
    decide(c);
    webhooks.send(webhook_body(c));  // nothing is queued while no URL is set
  }
};

kyc_simulator::kyc_simulator() : state_(std::make_unique<state>()) {}

kyc_simulator::~kyc_simulator() { stop(); }

std::optional<std::uint16_t> kyc_simulator::start(const std::string& bind_address,
                                                  std::uint16_t port, std::string& failure) {
  // The worker first: a check can arrive as soon as the server listens.
  state_->webhooks.start();
  auto bound = state_->server.start(bind_address, port, failure);
  if (!bound) {
    state_->webhooks.stop();
    failure = "kyc simulator: " + failure;
    return std::nullopt;
  }
  return bound;
}

void kyc_simulator::stop() {
  state_->server.stop();
  state_->webhooks.stop();
}

std::string kyc_simulator::base_url() const { return state_->server.base_url(); }

void kyc_simulator::set_webhook(std::string url, std::string secret) {
  state_->webhooks.set_target(std::move(url), std::move(secret));
}

void kyc_simulator::set_failing(bool failing) { state_->failing = failing; }

void kyc_simulator::set_decision_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->decision_delay = delay;
}

void kyc_simulator::set_timestamp_offset(std::chrono::seconds offset) {
  state_->webhooks.set_timestamp_offset(offset);
}

void kyc_simulator::resend_webhook(const std::string& provider_check_id) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto found = state_->checks.find(provider_check_id);
  if (found == state_->checks.end() || found->second.status == "pending") return;
  state_->webhooks.send(webhook_body(found->second));  // nothing is queued while no URL is set
}

std::int64_t kyc_simulator::checks_received() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->received;
}

std::int64_t kyc_simulator::webhooks_delivered() const { return state_->webhooks.delivered(); }

std::int64_t kyc_simulator::webhook_attempts() const { return state_->webhooks.attempts(); }

int kyc_simulator::last_webhook_status() const { return state_->webhooks.last_status(); }

}  // namespace superapp::sim
