// Token buckets on the injected clock: burst, exact retry_after_ms, refill, bounds, threads.
#include "gateway/filters/rate_limit.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace superapp;
using namespace superapp::filters;
using namespace std::chrono_literals;

TEST_CASE("a bucket allows a burst up to capacity then refuses with the exact retry_after_ms") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{3, 2.0}, clock};
  CHECK(limiter.try_acquire("user-1").allowed);
  CHECK(limiter.try_acquire("user-1").allowed);
  CHECK(limiter.try_acquire("user-1").allowed);
  auto refused = limiter.try_acquire("user-1");
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_ms == 500);  // one token at 2 per second
  clock.advance(100ms);
  CHECK(limiter.try_acquire("user-1").retry_after_ms == 400);
  clock.advance(399ms);
  CHECK(limiter.try_acquire("user-1").retry_after_ms == 1);
  clock.advance(1ms);
  CHECK(limiter.try_acquire("user-1").allowed);
  CHECK_FALSE(limiter.try_acquire("user-1").allowed);
}

TEST_CASE("retry_after_ms rounds a partial millisecond up, never down") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{1, 3.0}, clock};  // one token every 333.33.. ms
  CHECK(limiter.try_acquire("k").allowed);
  CHECK(limiter.try_acquire("k").retry_after_ms == 334);
  clock.advance(333ms);
  CHECK(limiter.try_acquire("k").retry_after_ms == 1);
  clock.advance(1ms);
  CHECK(limiter.try_acquire("k").allowed);
}

TEST_CASE("a bucket refills over injected time but never beyond capacity") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{5, 1.0}, clock};
  for (int i = 0; i < 5; ++i) CHECK(limiter.try_acquire("k").allowed);
  CHECK_FALSE(limiter.try_acquire("k").allowed);
  clock.advance(2s);
  CHECK(limiter.try_acquire("k").allowed);
  CHECK(limiter.try_acquire("k").allowed);
  CHECK_FALSE(limiter.try_acquire("k").allowed);
  clock.advance(std::chrono::hours{24 * 365});  // a long idle must not overflow the arithmetic
  for (int i = 0; i < 5; ++i) CHECK(limiter.try_acquire("k").allowed);
  CHECK_FALSE(limiter.try_acquire("k").allowed);
}

TEST_CASE("a slow refill below one token per second is exact too") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{1, 0.5}, clock};  // 30 per minute
  CHECK(limiter.try_acquire("k").allowed);
  CHECK(limiter.try_acquire("k").retry_after_ms == 2000);
}

TEST_CASE("a clock stepping backwards neither refills nor breaks a bucket") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{1, 1.0}, clock};
  CHECK(limiter.try_acquire("k").allowed);
  clock.advance(-10s);
  CHECK_FALSE(limiter.try_acquire("k").allowed);
  clock.advance(10s + 1s);
  CHECK(limiter.try_acquire("k").allowed);
}

TEST_CASE("separate keys have independent buckets") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{1, 1.0}, clock};
  CHECK(limiter.try_acquire("alice").allowed);
  CHECK_FALSE(limiter.try_acquire("alice").allowed);
  CHECK(limiter.try_acquire("bob").allowed);
  CHECK(limiter.try_acquire("10.0.0.1").allowed);
}

TEST_CASE("eviction keeps the number of tracked keys within the configured bound") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{2, 1.0, 32, 4}, clock};
  for (int i = 0; i < 10'000; ++i) limiter.try_acquire("key-" + std::to_string(i));
  CHECK(limiter.tracked_keys() <= 32);
  CHECK(limiter.evictions() == 10'000 - limiter.tracked_keys());
  // Every evicted bucket had just spent a token: none was full, and the counter says so.
  CHECK(limiter.evictions_not_full() == limiter.evictions());
}

TEST_CASE("evicting idle buckets that have refilled to full is counted as lossless") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{2, 1.0, 8, 1}, clock};
  for (int i = 0; i < 8; ++i) limiter.try_acquire("old-" + std::to_string(i));
  clock.advance(10s);
  for (int i = 0; i < 8; ++i) limiter.try_acquire("new-" + std::to_string(i));
  CHECK(limiter.tracked_keys() == 8);
  CHECK(limiter.evictions() == 8);
  CHECK(limiter.evictions_not_full() == 0);
}

TEST_CASE("a recently used key survives eviction while idle keys go first") {
  manual_clock clock;
  rate_limiter limiter{rate_limit_config{3, 1.0, 4, 1}, clock};
  for (int i = 0; i < 3; ++i) CHECK(limiter.try_acquire("hot").allowed);
  for (int i = 0; i < 20; ++i) {
    limiter.try_acquire("cold-" + std::to_string(i));
    // Evicted, "hot" would come back with a full bucket and pass.
    CHECK_FALSE(limiter.try_acquire("hot").allowed);
  }
  CHECK(limiter.tracked_keys() == 4);
}

TEST_CASE("concurrent acquisitions from threads never exceed the bucket") {
  manual_clock clock;  // frozen: no refill, so exactly `capacity` may pass
  rate_limiter limiter{rate_limit_config{2'000, 0.001}, clock};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1'000; ++i) {
        if (limiter.try_acquire("shared").allowed) ++allowed;
        limiter.try_acquire("own-" + std::to_string(t) + "-" + std::to_string(i % 50));
      }
    });
  for (auto& t : threads) t.join();
  CHECK(allowed.load() == 2'000);
  CHECK(limiter.tracked_keys() == 1 + 4 * 50);
}
