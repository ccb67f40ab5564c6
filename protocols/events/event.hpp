// The versioned domain-event envelope: what an outbox stores, the bus carries and Kafka ships.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "protocols/clock.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::events {

// A random 128-bit id (RFC 4122 version 4 bits set), printed as a lower-case UUID.
struct event_id {
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const event_id&, const event_id&) = default;
  friend auto operator<=>(const event_id&, const event_id&) = default;
};

// From the OS's CSPRNG (OpenSSL RAND_bytes): ids must not collide across nodes and restarts.
event_id random_event_id();
std::string to_string(const event_id& id);  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
caf::expected<event_id> parse_event_id(std::string_view text);

// One fact a domain publishes. `sequence` is per aggregate (1, 2, ...), so a consumer can tell
// a gap or a replay for one account or order; the bus adds its own per-topic sequence.
struct event {
  event_id id;
  std::string type;          // "<domain>.<aggregate>.<what happened>", e.g. banking.transfer.completed
  std::uint32_t version = 1; // of the body's schema for this type; consumers refuse unknown ones
  std::string aggregate_id;  // the Kafka key: one aggregate's events stay ordered
  std::int64_t sequence = 0;
  std::int64_t occurred_at_ms = 0;  // ms since the Unix epoch, from the injected clock
  std::string traceparent;   // W3C trace context of the request that caused it; may be empty
  std::string body_json;     // the event's own fields, JSON text
  // The users this event concerns and who may see it (the gateway pushes it to their
  // subscribed sessions); empty for events no client sees.
  std::vector<std::string> audience;

  friend bool operator==(const event&, const event&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_id& x) {
  return f(caf::meta::type_name("event_id"), x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("event"), x.id, x.type, x.version, x.aggregate_id, x.sequence,
           x.occurred_at_ms, x.traceparent, x.body_json, x.audience);
}

// Limits a well-formed event keeps (checked by validate, encode and decode).
inline constexpr std::size_t max_type_chars = 128;
inline constexpr std::size_t max_aggregate_id_chars = 256;
inline constexpr std::size_t max_traceparent_chars = 55;  // "00-<32 hex>-<16 hex>-<2 hex>"
inline constexpr std::size_t max_body_bytes = 512 * 1024;
inline constexpr std::size_t max_audience = 64;             // users one event concerns
inline constexpr std::size_t max_audience_id_chars = 256;
inline constexpr std::size_t max_encoded_bytes = max_body_bytes + 4096;

// The binary format: byte 0 is the format version, then the fields as cereal portable binary.
inline constexpr std::uint8_t current_format_version = 1;

// A new event with a fresh id and `occurred_at_ms` from `now`.
event make_event(const clock& now, std::string type, std::uint32_t version,
                 std::string aggregate_id, std::int64_t sequence, std::string body_json,
                 std::string traceparent = {});

// invalid_event when a field breaks the rules above (type is dotted lower-case
// [a-z0-9_]+(\.[a-z0-9_]+){2,}, aggregate id non-empty, sequence >= 1, version >= 1).
caf::error validate(const event& e);

// encode asserts the event is valid (a producer bug otherwise). decode never trusts its input:
// unknown_format_version for a version byte it does not know, malformed_event for anything
// that does not parse (truncated, trailing bytes, lengths past the limits) or is not valid.
std::vector<std::uint8_t> encode(const event& e);
caf::expected<event> decode(std::span<const std::uint8_t> bytes);

// For people (logs, `superapp admin events tail`): one JSON object; the body is embedded as
// JSON when it parses, else as a string.
std::string to_json(const event& e);

// "superapp.<domain>.events"; the domain must be an identifier ([a-z][a-z0-9_]*).
std::string topic_for_domain(std::string_view domain);

// Errors of this category ("events"), with stable wire codes in the error catalogue.
enum class events_errc : std::uint8_t {
  unknown_format_version = 1,  // bytes from a newer (or foreign) producer: not decoded
  malformed_event = 2,         // truncated, corrupt or over the limits
  invalid_event = 3,           // well-formed bytes, but a field breaks the envelope's rules
  resync_required = 4,         // a replay asked for events the bus no longer holds
};

inline constexpr caf::atom_value events_category = caf::atom("events");
caf::error make_error(events_errc code);
error_description describe(events_errc code);
void register_events_errors();  // idempotent; also done at static init

}  // namespace superapp::events
