// The bank simulator: Open Banking routes on the shared simulator HTTP server, each call checked
// against its consent; payments settle when due on the shared webhook worker, which then reports
// them with signed webhooks.
#include "simulators/bank/bank_simulator.hpp"

#include "simulators/http/http_server.hpp"
#include "simulators/http/signed_webhooks.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace superapp::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::size_t max_customer_chars = 64;
constexpr std::size_t max_reference_chars = 64;
constexpr std::size_t max_idempotency_key_chars = 64;
constexpr std::int64_t default_opening_balance_minor = 100000;
constexpr std::string_view account_currency = "GBP";
constexpr std::string_view account_name = "Current account";
constexpr std::string_view api_prefix = "/v1/";
constexpr std::string_view payments_path = "/v1/payments";
constexpr std::string_view consent_header = "x-consent-id";
constexpr std::string_view idempotency_header = "x-idempotency-key";
constexpr std::array<std::string_view, 4> known_permissions{"accounts", "balances",
                                                            "transactions", "payments"};

struct transaction {
  std::string transaction_id;
  std::int64_t amount_minor = 0;  // < 0 paid out
  std::string currency;
  std::string reference;
  std::int64_t booked_at_ms = 0;  // unix time
};

struct account {
  std::string account_id;
  std::string customer;
  std::string currency;
  std::string name;
  std::int64_t available_minor = 0;
  std::vector<transaction> transactions;  // oldest first
};

struct consent {
  std::string consent_id;
  std::string customer;
  std::vector<std::string> permissions;  // as granted, each once
  bool revoked = false;
};

// What POST /v1/payments asks for; an idempotency key is reused with "the same body" when this
// compares equal (so key order and spacing in the JSON do not matter).
struct payment_order {
  std::string debtor_account;
  std::int64_t amount_minor = 0;
  std::string currency;
  std::string reference;
  bool operator==(const payment_order&) const = default;
};

struct payment {
  std::string payment_id;
  std::string customer;
  payment_order order;
  std::string status = "pending";  // then "completed" or "rejected"
  std::string reason{};            // "" unless rejected
};

http_answer reply(int status, const json::object& body) { return {status, json::serialize(body)}; }

http_answer refusal(int status, std::string_view error) {
  return reply(status, {{"error", error}});
}

const json::string* string_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value ? value->if_string() : nullptr;
}

bool sized(const json::string* text, std::size_t max_chars) {
  return text && !text->empty() && text->size() <= max_chars;
}

std::string header_of(const http_query& query, std::string_view name) {
  auto found = query.headers.find(std::string{name});
  return found == query.headers.end() ? std::string{} : found->second;
}

// The path segment where `pattern` has '*' ("" when it has none), or nullopt when `path` does
// not fit `pattern`.
std::optional<std::string> matched_id(std::string_view pattern, std::string_view path) {
  std::string id;
  for (;;) {
    const auto pattern_end = pattern.find('/');
    const auto path_end = path.find('/');
    const auto want = pattern.substr(0, pattern_end);
    const auto got = path.substr(0, path_end);
    if (want == "*" && !got.empty())
      id = std::string{got};
    else if (want != got)
      return std::nullopt;
    if (pattern_end == std::string_view::npos || path_end == std::string_view::npos)
      return pattern_end == path_end ? std::optional{id} : std::nullopt;
    pattern.remove_prefix(pattern_end + 1);
    path.remove_prefix(path_end + 1);
  }
}

// A request body that must be a JSON object, or nullopt when it is not one.
std::optional<json::object> object_in(const std::string& body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  return std::move(parsed.as_object());
}

