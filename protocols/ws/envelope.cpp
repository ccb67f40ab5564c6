// Envelope decoding and the writers that serialize replies and pushes straight into a buffer.
#include "protocols/ws/envelope.hpp"

#include <array>
#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <string>
#include <utility>

#include "protocols/ws/body.hpp"

namespace superapp::ws {
namespace {

decode_error bad_request(request_id id, std::string field, std::string message) {
  return decode_error{std::move(id), platform_errc::bad_request, std::move(field),
                      std::move(message)};
}

decode_error field_problem(request_id id, std::string_view field, std::string_view problem) {
  std::string message = "field \"";
  message.append(field).append("\" ").append(problem);
  return bad_request(std::move(id), std::string{field}, std::move(message));
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// "domain.verb": lowercase words of [a-z0-9_] starting with a letter, exactly one dot.
bool is_op_name(std::string_view op) {
  auto dot = op.find('.');
  if (dot == std::string_view::npos || op.find('.', dot + 1) != std::string_view::npos)
    return false;
  for (auto part : {op.substr(0, dot), op.substr(dot + 1)}) {
    if (part.empty() || part[0] < 'a' || part[0] > 'z') return false;
    for (char c : part)
      if (!is_lower_alnum(c) && c != '_') return false;
  }
  return true;
}

bool is_idempotency_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_hex_run(std::string_view s, bool must_be_nonzero) {
  bool nonzero = false;
  for (char c : s) {
    if (!is_lower_hex(c)) return false;
    nonzero = nonzero || c != '0';
  }
  return nonzero || !must_be_nonzero;
}

// W3C Trace Context: version-traceid-parentid-flags, lowercase hex, ids not all zero. A later
// version may append fields after a dash; version ff is forbidden.
bool is_traceparent(std::string_view tp) {
  if (tp.size() < traceparent_chars) return false;
  auto version = tp.substr(0, 2);
  if (!is_hex_run(version, false) || version == "ff") return false;
  if (version == "00" ? tp.size() != traceparent_chars
                      : (tp.size() > traceparent_chars && tp[traceparent_chars] != '-'))
    return false;
  return tp[2] == '-' && tp[35] == '-' && tp[52] == '-' && is_hex_run(tp.substr(3, 32), true) &&
         is_hex_run(tp.substr(36, 16), true) && is_hex_run(tp.substr(53, 2), false);
}

expected<request_id, decode_error> read_id(const boost::json::object& frame) {
  auto it = frame.find("id");
  if (it == frame.end()) return bad_request({}, "id", "missing field \"id\"");
  const auto& v = it->value();
  if (v.is_int64()) return request_id{v.get_int64()};
  if (v.is_string()) {
    const auto& s = v.get_string();
    if (s.empty()) return field_problem({}, "id", "must not be empty");
    if (detail::utf8_chars(s) > max_id_chars)
      return field_problem({}, "id",
                           "is longer than " + std::to_string(max_id_chars) + " characters");
    return request_id{std::string{s.data(), s.size()}};
  }
  if (v.is_uint64()) return field_problem({}, "id", "is an integer beyond 64-bit signed range");
  return field_problem({}, "id", "must be a string or an integer");
}

const std::array<std::string_view, 5> envelope_fields = {"id", "op", "idempotency_key",
                                                         "traceparent", "body"};

// Serializes a JSON value onto the end of `out` through a stack buffer: `out` only grows when
// its capacity is short, so a reused session buffer stops allocating after the first frames.
template <class Json>
void append_json(std::string& out, const Json& value) {
  boost::json::serializer sr;
  sr.reset(&value);
  std::array<char, 512> chunk;
  while (!sr.done()) out.append(sr.read(chunk.data(), chunk.size()));
}

void append_int(std::string& out, std::int64_t n) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n);
  SUPERAPP_ASSERT(ec == std::errc{});
  out.append(buf.data(), end);
}

void append_uint(std::string& out, std::uint64_t n) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n);
  SUPERAPP_ASSERT(ec == std::errc{});
  out.append(buf.data(), end);
}

