// The op catalogue: every operation the WebSocket protocol knows, its lane and its bodies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ws/body.hpp"
#include "protocols/ws/envelope.hpp"

namespace superapp::ws {

// Transactional ops change state and must be safe to retry (idempotency key); query ops only read.
enum class lane : std::uint8_t { transactional, query };

std::string_view to_string(lane l) noexcept;

struct op_spec {
  std::string name;  // "domain.verb"
  ws::lane lane;
  bool idempotency_key_required;
  std::string summary;  // one line, as in the AsyncAPI document
  body_shape request;
  body_shape reply;
  // Reachable without an access token (sign-up, login, token refresh, JWKS): the gateway skips
  // authentication for these ops only.
  bool is_public = false;
  // A scope the caller's token must carry (the gateway refuses with `forbidden`, and the domain
  // checks again on its side); empty: any authenticated caller. App users carry "user".
  std::string required_scope;
};

// The same op, marked public.
inline op_spec public_op(op_spec spec) {
  spec.is_public = true;
  return spec;
}

// The same op, for callers whose token carries `scope` only.
inline op_spec scoped_op(op_spec spec, std::string scope) {
  spec.required_scope = std::move(scope);
  return spec;
}

// Builds an op from typed schemas; the idempotency key follows the lane.
template <class Request, class Reply>
op_spec make_op(std::string name, ws::lane l, std::string summary,
                const body_schema<Request>& request, const body_schema<Reply>& reply) {
  op_spec spec{std::move(name), l, l == lane::transactional, std::move(summary), request.shape(),
               reply.shape(), false, {}};
  return spec;
}

class op_catalogue {
 public:
  // Asserts the name is "domain.verb", unique, and that transactional ops require a key.
  void add(op_spec spec);

  const op_spec* find(std::string_view name) const noexcept;
  const std::vector<op_spec>& all() const noexcept { return ops_; }

  // Checks a decoded request against its op: unknown_op, idempotency_key_required, then the
  // body (bad_request naming the field as "body.<field>"). The gateway calls this before
  // routing, so a domain only ever sees requests that fit its schema.
  expected<const op_spec*, decode_error> admit(const request_envelope& request) const;

 private:
  std::vector<op_spec> ops_;
};

// Every op of the protocol, built once; new ops are added in ops.cpp (see README.md).
// The names of `domain`'s own ops in protocol_ops() ("<domain>.x", not "<domain>.ping", which
// every front door answers itself): what a domain's front door hands to its service.
std::vector<std::string> domain_op_names(std::string_view domain);

const op_catalogue& protocol_ops();

// Bodies of the protocol-level ops.
struct empty_body {};
struct ping_reply {
  bool pong = true;
  std::string node;
};
struct echo_body {
  std::string text;
};
struct domain_pong {
  bool pong = true;
  std::string domain;
};
struct topic_body {
  std::string topic;
};
struct subscribe_reply {
  std::string topic;
  std::string resume_token;  // per session; session.resume presents it after a reconnect
};
struct resume_request {
  std::string resume_token;
  std::int64_t last_seq = 0;  // the last event seq the client processed
};
struct resume_reply {
  bool resync = false;                   // true: the gap is gone, refetch state and resubscribe
  std::optional<std::int64_t> replayed;  // when !resync: events that follow, with their seq
};

inline constexpr std::size_t max_echo_text_chars = 4096;
inline constexpr std::size_t max_node_name_chars = 128;
inline constexpr std::size_t max_resume_token_chars = 256;

const body_schema<empty_body>& empty_body_schema();
const body_schema<ping_reply>& ping_reply_schema();
const body_schema<echo_body>& echo_body_schema();
const body_schema<domain_pong>& domain_pong_schema();
const body_schema<topic_body>& topic_body_schema();
const body_schema<subscribe_reply>& subscribe_reply_schema();
const body_schema<resume_request>& resume_request_schema();
const body_schema<resume_reply>& resume_reply_schema();

}  // namespace superapp::ws