// The body of POST /v1/consents, or nullopt with `problem` set to what the 400 says.
std::optional<consent> consent_in(const std::string& body, std::string& problem) {
  const auto doc = object_in(body);
  const json::object* fields = doc ? &*doc : nullptr;
  const json::string* customer = fields ? string_at(*fields, "customer") : nullptr;
  const json::value* listed = fields ? fields->if_contains("permissions") : nullptr;
  const json::array* permissions = listed ? listed->if_array() : nullptr;
  if (!sized(customer, max_customer_chars) || !permissions || permissions->empty()) {
    problem = "body must be {\"customer\": <1..64 chars>, \"permissions\": [...]}";
    return std::nullopt;
  }
  consent granted{"", std::string{*customer}, {}};
  for (const auto& item : *permissions) {
    const json::string* name = item.if_string();
    const std::string_view wanted = name ? std::string_view{*name} : std::string_view{};
    if (std::find(known_permissions.begin(), known_permissions.end(), wanted) ==
        known_permissions.end()) {
      problem = "permissions: some of \"accounts\", \"balances\", \"transactions\", \"payments\"";
      return std::nullopt;
    }
    if (std::find(granted.permissions.begin(), granted.permissions.end(), wanted) ==
        granted.permissions.end())
      granted.permissions.emplace_back(wanted);
  }
  return granted;
}

// An integral JSON number that fits int64 (money is never a double).
std::optional<std::int64_t> minor_units_in(const json::value* value) {
  if (!value) return std::nullopt;
  if (const auto* signed_value = value->if_int64()) return *signed_value;
  if (const auto* unsigned_value = value->if_uint64();
      unsigned_value && *unsigned_value <= std::numeric_limits<std::int64_t>::max())
    return static_cast<std::int64_t>(*unsigned_value);
  return std::nullopt;
}

// The body of POST /v1/payments, or nullopt with `problem` set to what the 400 says.
std::optional<payment_order> payment_order_in(const std::string& body, std::string& problem) {
  const auto fields = object_in(body);
  if (!fields) {
    problem = "body must be a JSON object";
    return std::nullopt;
  }
  const json::string* debtor = string_at(*fields, "debtor_account");
  const json::string* currency = string_at(*fields, "currency");
  const json::string* reference = string_at(*fields, "reference");
  const auto amount_minor = minor_units_in(fields->if_contains("amount_minor"));
  if (!debtor || !currency || currency->empty()) {
    problem = "debtor_account and currency must be strings";
    return std::nullopt;
  }
  if (!amount_minor || *amount_minor <= 0) {
    problem = "amount_minor must be a positive integer of minor units";
    return std::nullopt;
  }
  if (!sized(reference, max_reference_chars)) {
    problem = "reference must be a string of 1..64 characters";
    return std::nullopt;
  }
  return payment_order{std::string{*debtor}, *amount_minor, std::string{*currency},
                       std::string{*reference}};
}

json::object account_json(const account& a) {
  return {{"account_id", a.account_id}, {"currency", a.currency}, {"name", a.name}};
}

json::object transaction_json(const transaction& t) {
  return {{"transaction_id", t.transaction_id},
          {"amount_minor", t.amount_minor},
          {"currency", t.currency},
          {"reference", t.reference},
          {"booked_at_ms", t.booked_at_ms}};
}

json::object payment_json(const payment& p) {
  return {{"payment_id", p.payment_id},
          {"reference", p.order.reference},
          {"status", p.status},
          {"reason", p.reason},
          {"amount_minor", p.order.amount_minor},
          {"currency", p.order.currency},
          {"debtor_account", p.order.debtor_account}};
}

