// Daily partner quotas: counted per credential per UTC day, reset at midnight, retry to midnight.
#include "gateway/filters/quota.hpp"

#include <doctest/doctest.h>

using namespace superapp;
using namespace superapp::filters;
using namespace std::chrono_literals;

namespace {
// 2023-11-14T22:13:20Z; the next UTC midnight is 1'700'006'400, 6400 s later.
const clock::time_point start{std::chrono::seconds{1'700'000'000}};
}  // namespace

TEST_CASE("a credential's requests are counted per day up to its limit") {
  manual_clock clock{start};
  daily_quota quota{clock};
  quota.set_limit("partner-a", 3);
  for (int i = 1; i <= 3; ++i) {
    auto d = quota.try_consume("partner-a");
    CHECK(d.allowed());
    CHECK(d.used_today == i);
    CHECK(d.limit_per_day == 3);
  }
  auto refused = quota.try_consume("partner-a");
  CHECK(refused.outcome == quota_decision::verdict::exhausted);
  CHECK(refused.used_today == 3);
}

TEST_CASE("a spent quota says retry_after_ms until the next UTC midnight") {
  manual_clock clock{start};
  daily_quota quota{clock};
  quota.set_limit("partner-a", 1);
  CHECK(quota.try_consume("partner-a").allowed());
  CHECK(quota.try_consume("partner-a").retry_after_ms == 6'400'000);
  clock.advance(6'399'999ms);
  CHECK(quota.try_consume("partner-a").retry_after_ms == 1);
}

TEST_CASE("the count resets at UTC midnight") {
  manual_clock clock{start};
  daily_quota quota{clock};
  quota.set_limit("partner-a", 2);
  CHECK(quota.try_consume("partner-a").allowed());
  CHECK(quota.try_consume("partner-a").allowed());
  CHECK_FALSE(quota.try_consume("partner-a").allowed());
  clock.advance(6'400s);
  auto d = quota.try_consume("partner-a");
  CHECK(d.allowed());
  CHECK(d.used_today == 1);
  clock.advance(24h - 1ms);  // 23:59:59.999 of the same day
  CHECK(quota.try_consume("partner-a").allowed());
  auto spent = quota.try_consume("partner-a");
  CHECK_FALSE(spent.allowed());
  CHECK(spent.retry_after_ms == 1);
}

TEST_CASE("credentials have independent quotas and an unknown credential is refused") {
  manual_clock clock{start};
  daily_quota quota{clock};
  quota.set_limit("partner-a", 1);
  quota.set_limit("partner-b", 1);
  CHECK(quota.try_consume("partner-a").allowed());
  CHECK(quota.try_consume("partner-b").allowed());
  CHECK(quota.try_consume("partner-x").outcome == quota_decision::verdict::unknown_credential);
  quota.remove("partner-b");
  CHECK(quota.try_consume("partner-b").outcome == quota_decision::verdict::unknown_credential);
}

TEST_CASE("raising a limit at run time keeps today's count") {
  manual_clock clock{start};
  daily_quota quota{clock};
  quota.set_limit("partner-a", 1);
  CHECK(quota.try_consume("partner-a").allowed());
  CHECK_FALSE(quota.try_consume("partner-a").allowed());
  quota.set_limit("partner-a", 2);
  auto d = quota.try_consume("partner-a");
  CHECK(d.allowed());
  CHECK(d.used_today == 2);
}
