// Admission by credit at a domain's front door: beyond the credit, `overloaded` at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "protocols/assert.hpp"
#include "supervisors/metrics.hpp"

namespace superapp::sup {

// The front door's latency series (registered per domain by its tree, read by the dashboard).
inline constexpr std::string_view front_door_latency_metric =
    "superapp_front_door_request_duration_seconds";
inline constexpr std::string_view front_door_latency_help =
    "Time from admission to reply at a domain's front door";

// CAF 0.17 mailboxes are unbounded, so a front door admits work by credit: a caller takes a
// credit before it sends and gives it back when the reply (or the error) arrives. With every
// credit taken, the next caller gets `overloaded` without enqueueing anything, which bounds the
// front door's mailbox by its credit count. Shared between callers and the front door; lock-free.
class admission_gate {
 public:
  // Series of one front door, registered by its domain tree; empty handles record nothing.
  struct gate_metrics {
    metrics::counter admitted;   // superapp_front_door_requests_total
    metrics::counter rejected;   // superapp_front_door_rejected_total
    metrics::histogram latency;  // superapp_front_door_request_duration_seconds
  };

  explicit admission_gate(std::int64_t credits, gate_metrics series = {})
      : credits_(credits), metrics_(std::move(series)) {
    SUPERAPP_ASSERT(credits > 0);
  }

  bool try_acquire() noexcept {
    auto used = in_flight_.load(std::memory_order_relaxed);
    do {
      if (used >= credits_) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        if (metrics_.rejected) metrics_.rejected.increment();
        return false;
      }
    } while (!in_flight_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel,
                                               std::memory_order_relaxed));
    admitted_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_.admitted) metrics_.admitted.increment();
    return true;
  }

  void release() noexcept {
    auto before = in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    SUPERAPP_ASSERT(before > 0);
  }

  // Gives the credit back and records how long the request held it.
  template <class Rep, class Period>
  void release(std::chrono::duration<Rep, Period> held) noexcept {
    if (metrics_.latency) metrics_.latency.observe(held);
    release();
  }

  // Errors callers got back through this gate, by wire code (`overloaded` included), for the
  // operators' dashboard. admitted_request records them; errors are rare enough for a mutex.
  void record_error(std::string_view wire_code) {
    std::lock_guard<std::mutex> guard{errors_mutex_};
    auto i = errors_.find(wire_code);
    if (i == errors_.end()) i = errors_.emplace(std::string{wire_code}, 0).first;
    ++i->second;
  }

  std::map<std::string, std::uint64_t, std::less<>> errors() const {
    std::lock_guard<std::mutex> guard{errors_mutex_};
    return errors_;
  }

  std::int64_t credits() const noexcept { return credits_; }
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  std::uint64_t admitted() const noexcept { return admitted_.load(std::memory_order_relaxed); }
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  const std::int64_t credits_;
  gate_metrics metrics_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> rejected_{0};
  mutable std::mutex errors_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> errors_;
};

using admission_gate_ptr = std::shared_ptr<admission_gate>;

}  // namespace superapp::sup