std::string webhook_body(const payment& p) {
  return json::serialize(json::object{{"payment_id", p.payment_id},
                                      {"reference", p.order.reference},
                                      {"status", p.status},
                                      {"reason", p.reason}});
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct bank_simulator::state {
  // One /v1 call: its route's '*' segment, and the consent it named (none for the consent
  // routes, which need none).
  struct call {
    const http_query& query;
    std::string id;
    const consent* by = nullptr;
  };
  using serve_fn = http_answer (state::*)(const call&);
  struct route {
    std::string_view method;
    std::string_view pattern;     // '*' stands for one non-empty path segment
    std::string_view permission;  // "" for a call that names no consent
    serve_fn serve;
  };

  mutable std::mutex mutex;
  std::condition_variable resume;  // a call held back by a fault: stop
  std::map<std::string, std::vector<std::string>> accounts_of;  // customer -> account ids
  std::map<std::string, account> accounts;                      // by account_id
  std::map<std::string, consent> consents;                      // by consent_id
  std::vector<payment> payments;                                // taken order: pay-<index + 1>
  std::map<std::string, std::size_t> payment_at;                // payment_id -> index
  // (customer, idempotency key) -> payment_id: a key is the customer's own.
  std::map<std::pair<std::string, std::string>, std::string> payment_by_key;
  std::int64_t consents_made = 0;
  std::int64_t transactions_booked = 0;
  std::string webhook_url;
  std::string webhook_secret;
  fault current_fault = fault::none;
  std::chrono::milliseconds slow_delay = 3000ms;
  std::chrono::milliseconds settle_delay = 200ms;
  std::int64_t opening_balance_minor = default_opening_balance_minor;
  bool stopping = false;
  // After the payments its jobs settle, so it stops before they go.
  signed_webhooks webhooks{"X-Bank"};
  // Last, so it stops (and its io thread no longer reads the fields above) before they go.
  http_server server{[this](const http_query& query) { return handle(query); }};

  http_answer handle(const http_query& query) {
    if (query.path == "/healthz" && query.method == "GET") return reply(200, {{"ok", true}});
    if (!query.path.starts_with(api_prefix)) return refusal(404, "no such endpoint");
    std::unique_lock<std::mutex> lock{mutex};
    const fault now = current_fault;
    if (now == fault::unavailable) return refusal(503, "bank unavailable");
    if (now == fault::slow) hold_back(lock);
    http_answer answer = serve(query);
    if (now == fault::lost_payment_answer && query.method == "POST" &&
        query.path == payments_path && answer.status == 201)
      hold_back(lock);
    return answer;
  }

  // slow_delay on the io thread (the server is held up too, as a slow bank's would be), cut
  // short by stop().
  void hold_back(std::unique_lock<std::mutex>& lock) {
    resume.wait_for(lock, slow_delay, [this] { return stopping; });
  }

  // With `mutex` held.
  http_answer serve(const http_query& query) {
    static constexpr route routes[] = {
        {"POST", "/v1/consents", "", &state::open_consent},
        {"DELETE", "/v1/consents/*", "", &state::revoke_consent},
        {"GET", "/v1/accounts", "accounts", &state::list_accounts},
        {"GET", "/v1/accounts/*/balances", "balances", &state::balance},
        {"GET", "/v1/accounts/*/transactions", "transactions", &state::statement},
        {"POST", "/v1/payments", "payments", &state::take_payment},
        {"GET", "/v1/payments", "payments", &state::find_payments},
        {"GET", "/v1/payments/*", "payments", &state::payment_status},
    };
    for (const route& r : routes) {
      if (r.method != query.method) continue;
      auto id = matched_id(r.pattern, query.path);
      if (!id) continue;
      call c{query, std::move(*id)};
      if (!r.permission.empty()) {
        if (auto refused = authorise(c, r.permission)) return *refused;
      }
      return (this->*r.serve)(c);
    }
    return refusal(404, "no such endpoint");
  }

  // Sets `c.by` to the call's consent, or answers why it may not be made.
  std::optional<http_answer> authorise(call& c, std::string_view permission) const {
    const std::string consent_id = header_of(c.query, consent_header);
    auto found = consent_id.empty() ? consents.end() : consents.find(consent_id);
    if (found == consents.end())
      return refusal(401, "x-consent-id must name a consent the bank knows");
    const consent& granted = found->second;
    if (granted.revoked) return refusal(403, "consent revoked");
    if (std::find(granted.permissions.begin(), granted.permissions.end(), permission) ==
        granted.permissions.end())
      return refusal(403, "consent lacks the " + std::string{permission} + " permission");
    c.by = &granted;
    return std::nullopt;
  }

  http_answer open_consent(const call& c) {
    std::string problem;
    auto granted = consent_in(c.query.body, problem);
    if (!granted) return refusal(400, problem);
    granted->consent_id = "cons-" + std::to_string(++consents_made);
    if (!accounts_of.contains(granted->customer)) open_account_for(granted->customer);
    json::array permissions;
    for (const auto& p : granted->permissions) permissions.emplace_back(p);
    json::object body{{"consent_id", granted->consent_id},
                      {"status", "authorised"},
                      {"customer", granted->customer},
                      {"permissions", std::move(permissions)}};
    consents.emplace(granted->consent_id, std::move(*granted));
    return reply(201, body);
  }

  // A DELETE of a consent already revoked answers 204 again: revoking is idempotent.
  http_answer revoke_consent(const call& c) {
    auto found = consents.find(c.id);
    if (found == consents.end()) return refusal(404, "no such consent");
    found->second.revoked = true;
    return {204, ""};
  }

  void open_account_for(const std::string& customer) {
    // Account ids count every account made, across customers.
    const auto id = "acc-" + std::to_string(accounts.size() + 1);
    accounts.emplace(id, account{id, customer, std::string{account_currency},
                                 std::string{account_name}, opening_balance_minor, {}});
    accounts_of[customer].push_back(id);
  }

  // The consent's customer's account with `account_id`, or nullptr (another's reads as unknown).
  account* account_for(const call& c, const std::string& account_id) {
    auto found = accounts.find(account_id);
    return found != accounts.end() && found->second.customer == c.by->customer ? &found->second
                                                                               : nullptr;
  }

  http_answer list_accounts(const call& c) {
    json::array listed;
    for (const auto& id : accounts_of.at(c.by->customer))
      listed.push_back(account_json(accounts.at(id)));
    return reply(200, {{"accounts", std::move(listed)}});
  }

  http_answer balance(const call& c) {
    const account* a = account_for(c, c.id);
    if (!a) return refusal(404, "no such account");
    return reply(200, {{"account_id", a->account_id},
                       {"currency", a->currency},
                       {"available_minor", a->available_minor}});
  }

  http_answer statement(const call& c) {
    const account* a = account_for(c, c.id);
    if (!a) return refusal(404, "no such account");
    json::array listed;
    for (const auto& t : a->transactions) listed.push_back(transaction_json(t));
    return reply(200, {{"transactions", std::move(listed)}});
  }

  http_answer take_payment(const call& c) {
    const std::string key = header_of(c.query, idempotency_header);
    if (key.empty() || key.size() > max_idempotency_key_chars)
      return refusal(400, "x-idempotency-key must be 1..64 characters");
    std::string problem;
    auto order = payment_order_in(c.query.body, problem);
    if (!order) return refusal(400, problem);
    auto idempotency = std::pair{c.by->customer, key};
    if (auto known = payment_by_key.find(idempotency); known != payment_by_key.end()) {
      const payment& earlier = payments.at(payment_at.at(known->second));
      if (earlier.order != *order)
        return refusal(409, "x-idempotency-key was used with another request");
      return reply(200, taken_json(earlier));
    }
    const account* debtor = account_for(c, order->debtor_account);
    if (!debtor) return refusal(404, "no such account");
    if (debtor->currency != order->currency)
      return refusal(400, "currency must be the debtor account's, " + debtor->currency);
    const auto id = "pay-" + std::to_string(payments.size() + 1);
    payment_at.emplace(id, payments.size());
    payments.push_back(payment{id, c.by->customer, std::move(*order)});
    payment_by_key.emplace(std::move(idempotency), id);
    webhooks.run_at(signed_webhooks::clock::now() + settle_delay, [this, id] { settle(id); });
    return reply(201, taken_json(payments.back()));
  }

  static json::object taken_json(const payment& p) {
    return {{"payment_id", p.payment_id}, {"status", p.status}, {"reference", p.order.reference}};
  }

  const payment* payment_for(const call& c, const std::string& payment_id) const {
    auto found = payment_at.find(payment_id);
    if (found == payment_at.end()) return nullptr;
    const payment& p = payments.at(found->second);
    return p.customer == c.by->customer ? &p : nullptr;
  }

  http_answer payment_status(const call& c) {
    const payment* p = payment_for(c, c.id);
    if (!p) return refusal(404, "no such payment");
    return reply(200, payment_json(*p));
  }

  http_answer find_payments(const call& c) {
    auto reference = c.query.query.find("reference");
    if (reference == c.query.query.end())
      return refusal(400, "GET /v1/payments needs ?reference=");
    json::array found;
    for (const auto& p : payments)
      if (p.customer == c.by->customer && p.order.reference == reference->second)
        found.push_back(payment_json(p));
    return reply(200, {{"payments", std::move(found)}});
  }

  // A job of the webhook worker, settle_delay after the payment was taken.
  void settle(const std::string& payment_id) {
    std::lock_guard<std::mutex> guard{mutex};
    payment& p = payments.at(payment_at.at(payment_id));
    account& debtor = accounts.at(p.order.debtor_account);
    // amount_minor > 0, so a balance at least that large cannot overflow on the way down.
    if (debtor.available_minor >= p.order.amount_minor) {
      debtor.available_minor -= p.order.amount_minor;
      debtor.transactions.push_back({"txn-" + std::to_string(++transactions_booked),
                                     -p.order.amount_minor, p.order.currency, p.order.reference,
                                     unix_now_ms()});
      p.status = "completed";
    } else {
      p.status = "rejected";
      p.reason = "insufficient_funds";
    }
    webhooks.send(webhook_body(p));  // nothing is queued while no URL is set
  }

  // With `mutex` held: the key webhooks are signed with follows the secret and the fault.
  void point_webhooks() {
    webhooks.set_target(webhook_url, current_fault == fault::bad_signature
                                         ? "not-" + webhook_secret
                                         : webhook_secret);
  }
};

bank_simulator::bank_simulator() : state_(std::make_unique<state>()) {}

bank_simulator::~bank_simulator() { stop(); }

std::optional<std::uint16_t> bank_simulator::start(const std::string& bind_address,
                                                   std::uint16_t port, std::string& failure) {
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->stopping = false;
  }
  state_->webhooks.start();  // first: a payment can arrive as soon as the server listens
  if (auto bound = state_->server.start(bind_address, port, failure)) return bound;
  state_->webhooks.stop();
  failure = "bank simulator: " + failure;
  return std::nullopt;
}

