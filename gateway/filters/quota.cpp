// Daily quotas: a count per credential, invalidated when the UTC day of the clock changes.
#include "gateway/filters/quota.hpp"

#include <chrono>

#include "protocols/assert.hpp"

namespace superapp::filters {
namespace {

constexpr std::int64_t ms_per_day = 24LL * 60 * 60 * 1000;

// Floor division, so instants before 1970 still land in the right day.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

daily_quota::daily_quota(const superapp::clock& clock) : clock_(clock) {}

void daily_quota::set_limit(std::string_view credential, std::int64_t limit_per_day) {
  SUPERAPP_ASSERT(!credential.empty());
  SUPERAPP_ASSERT(limit_per_day >= 0);
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = accounts_.find(credential);
  if (it == accounts_.end()) it = accounts_.emplace(std::string{credential}, account{}).first;
  it->second.limit_per_day = limit_per_day;
}

void daily_quota::remove(std::string_view credential) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto it = accounts_.find(credential); it != accounts_.end()) accounts_.erase(it);
}

quota_decision daily_quota::try_consume(std::string_view credential) {
  return consume(credential, std::nullopt);
}

quota_decision daily_quota::try_consume(std::string_view credential, std::int64_t limit_per_day) {
  return consume(credential, limit_per_day);
}

quota_decision daily_quota::consume(std::string_view credential,
                                    std::optional<std::int64_t> limit_per_day) {
  // system_clock counts POSIX time, which has no leap seconds: every UTC day is 86 400 s here.
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
          .count();
  const std::int64_t today = floor_div(now_ms, ms_per_day);
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = accounts_.find(credential);
  if (it == accounts_.end()) {
    if (!limit_per_day) return quota_decision{};
    it = accounts_.emplace(std::string{credential}, account{*limit_per_day, today, 0}).first;
  }
  auto& a = it->second;
  if (limit_per_day) a.limit_per_day = *limit_per_day;
  // A clock stepping back across midnight keeps the later day's count rather than refunding it.
  if (today > a.day) {
    a.day = today;
    a.used = 0;
  }
  quota_decision d;
  d.limit_per_day = a.limit_per_day;
  if (a.used >= a.limit_per_day) {
    d.outcome = quota_decision::verdict::exhausted;
    d.used_today = a.used;
    d.retry_after_ms = (a.day + 1) * ms_per_day - now_ms;
    return d;
  }
  d.outcome = quota_decision::verdict::allowed;
  d.used_today = ++a.used;
  return d;
}

}  // namespace superapp::filters
