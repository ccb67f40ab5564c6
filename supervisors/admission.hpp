// Admission by credit at a domain's front door: beyond the credit, `overloaded` at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "protocols/assert.hpp"

namespace superapp::sup {

// CAF 0.17 mailboxes are unbounded, so a front door admits work by credit: a caller takes a
// credit before it sends and gives it back when the reply (or the error) arrives. With every
// credit taken, the next caller gets `overloaded` without enqueueing anything, which bounds the
// front door's mailbox by its credit count. Shared between callers and the front door; lock-free.
class admission_gate {
 public:
  explicit admission_gate(std::int64_t credits) : credits_(credits) {
    SUPERAPP_ASSERT(credits > 0);
  }

  bool try_acquire() noexcept {
    auto used = in_flight_.load(std::memory_order_relaxed);
    do {
      if (used >= credits_) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!in_flight_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel,
                                               std::memory_order_relaxed));
    admitted_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void release() noexcept {
    auto before = in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    SUPERAPP_ASSERT(before > 0);
  }

  std::int64_t credits() const noexcept { return credits_; }
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  std::uint64_t admitted() const noexcept { return admitted_.load(std::memory_order_relaxed); }
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  const std::int64_t credits_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

using admission_gate_ptr = std::shared_ptr<admission_gate>;

}  // namespace superapp::sup