void bank_simulator::stop() {
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->stopping = true;
  }
  state_->resume.notify_all();  // a call held back by a fault answers now
  state_->server.stop();
  state_->webhooks.stop();
}

std::string bank_simulator::base_url() const { return state_->server.base_url(); }

void bank_simulator::set_webhook(std::string url, std::string secret) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->webhook_url = std::move(url);
  state_->webhook_secret = std::move(secret);
  state_->point_webhooks();
}

void bank_simulator::set_fault(fault f) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->current_fault = f;
  state_->point_webhooks();
}

void bank_simulator::set_slow_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->slow_delay = delay;
}

void bank_simulator::set_settle_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->settle_delay = delay;
}

void bank_simulator::set_opening_balance(std::int64_t minor) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->opening_balance_minor = minor;
}

std::int64_t bank_simulator::payments_received() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return static_cast<std::int64_t>(state_->payments.size());
}

std::int64_t bank_simulator::webhooks_delivered() const { return state_->webhooks.delivered(); }

std::int64_t bank_simulator::balance_of(const std::string& account_id) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto found = state_->accounts.find(account_id);
  return found == state_->accounts.end() ? -1 : found->second.available_minor;
}

bool bank_simulator::return_payment(const std::string& reference, const std::string& reason) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  for (auto& p : state_->payments) {
    if (p.order.reference != reference || p.status != "completed") continue;
    account& debtor = state_->accounts.at(p.order.debtor_account);
    debtor.available_minor += p.order.amount_minor;
    debtor.transactions.push_back({"txn-" + std::to_string(++state_->transactions_booked),
                                   p.order.amount_minor, p.order.currency, p.order.reference,
                                   unix_now_ms()});
    p.status = "returned";
    p.reason = reason;
    state_->webhooks.send(webhook_body(p));
    return true;
  }
  return false;
}

}  // namespace superapp::sim
