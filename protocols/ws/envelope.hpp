// The mobile WebSocket envelope: decoding client requests, writing replies and server pushes.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocols/error_catalogue.hpp"
#include "protocols/ws/expected.hpp"

namespace superapp::ws {

// Explicit limits (the AsyncAPI document states the same numbers; a test compares them).
inline constexpr std::size_t max_frame_bytes = 64 * 1024;
inline constexpr std::size_t max_id_chars = 64;
inline constexpr std::size_t max_op_chars = 64;
// Envelope (1) > body (2) > one nested object (3) > an array or object inside it (4): 8 leaves
// headroom for domain bodies while a "[[[[..." bomb is refused before it is built.
inline constexpr std::size_t max_json_depth = 8;
inline constexpr std::size_t min_idempotency_key_chars = 8;
inline constexpr std::size_t max_idempotency_key_chars = 128;
inline constexpr std::size_t traceparent_chars = 55;  // W3C trace context, version 00
inline constexpr std::size_t max_topic_chars = 128;

// The client's request id, echoed back verbatim. monostate: it could not be read, sent as null.
using request_id = std::variant<std::monostate, std::int64_t, std::string>;

// {"id", "op", "idempotency_key"?, "traceparent"?, "body"}
struct request_envelope {
  request_id id;
  std::string op;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> traceparent;
  boost::json::object body;
};

// Why a request was refused before it reached a domain. `code` is one of bad_request,
// payload_too_large, unknown_op, idempotency_key_required.
struct decode_error {
  request_id id;  // echoed in the error reply; monostate when the id itself is unreadable
  platform_errc code;
  std::string field;    // the envelope or body field at fault ("body.text"); empty: whole frame
  std::string message;  // exact and safe to send
};

// Decodes one text frame. The body is allocated from `storage` (default: the heap); pass a
// monotonic resource to make a decode allocation-free when the body dies with the frame.
expected<request_envelope, decode_error> decode_request(std::string_view frame,
                                                        boost::json::storage_ptr storage = {});

// Writers append one frame to `out`; reuse one buffer per session (out.clear() keeps capacity).

// {"id", "op", ...}: what a client sends; used by clients, the benchmark and tests.
void write_request(std::string& out, const request_envelope& request);
// {"id", "ok": true, "body": {...}}
void write_ok_reply(std::string& out, const request_id& id, const boost::json::object& body);
// Same, with a body the caller has already serialized as a JSON object.
void write_ok_reply_raw(std::string& out, const request_id& id, std::string_view body_json);
// {"id", "ok": false, "error": {"code", "message", "retryable", "retry_after_ms"?}}. An empty
// `message` sends the catalogue's message; a non-empty one replaces it (e.g. a decode problem).
void write_error_reply(std::string& out, const request_id& id, const error_description& error,
                       std::string_view message = {},
                       std::optional<std::int64_t> retry_after_ms = std::nullopt);
void write_error_reply(std::string& out, const decode_error& error);
// {"type": "event", "topic", "seq", "body": {...}}
void write_event(std::string& out, std::string_view topic, std::uint64_t seq,
                 const boost::json::object& body);
// The same with a body that is already a serialized JSON object.
void write_event_raw(std::string& out, std::string_view topic, std::uint64_t seq,
                     std::string_view body_json);

// The client's side: what the server sends, decoded (for clients, the benchmark and tests).
struct wire_error {
  std::string code;
  std::string message;
  bool retryable = false;
  std::optional<std::int64_t> retry_after_ms;
};

struct reply_envelope {
  request_id id;
  bool ok = false;
  boost::json::object body;         // when ok
  std::optional<wire_error> error;  // when not ok
};

struct event_envelope {
  std::string topic;
  std::uint64_t seq = 0;
  boost::json::object body;
};

using server_frame = std::variant<reply_envelope, event_envelope>;

// Decodes a reply or a push; the error is a one-line description of what is wrong.
expected<server_frame, std::string> decode_server_frame(std::string_view frame);

// Appends `text` as a JSON string literal (quotes, escapes): the writers' building block.
void append_json_string(std::string& out, std::string_view text);

}  // namespace superapp::ws
