// The filter chain shape: a request context, a rejection, and filters run in order until one
// refuses.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "gateway/filters/jwt.hpp"
#include "gateway/filters/routes.hpp"
#include "gateway/filters/traceparent.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::filters {

// What the filters know about one request. The string_views point into the session's frame,
// which outlives the chain run; filters fill in claims, trace, route and the lane ticket.
struct request_context {
  // From the transport and the envelope.
  std::string_view op;
  std::optional<std::string_view> bearer_token;
  std::string_view source_address;
  std::optional<std::string_view> device_id;  // as the client declares it
  std::optional<std::string_view> idempotency_key;
  std::optional<std::string_view> partner_credential;  // partner API calls only
  std::optional<std::string_view> traceparent;
  session_lanes* session = nullptr;  // the session's lane counters
  bool public_op = false;  // the catalogue marks the op public: no token needed (sign-up, login)
  std::string_view required_scope;  // the catalogue's: the token must carry it (empty: none)

  // Filled by the filters.
  std::optional<claims> verified;  // by authenticate
  trace_context trace;             // by trace: our own span in the caller's trace, or a new one
  std::optional<route> target;     // by route
  lane_ticket ticket;              // by route; held until the reply is sent
};

// Why a request stops: the wire code (its client message comes from the error catalogue), a
// reason for the log only (static text, never a token or other secret), and when to retry.
struct rejection {
  platform_errc code = platform_errc::internal;
  std::string_view log_reason;
  std::int64_t retry_after_ms = 0;  // 0: no hint

  error_description describe() const { return superapp::describe(code); }
};

using filter_result = std::optional<rejection>;

class filter {
 public:
  virtual ~filter() = default;
  virtual std::string_view name() const = 0;
  virtual filter_result apply(request_context& ctx) = 0;
};

// Filters in order; the first rejection ends the run. The chain does not own its filters: they
// are components built once at start-up and shared by every session.
class filter_chain {
 public:
  filter_chain() = default;
  explicit filter_chain(std::vector<filter*> filters) : filters_(std::move(filters)) {}
  void append(filter& f) { filters_.push_back(&f); }

  // Allocation-free itself; what a filter allocates (claims) is the filter's business.
  filter_result run(request_context& ctx) const {
    for (auto* f : filters_)
      if (auto refused = f->apply(ctx)) return refused;
    return std::nullopt;
  }
  std::span<filter* const> filters() const { return filters_; }

 private:
  std::vector<filter*> filters_;
};

}  // namespace superapp::filters
