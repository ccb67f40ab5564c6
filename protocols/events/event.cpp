// The event envelope: ids, validation, the cereal binary format, JSON for people, topics.
#include "protocols/events/event.hpp"

#include <openssl/rand.h>

#include <boost/json.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/array.hpp>
#include <istream>
#include <algorithm>
#include <sstream>
#include <streambuf>

#include "protocols/assert.hpp"

namespace superapp::events {
namespace {

// A string whose declared length is checked before anything is allocated: a garbage length
// prefix must give malformed_event, not a multi-gigabyte resize.
struct bounded_string {
  std::string& text;
  std::size_t max_chars;
};

struct bounded_string_const {
  const std::string& text;
};

template <class Archive>
void save(Archive& ar, const bounded_string_const& s) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(s.text.size())));
  ar(cereal::binary_data(s.text.data(), s.text.size()));
}

struct too_long : std::runtime_error {
  too_long() : std::runtime_error("length over limit") {}
};

template <class Archive>
void load(Archive& ar, bounded_string& s) {
  cereal::size_type size = 0;
  ar(cereal::make_size_tag(size));
  if (size > s.max_chars) throw too_long{};
  s.text.resize(static_cast<std::size_t>(size));
  ar(cereal::binary_data(s.text.data(), s.text.size()));
}

template <class Archive>
void write_fields(Archive& ar, const event& e) {
  ar(e.id.bytes, bounded_string_const{e.type}, e.version, bounded_string_const{e.aggregate_id},
     e.sequence, e.occurred_at_ms, bounded_string_const{e.traceparent},
     bounded_string_const{e.body_json});
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(e.audience.size())));
  for (const auto& user : e.audience) ar(bounded_string_const{user});
}

template <class Archive>
void read_fields(Archive& ar, event& e) {
  ar(e.id.bytes);
  bounded_string type{e.type, max_type_chars};
  ar(type, e.version);
  bounded_string aggregate{e.aggregate_id, max_aggregate_id_chars};
  ar(aggregate, e.sequence, e.occurred_at_ms);
  bounded_string trace{e.traceparent, max_traceparent_chars};
  bounded_string body{e.body_json, max_body_bytes};
  ar(trace, body);
  cereal::size_type users = 0;
  ar(cereal::make_size_tag(users));
  if (users > max_audience) throw too_long{};
  e.audience.resize(static_cast<std::size_t>(users));
  for (auto& user : e.audience) {
    bounded_string id{user, max_audience_id_chars};
    ar(id);
  }
}

