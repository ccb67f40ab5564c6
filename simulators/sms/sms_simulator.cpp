// The SMS provider simulator: the shared simulator HTTP server with SMS routes behind it.
#include "simulators/sms/sms_simulator.hpp"

#include "simulators/http/http_server.hpp"

#include <atomic>
#include <boost/json.hpp>
#include <mutex>

namespace superapp::sim {
namespace {

namespace json = boost::json;

http_answer reply(int status, const json::object& body) { return {status, json::serialize(body)}; }

}  // namespace

std::string otp_code_in(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] >= '0' && text[i] <= '9') {
      std::size_t j = i;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
      if (j - i == 6) return text.substr(i, 6);
      i = j;
    } else {
      ++i;
    }
  }
  return "";
}

struct sms_simulator::state {
  mutable std::mutex mutex;
  std::map<std::string, message> last;  // by number
  std::int64_t received = 0;
  std::atomic<bool> failing{false};
  // Last, so it stops (and its io thread no longer reads the fields above) before they go.
  http_server server{[this](const http_query& query) { return handle(query); }};

  http_answer handle(const http_query& query) {
    if (query.path == "/healthz" && query.method == "GET") return reply(200, {{"ok", true}});
    if (query.path == "/v1/messages" && query.method == "POST") return accept_message(query.body);
    if (query.path == "/v1/messages/last" && query.method == "GET") {
      auto to = query.query.find("to");
      return last_message_to(to == query.query.end() ? "" : to->second);
    }
    return reply(404, {{"error", "no such endpoint"}});
  }

  http_answer accept_message(const std::string& body) {
    if (failing) return reply(503, {{"error", "provider down"}});
    boost::system::error_code ec;
    auto doc = json::parse(body, ec);
    const json::object* o = ec ? nullptr : doc.if_object();
    const json::string* to = o ? (o->contains("to") ? o->at("to").if_string() : nullptr) : nullptr;
    const json::string* text =
        o ? (o->contains("text") ? o->at("text").if_string() : nullptr) : nullptr;
    if (!to || !text || to->empty())
      return reply(400, {{"error", "body must be {\"to\",\"text\"}"}});
    std::int64_t id = 0;
    {
      std::lock_guard<std::mutex> guard{mutex};
      id = ++received;
      auto& m = last[std::string{*to}];
      m.to = std::string{*to};
      m.text = std::string{*text};
      m.count += 1;
    }
    return reply(202, {{"message_id", "m-" + std::to_string(id)}});
  }

  http_answer last_message_to(const std::string& to) {
    std::optional<message> found;
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (auto it = last.find(to); it != last.end()) found = it->second;
    }
    if (!found) return reply(404, {{"error", "no message to that number"}});
    return reply(200, {{"to", found->to},
                       {"text", found->text},
                       {"code", otp_code_in(found->text)},
                       {"count", found->count}});
  }
};

sms_simulator::sms_simulator() : state_(std::make_unique<state>()) {}

sms_simulator::~sms_simulator() { stop(); }

std::optional<std::uint16_t> sms_simulator::start(const std::string& bind_address,
                                                  std::uint16_t port, std::string& failure) {
  auto bound = state_->server.start(bind_address, port, failure);
  if (!bound) failure = "sms simulator: " + failure;
  return bound;
}

void sms_simulator::stop() { state_->server.stop(); }

std::string sms_simulator::base_url() const { return state_->server.base_url(); }

std::optional<sms_simulator::message> sms_simulator::last_message(const std::string& to) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto it = state_->last.find(to);
  if (it == state_->last.end()) return std::nullopt;
  return it->second;
}

std::int64_t sms_simulator::messages_received() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->received;
}

void sms_simulator::set_failing(bool failing) { state_->failing = failing; }

}  // namespace superapp::sim
