// Token buckets in integer pico-tokens so refill and retry_after_ms are exact, LRU-bounded shards.
#include "gateway/filters/rate_limit.hpp"

#include <cmath>
#include <functional>

#include "protocols/assert.hpp"

namespace superapp::filters {
namespace {

constexpr std::int64_t pico_per_token = 1'000'000'000'000;
constexpr std::int64_t ns_per_ms = 1'000'000;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

struct rate_limiter::shard {
  struct bucket {
    std::string key;
    std::int64_t level_pt = 0;
    std::int64_t updated_ns = 0;  // clock time of the last refill
  };
  // Most recently used at the front. The map's string_view keys point into the list's nodes,
  // which never move, so lookups by string_view allocate nothing.
  std::list<bucket> lru;
  std::unordered_map<std::string_view, std::list<bucket>::iterator> index;
  std::uint64_t evictions = 0;
  std::uint64_t evictions_not_full = 0;
  // Each shard on its own cache lines: the mutexes are the contended part.
  alignas(64) mutable std::mutex mutex;
};

rate_limiter::rate_limiter(rate_limit_config config, const superapp::clock& clock)
    : config_(config), clock_(clock) {
  SUPERAPP_ASSERT(config_.capacity_tokens > 0);
  SUPERAPP_ASSERT(config_.capacity_tokens <= max_bucket_capacity_tokens);
  SUPERAPP_ASSERT(config_.refill_per_s > 0.0 && config_.refill_per_s <= max_refill_per_s);
  SUPERAPP_ASSERT(config_.shard_count > 0);
  SUPERAPP_ASSERT(config_.max_tracked_keys >= config_.shard_count);
  capacity_pt_ = config_.capacity_tokens * pico_per_token;
  refill_pt_per_ns_ = std::llround(config_.refill_per_s * 1000.0);
  SUPERAPP_ASSERT(refill_pt_per_ns_ > 0);
  max_keys_per_shard_ = config_.max_tracked_keys / config_.shard_count;
  shards_.reserve(config_.shard_count);
  for (std::size_t i = 0; i < config_.shard_count; ++i) {
    shards_.push_back(std::make_unique<shard>());
    shards_.back()->index.reserve(max_keys_per_shard_);
  }
}

rate_limiter::~rate_limiter() = default;

rate_limiter::shard& rate_limiter::shard_for(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

rate_decision rate_limiter::try_acquire(std::string_view key, std::int64_t cost_tokens) {
  SUPERAPP_ASSERT(cost_tokens > 0 && cost_tokens <= config_.capacity_tokens);
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
  const std::int64_t cost_pt = cost_tokens * pico_per_token;
  auto& s = shard_for(key);
  std::lock_guard<std::mutex> guard{s.mutex};

  shard::bucket* b = nullptr;
  if (auto it = s.index.find(key); it != s.index.end()) {
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    b = &*it->second;
    // The clock may step backwards (it is wall time); never refill or un-refill on that.
    if (now_ns > b->updated_ns) {
      const std::int64_t missing_pt = capacity_pt_ - b->level_pt;
      const std::int64_t elapsed_ns = now_ns - b->updated_ns;
      // Compare before multiplying: a long-idle key would overflow elapsed * rate.
      if (elapsed_ns >= ceil_div(missing_pt, refill_pt_per_ns_))
        b->level_pt = capacity_pt_;
      else
        b->level_pt += elapsed_ns * refill_pt_per_ns_;
      b->updated_ns = now_ns;
    }
  } else {
    if (s.index.size() >= max_keys_per_shard_) {
      // Reuse the least recently used node: no allocation for the list node under churn.
      auto victim = std::prev(s.lru.end());
      const std::int64_t idle_ns = now_ns - victim->updated_ns;
      const bool was_full =
          victim->level_pt == capacity_pt_ ||
          (idle_ns > 0 && idle_ns >= ceil_div(capacity_pt_ - victim->level_pt, refill_pt_per_ns_));
      ++s.evictions;
      if (!was_full) ++s.evictions_not_full;
      s.index.erase(victim->key);
      s.lru.splice(s.lru.begin(), s.lru, victim);
      s.lru.front().key.assign(key);
    } else {
      s.lru.push_front(shard::bucket{std::string{key}, 0, 0});
    }
    b = &s.lru.front();
    b->level_pt = capacity_pt_;
    b->updated_ns = now_ns;
    s.index.emplace(b->key, s.lru.begin());
  }

  if (b->level_pt >= cost_pt) {
    b->level_pt -= cost_pt;
    return rate_decision{true, 0};
  }
  const std::int64_t wait_ns = ceil_div(cost_pt - b->level_pt, refill_pt_per_ns_);
  return rate_decision{false, ceil_div(wait_ns, ns_per_ms)};
}

std::size_t rate_limiter::tracked_keys() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> guard{s->mutex};
    n += s->index.size();
  }
  return n;
}

std::uint64_t rate_limiter::evictions() const {
  std::uint64_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> guard{s->mutex};
    n += s->evictions;
  }
  return n;
}

std::uint64_t rate_limiter::evictions_not_full() const {
  std::uint64_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> guard{s->mutex};
    n += s->evictions_not_full;
  }
  return n;
}

}  // namespace superapp::filters
