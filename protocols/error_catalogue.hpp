// Every error the platform can put on the wire: a stable code, a human message, retryability.
#pragma once

#include <cstdint>
#include <string_view>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace caf {
class actor_system_config;
}

namespace superapp {

struct error_description {
  std::string_view wire_code;  // stable, snake_case, part of the client contract
  std::string_view message;    // human text, never contains secrets or foreign error text
  bool retryable = false;
};

using describe_fn = error_description (*)(std::uint8_t code);

// Each error category (platform, banking, identity, ...) registers itself once at start-up.
void register_error_category(caf::atom_value category, describe_fn describe);

// Registers a domain's enum of codes 1..Last, each described by `describe(E)` (found by ADL);
// any other code of the category is described as `internal`.
template <class E, E Last>
void register_enum_category(caf::atom_value category) {
  register_error_category(category, [](std::uint8_t code) -> error_description {
    if (code == 0 || code > static_cast<std::uint8_t>(Last)) return {"internal", "internal error", false};
    return describe(static_cast<E>(code));
  });
}

// Describes any caf::error: registered categories, CAF's own `system` codes, and a fallback.
error_description describe(const caf::error& err);

// Installs a renderer for every registered category so actor_system::render() prints wire codes.
void add_error_renderers(caf::actor_system_config& cfg);

// Outcomes every domain shares; domains add their own enums beside their messages.
enum class platform_errc : std::uint8_t {
  overloaded = 1,     // admission credits exhausted: try later
  unavailable = 2,    // the domain or node is down or restarting
  timeout = 3,        // no answer in time; outcome unknown for writes
  internal = 4,       // a bug; logged with details, never sent
  invalid_argument = 5,
  not_found = 6,
  unauthorized = 7,
  forbidden = 8,
  shutting_down = 9,
  storage_failure = 10,
  database_newer_than_code = 11,
  restart_intensity_exceeded = 12,
  start_failed = 13,
  // The client protocol (protocols/ws) and the gateway's filters.
  bad_request = 14,               // the frame or its body does not follow the envelope rules
  unknown_op = 15,                // well-formed op name that no catalogue entry knows
  idempotency_key_required = 16,  // a transactional op came without an idempotency key
  rate_limited = 17,              // too many requests from this client just now: retry after
  quota_exceeded = 18,            // the client's allowance for the period is spent
  payload_too_large = 19,         // the frame is over the protocol's size limit
  idempotency_key_reused = 20,    // the key came before with a different request
};

// The highest platform code: lets code and tests walk every platform code (1..last).
inline constexpr platform_errc last_platform_errc = platform_errc::idempotency_key_reused;

inline constexpr caf::atom_value platform_category = caf::atom("platform");

caf::error make_error(platform_errc code);
error_description describe(platform_errc code);

}  // namespace superapp
