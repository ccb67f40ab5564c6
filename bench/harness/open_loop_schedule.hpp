// When each request of an open-loop run is meant to be sent: a fixed rate after a linear ramp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace superapp::bench {

// Request n (0-based) is due at intended_offset(n) after the run starts. During the ramp the
// rate grows linearly from 0 to rate_per_s; after it, requests are 1/rate_per_s apart. The
// schedule is fixed in advance: a slow reply never delays a later send, so latency measured
// from the intended time includes any queueing the server caused (no coordinated omission).
class open_loop_schedule {
 public:
  open_loop_schedule(double rate_per_s, std::chrono::nanoseconds ramp,
                     std::chrono::nanoseconds duration);

  std::chrono::nanoseconds intended_offset(std::uint64_t n) const noexcept;
  // How many requests are due before the duration ends: the run's bound on its sends.
  std::uint64_t total_requests() const noexcept { return total_; }
  // The number of requests due at or before `elapsed` (capped at total_requests()).
  std::uint64_t due_by(std::chrono::nanoseconds elapsed) const noexcept;

 private:
  double rate_per_s_;
  double ramp_s_;
  double ramp_requests_;  // requests sent during the ramp: rate * ramp / 2
  std::uint64_t total_ = 0;
};

}  // namespace superapp::bench
