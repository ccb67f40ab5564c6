// The open-loop schedule: closed-form intended send times, ramp included.
#include "bench/harness/open_loop_schedule.hpp"

#include <cmath>

#include "protocols/assert.hpp"

namespace superapp::bench {

open_loop_schedule::open_loop_schedule(double rate_per_s, std::chrono::nanoseconds ramp,
                                       std::chrono::nanoseconds duration)
    : rate_per_s_(rate_per_s),
      ramp_s_(std::chrono::duration<double>(ramp).count()),
      ramp_requests_(rate_per_s * std::chrono::duration<double>(ramp).count() / 2) {
  SUPERAPP_ASSERT(rate_per_s > 0);
  SUPERAPP_ASSERT(ramp.count() >= 0 && ramp <= duration);
  total_ = duration.count() > 0 ? due_by(duration - std::chrono::nanoseconds{1}) : 0;
}

std::chrono::nanoseconds open_loop_schedule::intended_offset(std::uint64_t n) const noexcept {
  const auto k = static_cast<double>(n);
  double seconds = 0;
  if (k < ramp_requests_) {
    // Requests sent by time t during the ramp: rate * t^2 / (2 * ramp).
    seconds = std::sqrt(2 * ramp_s_ * k / rate_per_s_);
  } else {
    seconds = ramp_s_ + (k - ramp_requests_) / rate_per_s_;
  }
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(seconds * 1e9))};
}

std::uint64_t open_loop_schedule::due_by(std::chrono::nanoseconds elapsed) const noexcept {
  const double t = std::chrono::duration<double>(elapsed).count();
  if (t < 0) return 0;
  double sent = 0;
  if (t < ramp_s_) sent = rate_per_s_ * t * t / (2 * ramp_s_);
  else sent = ramp_requests_ + (t - ramp_s_) * rate_per_s_;
  // Request n is due at intended_offset(n) <= t, so floor(sent) + 1 are due (n = 0 at t = 0).
  auto due = static_cast<std::uint64_t>(std::floor(sent + 1e-9)) + 1;
  // Rounding in intended_offset() may put the last one a nanosecond late; trust it.
  while (due > 0 && intended_offset(due - 1) > elapsed) --due;
  if (total_ != 0 && due > total_) due = total_;
  return due;
}

}  // namespace superapp::bench
