// W3C traceparent parsing and CSPRNG-backed id generation.
#include "gateway/filters/traceparent.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include "protocols/assert.hpp"

namespace superapp::filters {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// The spec allows lower-case hex only; upper case is invalid, not normalised.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

template <std::size_t N>
char* write_hex(char* out, const std::array<std::uint8_t, N>& bytes) {
  for (auto b : bytes) {
    *out++ = hex_digits[b >> 4];
    *out++ = hex_digits[b & 0x0f];
  }
  return out;
}

// RAND_bytes failing means the CSPRNG cannot be seeded: ids would be guessable, so it is a bug
// in the environment, not an expected outcome.
template <std::size_t N>
void fill_random_nonzero(std::array<std::uint8_t, N>& bytes) {
  do {
    SUPERAPP_ASSERT(RAND_bytes(bytes.data(), static_cast<int>(N)) == 1);
  } while (all_zero(bytes));
}

}  // namespace

std::array<char, traceparent_size_chars> trace_context::to_header() const {
  std::array<char, traceparent_size_chars> out{};
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = write_hex(p, trace_id);
  *p++ = '-';
  p = write_hex(p, parent_id);
  *p++ = '-';
  *p++ = hex_digits[flags >> 4];
  *p++ = hex_digits[flags & 0x0f];
  return out;
}

std::string trace_context::to_string() const {
  auto header = to_header();
  return std::string{header.data(), header.size()};
}

std::string trace_context::trace_id_hex() const {
  std::string out(2 * trace_id.size(), '0');
  write_hex(out.data(), trace_id);
  return out;
}

std::optional<trace_context> parse_traceparent(std::string_view header) {
  if (header.size() < traceparent_size_chars) return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!parse_hex(header.substr(0, 2), version)) return std::nullopt;
  if (version[0] == 0xff) return std::nullopt;
  // Version 00 has exactly four fields; a later version may append fields after a '-'.
  if (version[0] == 0x00 && header.size() != traceparent_size_chars) return std::nullopt;
  if (header.size() > traceparent_size_chars && header[traceparent_size_chars] != '-')
    return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  trace_context out;
  std::array<std::uint8_t, 1> flags{};
  if (!parse_hex(header.substr(3, 32), out.trace_id) ||
      !parse_hex(header.substr(36, 16), out.parent_id) || !parse_hex(header.substr(53, 2), flags))
    return std::nullopt;
  if (all_zero(out.trace_id) || all_zero(out.parent_id)) return std::nullopt;
  out.flags = flags[0];
  return out;
}

trace_context start_trace(std::uint8_t flags) {
  trace_context out;
  fill_random_nonzero(out.trace_id);
  fill_random_nonzero(out.parent_id);
  out.flags = flags;
  return out;
}

trace_context child_span(const trace_context& parent) {
  trace_context out = parent;
  do {
    fill_random_nonzero(out.parent_id);
  } while (out.parent_id == parent.parent_id);
  return out;
}

trace_context continue_or_start(std::optional<std::string_view> header) {
  if (header) {
    if (auto parent = parse_traceparent(*header)) return child_span(*parent);
  }
  return start_trace();
}

}  // namespace superapp::filters
