// The gateway's filters over the units: trace, authenticate, rate limits, quota, route.
#pragma once

#include "gateway/filters/chain.hpp"
#include "gateway/filters/jwt.hpp"
#include "gateway/filters/quota.hpp"
#include "gateway/filters/rate_limit.hpp"
#include "gateway/filters/routes.hpp"

namespace superapp::filters {

// Never refuses: continues a valid incoming traceparent with a child span, else starts a trace.
class trace_filter final : public filter {
 public:
  std::string_view name() const override { return "trace"; }
  filter_result apply(request_context& ctx) override;
};

// Verifies the bearer token; fills ctx.verified. Refusal: unauthorized. Public ops (the
// catalogue's is_public: sign-up, login, refresh, JWKS) pass without a token and unverified.
// A device_id the client declares must match the token's, when the token names one.
class authenticate_filter final : public filter {
 public:
  explicit authenticate_filter(const jwt_verifier& verifier) : verifier_(verifier) {}
  std::string_view name() const override { return "authenticate"; }
  filter_result apply(request_context& ctx) override;

 private:
  const jwt_verifier& verifier_;
};

// What a verified token must also satisfy for this request: a device_id the client declares
// must match the token's (unauthorized), and the token must carry the op's required scope
// (forbidden). Shared by authenticate_filter and the session pipeline's cached verification.
filter_result check_claims(const claims& c, const request_context& ctx);

// Which request attribute a limiter counts by.
enum class rate_key : std::uint8_t { source_address, user, device };

// One limiter, one dimension; the gateway chains three. Keys absent from the request (no device,
// not authenticated yet) pass this filter. Refusal: rate_limited with retry_after_ms.
class rate_limit_filter final : public filter {
 public:
  rate_limit_filter(rate_key key, rate_limiter& limiter) : key_(key), limiter_(limiter) {}
  std::string_view name() const override;
  filter_result apply(request_context& ctx) override;

 private:
  rate_key key_;
  rate_limiter& limiter_;
};

// Partner calls only: a verified token carrying quota_per_day (counted by its subject), or
// ctx.partner_credential set by the transport. Refusals: quota_exceeded with retry_after_ms
// to the next UTC midnight; forbidden for a credential with no quota configured.
class quota_filter final : public filter {
 public:
  explicit quota_filter(daily_quota& quota) : quota_(quota) {}
  std::string_view name() const override { return "quota"; }
  filter_result apply(request_context& ctx) override;

 private:
  daily_quota& quota_;
};

// Validates the op and its idempotency key, resolves the domain and lane, takes a lane seat.
// Refusals: bad_request, unknown_op, idempotency_key_required, overloaded (lane full).
class route_filter final : public filter {
 public:
  route_filter(const route_table& routes, node_lanes& lanes) : routes_(routes), lanes_(lanes) {}
  std::string_view name() const override { return "route"; }
  filter_result apply(request_context& ctx) override;

 private:
  const route_table& routes_;
  node_lanes& lanes_;
};

}  // namespace superapp::filters
