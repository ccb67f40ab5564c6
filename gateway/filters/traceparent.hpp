// W3C Trace Context: parse, validate and generate `traceparent` headers at the gateway.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace superapp::filters {

// version "00": 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
inline constexpr std::size_t traceparent_size_chars = 55;

struct trace_context {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> parent_id{};  // the span id of the caller (or of our own span)
  std::uint8_t flags = 0;                   // bit 0: sampled

  bool sampled() const { return (flags & 0x01) != 0; }
  // Always writes version 00, the only one we emit.
  std::array<char, traceparent_size_chars> to_header() const;
  std::string to_string() const;
  std::string trace_id_hex() const;
  friend bool operator==(const trace_context&, const trace_context&) = default;
};

// Accepts version 00 exactly and later versions by their version-00 prefix, as the spec asks;
// rejects version ff, upper-case hex, all-zero ids and anything malformed.
std::optional<trace_context> parse_traceparent(std::string_view header);

// A new trace with ids from OpenSSL's CSPRNG (never all zero); sampled by default.
trace_context start_trace(std::uint8_t flags = 0x01);

// The same trace, a fresh span id: what the gateway forwards as its own span.
trace_context child_span(const trace_context& parent);

// The gateway's rule: continue a valid incoming trace with a child span, else start a new one.
trace_context continue_or_start(std::optional<std::string_view> header);

}  // namespace superapp::filters
