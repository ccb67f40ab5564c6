// The gateway's filters: each maps one unit's outcome to a rejection with a stable wire code.
#include "gateway/filters/standard_filters.hpp"

#include "protocols/assert.hpp"

namespace superapp::filters {
namespace {

bool printable_ascii(std::string_view s) {
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

filter_result trace_filter::apply(request_context& ctx) {
  ctx.trace = continue_or_start(ctx.traceparent);
  return std::nullopt;
}

filter_result authenticate_filter::apply(request_context& ctx) {
  if (ctx.public_op) return std::nullopt;
  if (!ctx.bearer_token) return rejection{platform_errc::unauthorized, "no bearer token"};
  auto outcome = verifier_.verify(*ctx.bearer_token);
  if (!outcome) return rejection{platform_errc::unauthorized, outcome.failure};
  if (auto refused = check_claims(*outcome.accepted, ctx)) return refused;
  ctx.verified = std::move(outcome.accepted);
  return std::nullopt;
}

filter_result check_claims(const claims& c, const request_context& ctx) {
  // A token bound to a device is only good from that device.
  if (c.device_id && ctx.device_id && *ctx.device_id != *c.device_id)
    return rejection{platform_errc::unauthorized, "device does not match token"};
  if (!ctx.required_scope.empty() && !c.has_scope(ctx.required_scope))
    return rejection{platform_errc::forbidden, "token lacks the op's scope"};
  return std::nullopt;
}

std::string_view rate_limit_filter::name() const {
  switch (key_) {
    case rate_key::source_address:
      return "rate_limit_source";
    case rate_key::user:
      return "rate_limit_user";
    case rate_key::device:
      return "rate_limit_device";
  }
  return "rate_limit";
}

filter_result rate_limit_filter::apply(request_context& ctx) {
  std::string_view key;
  switch (key_) {
    case rate_key::source_address:
      key = ctx.source_address;
      break;
    case rate_key::user:
      if (ctx.verified) key = ctx.verified->subject;
      break;
    case rate_key::device:
      // The token's device when it names one: a client cannot dodge the limit by renaming itself.
      if (ctx.verified && ctx.verified->device_id)
        key = *ctx.verified->device_id;
      else if (ctx.device_id)
        key = *ctx.device_id;
      break;
  }
  if (key.empty()) return std::nullopt;
  auto decision = limiter_.try_acquire(key);
  if (decision.allowed) return std::nullopt;
  return rejection{platform_errc::rate_limited, name(), decision.retry_after_ms};
}

filter_result quota_filter::apply(request_context& ctx) {
  // A partner token names its quota; otherwise a partner credential the transport declared.
  quota_decision decision;
  if (ctx.verified && ctx.verified->quota_per_day)
    decision = quota_.try_consume(ctx.verified->subject, *ctx.verified->quota_per_day);
  else if (ctx.partner_credential)
    decision = quota_.try_consume(*ctx.partner_credential);
  else
    return std::nullopt;
  switch (decision.outcome) {
    case quota_decision::verdict::allowed:
      return std::nullopt;
    case quota_decision::verdict::exhausted:
      return rejection{platform_errc::quota_exceeded, "daily quota used up",
                       decision.retry_after_ms};
    case quota_decision::verdict::unknown_credential:
      break;
  }
  return rejection{platform_errc::forbidden, "no quota configured for partner credential"};
}

filter_result route_filter::apply(request_context& ctx) {
  if (!valid_op(ctx.op)) return rejection{platform_errc::bad_request, "op is not a dotted name"};
  auto found = routes_.find(ctx.op);
  if (!found) return rejection{platform_errc::unknown_op, "no domain serves this op"};
  if (found->request_lane == lane::transactional) {
    if (!ctx.idempotency_key || ctx.idempotency_key->empty())
      return rejection{platform_errc::idempotency_key_required, "transactional op without key"};
  }
  if (ctx.idempotency_key && (ctx.idempotency_key->size() > max_idempotency_key_bytes ||
                              !printable_ascii(*ctx.idempotency_key)))
    return rejection{platform_errc::bad_request, "idempotency key too long or not printable"};
  // Every transport gives its requests a session's lane counters; without them the per-session
  // limit would silently not apply.
  SUPERAPP_ASSERT(ctx.session != nullptr);
  auto ticket = try_enter_lane(found->request_lane, *ctx.session, lanes_);
  if (!ticket) return rejection{platform_errc::overloaded, "lane full"};
  ctx.ticket = std::move(*ticket);
  ctx.target = found;
  return std::nullopt;
}

}  // namespace superapp::filters
