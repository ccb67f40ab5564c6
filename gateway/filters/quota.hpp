// Daily request quotas per partner credential, reset at UTC midnight of the injected clock.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/clock.hpp"

namespace superapp::filters {

struct quota_decision {
  enum class verdict : std::uint8_t { allowed, exhausted, unknown_credential };
  verdict outcome = verdict::unknown_credential;
  std::int64_t used_today = 0;  // including this request when allowed
  std::int64_t limit_per_day = 0;
  std::int64_t retry_after_ms = 0;  // when exhausted: until the next UTC midnight

  bool allowed() const { return outcome == verdict::allowed; }
};

// Counts requests per partner credential per UTC day. Only configured credentials are tracked,
// so memory is bounded by configuration, not by traffic; an unknown credential is refused.
class daily_quota {
 public:
  explicit daily_quota(const superapp::clock& clock);

  // Adds or changes a credential's limit at run time; today's count is kept.
  void set_limit(std::string_view credential, std::int64_t limit_per_day);
  void remove(std::string_view credential);

  // Counts one request if the credential has quota left today; thread-safe.
  quota_decision try_consume(std::string_view credential);
  // The same for a credential whose limit travels with it (a partner token's signed
  // quota_per_day): sets the limit, then counts, under one lock. Tokens are only issued to
  // registered partners, so memory stays bounded by the registry.
  quota_decision try_consume(std::string_view credential, std::int64_t limit_per_day);

 private:
  quota_decision consume(std::string_view credential, std::optional<std::int64_t> limit_per_day);

  struct account {
    std::int64_t limit_per_day = 0;
    std::int64_t day = 0;  // days since the epoch (UTC) the count belongs to
    std::int64_t used = 0;
  };

  const superapp::clock& clock_;
  // One mutex is enough: a partner request does little here and partners are a small population
  // beside mobile sessions, which never reach this filter.
  std::mutex mutex_;
  std::map<std::string, account, std::less<>> accounts_;
};

}  // namespace superapp::filters
