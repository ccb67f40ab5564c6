// The simulators' webhook worker: one thread running due work and signed deliveries in time
// order, each delivery attempt signed afresh and retried with doubling backoff.
#include "simulators/http/signed_webhooks.hpp"

#include "protocols/hex.hpp"
#include "protocols/http/http_client.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace superapp::sim {
namespace {

using namespace std::chrono_literals;

constexpr int max_attempts = 6;
constexpr auto first_backoff = 250ms;
constexpr auto max_backoff = 4000ms;
constexpr auto exchange_deadline = 2000ms;

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
  if (result == nullptr) throw std::logic_error{"signed webhooks: HMAC-SHA256 failed"};
  return "v1=" + superapp::to_hex(mac.data(), length);
}

std::chrono::milliseconds backoff_after(int attempt) {
  return std::min<std::chrono::milliseconds>(first_backoff * (1 << (attempt - 1)), max_backoff);
}

}  // namespace

struct signed_webhooks::state {
  const std::string timestamp_header;
  const std::string signature_header;
  mutable std::mutex mutex;
  std::condition_variable wake;  // the worker: work was queued, or stop
  std::multimap<clock::time_point, std::function<void()>> due;  // soonest first, FIFO among equals
  std::string url;
  std::string secret;
  std::chrono::seconds timestamp_offset{0};
  std::int64_t attempts = 0;
  std::int64_t delivered = 0;
  int last_status = 0;
  bool running = false;
  std::thread worker;

  explicit state(const std::string& header_prefix)
      : timestamp_header(header_prefix + "-Timestamp"),
        signature_header(header_prefix + "-Signature") {}

  // With `mutex` held.
  void queue(clock::time_point when, std::function<void()> work) {
    if (!running) return;
    due.emplace(when, std::move(work));
    wake.notify_one();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mutex};
    while (running) {
      if (due.empty()) {
        wake.wait(lock);
        continue;
      }
      auto next = due.begin();
      // A copy: wait_until reads the time again on waking, after stop() may have freed the entry.
      const clock::time_point when = next->first;
      if (clock::now() < when) {
        wake.wait_until(lock, when);
        continue;
      }
      auto work = std::move(next->second);
      due.erase(next);
      lock.unlock();
      work();
      lock.lock();
    }
  }

  // A job of the worker: one attempt of a delivery, queueing the next one if it failed.
  void attempt(const std::string& body, int number) {
    std::unique_lock<std::mutex> lock{mutex};
    if (url.empty()) return;  // unset since the delivery was queued
    const auto at = http::parse_url(url);
    const auto signed_at = std::chrono::system_clock::now() + timestamp_offset;
    const auto timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(signed_at.time_since_epoch()).count());
    const std::vector<std::pair<std::string, std::string>> headers{
        {timestamp_header, timestamp}, {signature_header, signature_of(secret, timestamp, body)}};
    lock.unlock();
    int status = 0;  // also when the URL is not http://HOST:PORT[/path]
    if (at) {
      auto outcome = http::post_json(*at, at->base_path.empty() ? "/" : "", body,
                                     exchange_deadline, headers);
      if (outcome) status = outcome.reply->status;
    }
    lock.lock();
    ++attempts;
    last_status = status;
    if (status / 100 == 2) {
      ++delivered;
    } else if (number < max_attempts) {
      queue(clock::now() + backoff_after(number),
            [this, body, number] { attempt(body, number + 1); });
    }
  }
};

signed_webhooks::signed_webhooks(std::string header_prefix)
    : state_(std::make_unique<state>(header_prefix)) {}

signed_webhooks::~signed_webhooks() { stop(); }

void signed_webhooks::start() {
  std::lock_guard<std::mutex> guard{state_->mutex};
  if (state_->running) return;
  state_->running = true;
  state_->worker = std::thread{[s = state_.get()] { s->run(); }};
}

void signed_webhooks::stop() {
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->running = false;
    state_->due.clear();
  }
  state_->wake.notify_all();
  if (state_->worker.joinable()) state_->worker.join();
}

void signed_webhooks::set_target(std::string url, std::string secret) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->url = std::move(url);
  state_->secret = std::move(secret);
}

void signed_webhooks::set_url(std::string url) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->url = std::move(url);
}

void signed_webhooks::set_timestamp_offset(std::chrono::seconds offset) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->timestamp_offset = offset;
}

bool signed_webhooks::send(std::string body) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  if (!state_->running || state_->url.empty()) return false;
  state_->queue(clock::now(),
                [s = state_.get(), body = std::move(body)] { s->attempt(body, 1); });
  return true;
}

void signed_webhooks::run_at(clock::time_point when, std::function<void()> work) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->queue(when, std::move(work));
}

std::int64_t signed_webhooks::attempts() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->attempts;
}

std::int64_t signed_webhooks::delivered() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->delivered;
}

int signed_webhooks::last_status() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->last_status;
}

}  // namespace superapp::sim