void append_id(std::string& out, const request_id& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) {
    append_int(out, *n);
  } else if (const auto* s = std::get_if<std::string>(&id)) {
    append_json_string(out, *s);
  } else {
    out.append("null");
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.append("\\u00");
          out.push_back(hex_digits[(c >> 4) & 0xF]);
          out.push_back(hex_digits[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

expected<request_envelope, decode_error> decode_request(std::string_view frame,
                                                        boost::json::storage_ptr storage) {
  if (frame.size() > max_frame_bytes)
    return decode_error{{},
                        platform_errc::payload_too_large,
                        "",
                        "the frame is larger than " + std::to_string(max_frame_bytes) + " bytes"};
  boost::json::parse_options options;
  options.max_depth = max_json_depth;
  boost::json::error_code ec;
  auto parsed = boost::json::parse(frame, ec, std::move(storage), options);
  if (ec == boost::json::error::too_deep)
    return bad_request({}, "",
                       "the frame nests deeper than " + std::to_string(max_json_depth) + " levels");
  if (ec) return bad_request({}, "", "the frame is not JSON");
  auto* obj = parsed.if_object();
  if (obj == nullptr) return bad_request({}, "", "the frame is not a JSON object");

  auto id = read_id(*obj);
  if (!id) return std::move(id).error();
  request_envelope request;
  request.id = std::move(*id);

  for (const auto& kv : *obj) {
    bool known = false;
    for (auto name : envelope_fields) known = known || kv.key() == name;
    if (!known) {
      std::string key{kv.key()};
      return bad_request(request.id, key, "unknown field \"" + key + "\"");
    }
  }

  auto op = obj->find("op");
  if (op == obj->end()) return bad_request(request.id, "op", "missing field \"op\"");
  const auto* op_name = op->value().if_string();
  if (op_name == nullptr) return field_problem(request.id, "op", "must be a string");
  if (op_name->size() > max_op_chars)
    return field_problem(request.id, "op",
                         "is longer than " + std::to_string(max_op_chars) + " characters");
  if (!is_op_name(*op_name))
    return field_problem(request.id, "op", "must look like \"domain.verb\" (lowercase, one dot)");
  request.op.assign(op_name->data(), op_name->size());

  if (auto key = obj->find("idempotency_key"); key != obj->end()) {
    const auto* s = key->value().if_string();
    if (s == nullptr) return field_problem(request.id, "idempotency_key", "must be a string");
    if (s->size() < min_idempotency_key_chars || s->size() > max_idempotency_key_chars)
      return field_problem(request.id, "idempotency_key",
                           "must be " + std::to_string(min_idempotency_key_chars) + " to " +
                               std::to_string(max_idempotency_key_chars) + " characters long");
    for (char c : *s)
      if (!is_idempotency_key_char(c))
        return field_problem(request.id, "idempotency_key",
                             "may only contain letters, digits, '_' and '-'");
    request.idempotency_key.emplace(s->data(), s->size());
  }

  if (auto tp = obj->find("traceparent"); tp != obj->end()) {
    const auto* s = tp->value().if_string();
    if (s == nullptr) return field_problem(request.id, "traceparent", "must be a string");
    // W3C Trace Context: a traceparent that does not parse is dropped and the trace restarts
    // (the gateway's trace filter starts a new one); the request itself is still served.
    if (is_traceparent(*s)) request.traceparent.emplace(s->data(), s->size());
  }

  auto body = obj->find("body");
  if (body == obj->end()) return bad_request(request.id, "body", "missing field \"body\"");
  if (!body->value().is_object()) return field_problem(request.id, "body", "must be an object");
  request.body = std::move(body->value().get_object());
  return request;
}

void write_request(std::string& out, const request_envelope& request) {
  out.append("{\"id\":");
  append_id(out, request.id);
  out.append(",\"op\":");
  append_json_string(out, request.op);
  if (request.idempotency_key) {
    out.append(",\"idempotency_key\":");
    append_json_string(out, *request.idempotency_key);
  }
  if (request.traceparent) {
    out.append(",\"traceparent\":");
    append_json_string(out, *request.traceparent);
  }
  out.append(",\"body\":");
  append_json(out, request.body);
  out.push_back('}');
}

void write_ok_reply(std::string& out, const request_id& id, const boost::json::object& body) {
  out.append("{\"id\":");
  append_id(out, id);
  out.append(",\"ok\":true,\"body\":");
  append_json(out, body);
  out.push_back('}');
}

void write_ok_reply_raw(std::string& out, const request_id& id, std::string_view body_json) {
  SUPERAPP_ASSERT(!body_json.empty() && body_json.front() == '{' && body_json.back() == '}');
  out.append("{\"id\":");
  append_id(out, id);
  out.append(",\"ok\":true,\"body\":");
  out.append(body_json);
  out.push_back('}');
}

void write_error_reply(std::string& out, const request_id& id, const error_description& error,
                       std::string_view message, std::optional<std::int64_t> retry_after_ms) {
  SUPERAPP_ASSERT(!retry_after_ms || *retry_after_ms >= 0);
  out.append("{\"id\":");
  append_id(out, id);
  out.append(",\"ok\":false,\"error\":{\"code\":");
  append_json_string(out, error.wire_code);
  out.append(",\"message\":");
  append_json_string(out, message.empty() ? error.message : message);
  out.append(error.retryable ? ",\"retryable\":true" : ",\"retryable\":false");
  if (retry_after_ms) {
    out.append(",\"retry_after_ms\":");
    append_int(out, *retry_after_ms);
  }
  out.append("}}");
}

void write_error_reply(std::string& out, const decode_error& error) {
  write_error_reply(out, error.id, describe(error.code), error.message);
}

void write_event(std::string& out, std::string_view topic, std::uint64_t seq,
                 const boost::json::object& body) {
  out.append("{\"type\":\"event\",\"topic\":");
  append_json_string(out, topic);
  out.append(",\"seq\":");
  append_uint(out, seq);
  out.append(",\"body\":");
  append_json(out, body);
  out.push_back('}');
}

void write_event_raw(std::string& out, std::string_view topic, std::uint64_t seq,
                     std::string_view body_json) {
  SUPERAPP_ASSERT(!body_json.empty() && body_json.front() == '{' && body_json.back() == '}');
  out.append("{\"type\":\"event\",\"topic\":");
  append_json_string(out, topic);
  out.append(",\"seq\":");
  append_uint(out, seq);
  out.append(",\"body\":");
  out.append(body_json);
  out.push_back('}');
}

expected<server_frame, std::string> decode_server_frame(std::string_view frame) {
  boost::json::error_code ec;
  boost::json::parse_options options;
  options.max_depth = max_json_depth;
  auto parsed = boost::json::parse(frame, ec, {}, options);
  if (ec) return std::string{"the frame is not JSON"};
  auto* obj = parsed.if_object();
  if (obj == nullptr) return std::string{"the frame is not a JSON object"};

  if (auto type = obj->find("type"); type != obj->end()) {
    const auto* type_name = type->value().if_string();
    if (type_name == nullptr || *type_name != "event") return std::string{"unknown frame type"};
    event_envelope event;
    const auto* topic = obj->if_contains("topic");
    const auto* seq = obj->if_contains("seq");
    auto* body = obj->if_contains("body");
    if (topic == nullptr || !topic->is_string()) return std::string{"event without a topic"};
    if (seq == nullptr || !(seq->is_int64() || seq->is_uint64()) ||
        (seq->is_int64() && seq->get_int64() < 0))
      return std::string{"event without a seq"};
    if (body == nullptr || !body->is_object()) return std::string{"event without a body"};
    event.topic = std::string{topic->get_string()};
    event.seq = seq->is_uint64() ? seq->get_uint64() : static_cast<std::uint64_t>(seq->get_int64());
    event.body = std::move(body->get_object());
    return server_frame{std::move(event)};
  }

  reply_envelope reply;
  const auto* id = obj->if_contains("id");
  if (id == nullptr) return std::string{"reply without an id"};
  if (id->is_int64()) {
    reply.id = id->get_int64();
  } else if (id->is_string()) {
    reply.id = std::string{id->get_string()};
  } else if (!id->is_null()) {
    return std::string{"reply id is neither a string, an integer nor null"};
  }
  const auto* ok = obj->if_contains("ok");
  if (ok == nullptr || !ok->is_bool()) return std::string{"reply without ok"};
  reply.ok = ok->get_bool();
  if (reply.ok) {
    auto* body = obj->if_contains("body");
    if (body == nullptr || !body->is_object()) return std::string{"ok reply without a body"};
    reply.body = std::move(body->get_object());
    return server_frame{std::move(reply)};
  }
  const auto* error = obj->if_contains("error");
  if (error == nullptr || !error->is_object()) return std::string{"error reply without error"};
  const auto& e = error->get_object();
  const auto* code = e.if_contains("code");
  const auto* message = e.if_contains("message");
  const auto* retryable = e.if_contains("retryable");
  if (code == nullptr || !code->is_string() || message == nullptr || !message->is_string() ||
      retryable == nullptr || !retryable->is_bool())
    return std::string{"error without code, message or retryable"};
  wire_error w{std::string{code->get_string()}, std::string{message->get_string()},
               retryable->get_bool(), std::nullopt};
  if (const auto* after = e.if_contains("retry_after_ms")) {
    if (!after->is_int64()) return std::string{"retry_after_ms is not an integer"};
    w.retry_after_ms = after->get_int64();
  }
  reply.error = std::move(w);
  return server_frame{std::move(reply)};
}

}  // namespace superapp::ws
