// Fault injection for isolation tests, benchmarks and the operators' chaos controls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "supervisors/supervisor.hpp"

namespace superapp::sup {

// A worker that crashes `interval` after every start: under a supervisor it is a crash loop
// that the restart intensity and backoff contain. It exits with sec::runtime_error, the very
// reason an uncaught exception gives, without CAF printing each one to stdout.
child_spec crash_loop_child(std::string id, std::chrono::milliseconds interval);

// An operator's chaos on one domain's replies (the dashboard's chaos control): its front door
// fails every op with `unavailable`, or answers each op `delay_ms` late, until `until_ms`
// (milliseconds since the Unix epoch, the wall clock: operators read it as a time of day).
enum class chaos_mode : std::uint8_t { off, fail, delay };

const char* to_string(chaos_mode mode);

struct chaos_state {
  chaos_mode mode = chaos_mode::off;
  std::int64_t delay_ms = 0;
  std::int64_t until_ms = 0;
};

// Shared by the operators' side (which sets it) and the domain's front door (which reads it on
// every op). Outlives the domain's restarts: chaos is about the domain, not one incarnation.
class domain_chaos {
 public:
  void set(chaos_state state) {
    std::lock_guard<std::mutex> guard{mutex_};
    state_ = state;
    armed_.store(state.mode != chaos_mode::off, std::memory_order_release);
  }

  // What applies at `now_ms`: off once the time is up. The common case, no chaos ever set,
  // costs one atomic load.
  chaos_state current(std::int64_t now_ms) const {
    if (!armed_.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> guard{mutex_};
    if (state_.mode == chaos_mode::off || now_ms >= state_.until_ms) return {};
    return state_;
  }

 private:
  mutable std::mutex mutex_;
  chaos_state state_;
  std::atomic<bool> armed_{false};
};

// The node's chaos switches, one per domain, made on first use.
class chaos_board {
 public:
  std::shared_ptr<domain_chaos> for_domain(const std::string& domain) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& slot = domains_[domain];
    if (!slot) slot = std::make_shared<domain_chaos>();
    return slot;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<domain_chaos>> domains_;
};

using chaos_board_ptr = std::shared_ptr<chaos_board>;

// Milliseconds since the Unix epoch by the system clock.
std::int64_t wall_clock_ms();

}  // namespace superapp::sup
