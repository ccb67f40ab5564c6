// The injected clock: production code asks clock::now(), tests drive a manual_clock.
#pragma once

#include <atomic>
#include <chrono>

namespace superapp {

class clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

class system_clock final : public clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when a test says so.
class manual_clock final : public clock {
 public:
  explicit manual_clock(time_point start = time_point{std::chrono::seconds{1'700'000'000}})
      : now_ns_(start.time_since_epoch().count()) {}
  time_point now() const override {
    return time_point{time_point::duration{now_ns_.load(std::memory_order_acquire)}};
  }
  void advance(std::chrono::nanoseconds by) {
    now_ns_.fetch_add(std::chrono::duration_cast<time_point::duration>(by).count(),
                      std::memory_order_acq_rel);
  }

 private:
  std::atomic<time_point::duration::rep> now_ns_;
};

}  // namespace superapp