// Reads straight from the caller's bytes: no copy into a stringstream.
struct span_buffer : std::streambuf {
  explicit span_buffer(std::span<const std::uint8_t> bytes) {
    auto* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(begin, begin, begin + bytes.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

bool is_segment_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

bool valid_type(std::string_view type) {
  if (type.empty() || type.size() > max_type_chars) return false;
  int segments = 1;
  bool segment_empty = true;
  for (char c : type) {
    if (c == '.') {
      if (segment_empty) return false;
      ++segments;
      segment_empty = true;
    } else if (is_segment_char(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty && segments >= 3;
}

const char hex_digits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

error_description describe_code(std::uint8_t code) {
  return describe(static_cast<events_errc>(code));
}

const bool registered = (register_events_errors(), true);

}  // namespace

event_id random_event_id() {
  event_id id;
  // Failure means the OS has no entropy to give: nothing sane can continue.
  SUPERAPP_ASSERT(RAND_bytes(id.bytes.data(), static_cast<int>(id.bytes.size())) == 1);
  id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
  id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

std::string to_string(const event_id& id) {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex_digits[id.bytes[i] >> 4]);
    out.push_back(hex_digits[id.bytes[i] & 0x0f]);
  }
  return out;
}

caf::expected<event_id> parse_event_id(std::string_view text) {
  if (text.size() != 36) return make_error(events_errc::malformed_event);
  event_id id;
  std::size_t byte = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return make_error(events_errc::malformed_event);
      ++i;
      continue;
    }
    int hi = hex_value(text[i]);
    int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return make_error(events_errc::malformed_event);
    id.bytes[byte++] = static_cast<std::uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return id;
}

event make_event(const clock& now, std::string type, std::uint32_t version,
                 std::string aggregate_id, std::int64_t sequence, std::string body_json,
                 std::string traceparent) {
  event e;
  e.id = random_event_id();
  e.type = std::move(type);
  e.version = version;
  e.aggregate_id = std::move(aggregate_id);
  e.sequence = sequence;
  e.occurred_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         now.now().time_since_epoch())
                         .count();
  e.traceparent = std::move(traceparent);
  e.body_json = std::move(body_json);
  return e;
}

caf::error validate(const event& e) {
  if (!valid_type(e.type) || e.version == 0 || e.aggregate_id.empty() ||
      e.aggregate_id.size() > max_aggregate_id_chars || e.sequence < 1 ||
      e.occurred_at_ms < 0 || e.traceparent.size() > max_traceparent_chars ||
      e.body_json.size() > max_body_bytes || e.audience.size() > max_audience ||
      std::any_of(e.audience.begin(), e.audience.end(), [](const std::string& user) {
        return user.empty() || user.size() > max_audience_id_chars;
      }))
    return make_error(events_errc::invalid_event);
  return {};
}

std::vector<std::uint8_t> encode(const event& e) {
  SUPERAPP_ASSERT(!validate(e));
  std::ostringstream out{std::ios::binary};
  out.put(static_cast<char>(current_format_version));
  {
    cereal::PortableBinaryOutputArchive ar{out};
    write_fields(ar, e);
  }
  auto text = std::move(out).str();
  return {text.begin(), text.end()};
}

caf::expected<event> decode(std::span<const std::uint8_t> bytes) {
  if (bytes.empty() || bytes.size() > max_encoded_bytes)
    return make_error(events_errc::malformed_event);
  if (bytes[0] != current_format_version) return make_error(events_errc::unknown_format_version);
  span_buffer buffer{bytes.subspan(1)};
  std::istream in{&buffer};
  event e;
  try {
    cereal::PortableBinaryInputArchive ar{in};
    read_fields(ar, e);
  } catch (const std::exception&) {  // cereal::Exception on truncation, too_long on lengths
    return make_error(events_errc::malformed_event);
  }
  if (buffer.remaining() != 0) return make_error(events_errc::malformed_event);
  if (validate(e)) return make_error(events_errc::malformed_event);
  return e;
}

std::string to_json(const event& e) {
  boost::json::object o;
  o["id"] = to_string(e.id);
  o["type"] = e.type;
  o["version"] = e.version;
  o["aggregate_id"] = e.aggregate_id;
  o["sequence"] = e.sequence;
  o["occurred_at_ms"] = e.occurred_at_ms;
  o["traceparent"] = e.traceparent;
  boost::json::array audience;
  for (const auto& user : e.audience) audience.emplace_back(user);
  o["audience"] = std::move(audience);
  boost::system::error_code ec;
  auto body = boost::json::parse(e.body_json, ec);
  if (ec)
    o["body"] = e.body_json;
  else
    o["body"] = std::move(body);
  return boost::json::serialize(o);
}

std::string topic_for_domain(std::string_view domain) {
  SUPERAPP_ASSERT(!domain.empty() && domain[0] >= 'a' && domain[0] <= 'z');
  for (char c : domain) SUPERAPP_ASSERT(is_segment_char(c));
  return "superapp." + std::string{domain} + ".events";
}

caf::error make_error(events_errc code) {
  return caf::error{static_cast<std::uint8_t>(code), events_category};
}

error_description describe(events_errc code) {
  switch (code) {
    case events_errc::unknown_format_version:
      return {"event_format_unknown", "The event was written in a format this build cannot read",
              false};
    case events_errc::malformed_event:
      return {"event_malformed", "The event bytes are corrupt or truncated", false};
    case events_errc::invalid_event:
      return {"event_invalid", "The event breaks the envelope rules", false};
    case events_errc::resync_required:
      return {"resync_required",
              "The events asked for are no longer held; fetch the current state and subscribe "
              "again",
              false};
  }
  return {"internal", "Internal error", false};
}

void register_events_errors() { register_error_category(events_category, describe_code); }

}  // namespace superapp::events
