// Token-bucket rate limiting by string key (user, device, source address), on the injected clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocols/clock.hpp"

namespace superapp::filters {

// Bounds on configuration, so bucket arithmetic in pico-tokens never overflows 64 bits.
inline constexpr std::int64_t max_bucket_capacity_tokens = 1'000'000;
inline constexpr double max_refill_per_s = 1'000'000.0;

struct rate_limit_config {
  std::int64_t capacity_tokens = 0;        // burst size; a fresh bucket starts full
  double refill_per_s = 0.0;               // resolution 0.001 tokens/s
  std::size_t max_tracked_keys = 100'000;  // explicit memory bound over all shards
  std::size_t shard_count = 16;  // striped mutexes; sessions on different keys rarely meet
};

struct rate_decision {
  bool allowed = false;
  std::int64_t retry_after_ms = 0;  // when refused: the earliest time the same request would pass
};

// One limiter per dimension (user, device, source address); the gateway keeps three.
// A key not seen before gets a full bucket. When a shard holds its share of max_tracked_keys, the
// least recently used key is evicted: usually an idle bucket that has refilled to full, which loses
// nothing; if it was not full, that key merely starts again with a full bucket (counted in
// evictions_not_full() so operators see the bound is too tight).
class rate_limiter {
 public:
  rate_limiter(rate_limit_config config, const superapp::clock& clock);
  ~rate_limiter();
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  // Takes `cost_tokens` if available; thread-safe; allocates only when a new key is tracked.
  rate_decision try_acquire(std::string_view key, std::int64_t cost_tokens = 1);

  std::size_t tracked_keys() const;
  std::uint64_t evictions() const;
  std::uint64_t evictions_not_full() const;
  const rate_limit_config& config() const { return config_; }

 private:
  struct shard;
  shard& shard_for(std::string_view key);

  rate_limit_config config_;
  const superapp::clock& clock_;
  std::int64_t capacity_pt_;       // capacity in pico-tokens (1e-12 token)
  std::int64_t refill_pt_per_ns_;  // pico-tokens per nanosecond == milli-tokens per second
  std::size_t max_keys_per_shard_;
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace superapp::filters
