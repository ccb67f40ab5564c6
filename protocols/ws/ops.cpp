// The op catalogue's rules and the protocol-level ops (system.*, session.*).
#include "protocols/ws/ops.hpp"

#include "protocols/ws/banking_ops.hpp"
#include "protocols/ws/identity_ops.hpp"
#include "protocols/ws/kyc_ops.hpp"

#include <limits>
#include <utility>

namespace superapp::ws {

std::string_view to_string(lane l) noexcept {
  switch (l) {
    case lane::transactional:
      return "transactional";
    case lane::query:
      return "query";
  }
  return "query";
}

void op_catalogue::add(op_spec spec) {
  SUPERAPP_ASSERT(!spec.name.empty() && spec.name.size() <= max_op_chars);
  SUPERAPP_ASSERT(spec.name.find('.') != std::string::npos);
  SUPERAPP_ASSERT(find(spec.name) == nullptr);
  // A retried transfer must not move money twice: every transactional op carries a key.
  SUPERAPP_ASSERT(spec.lane != lane::transactional || spec.idempotency_key_required);
  SUPERAPP_ASSERT(spec.request.validate && spec.reply.validate);
  ops_.push_back(std::move(spec));
}

const op_spec* op_catalogue::find(std::string_view name) const noexcept {
  for (const auto& op : ops_)
    if (op.name == name) return &op;
  return nullptr;
}

expected<const op_spec*, decode_error> op_catalogue::admit(const request_envelope& request) const {
  const auto* op = find(request.op);
  if (op == nullptr)
    return decode_error{request.id, platform_errc::unknown_op, "op",
                        "unknown op \"" + request.op + "\""};
  if (op->idempotency_key_required && !request.idempotency_key)
    return decode_error{request.id, platform_errc::idempotency_key_required, "idempotency_key",
                        "op \"" + op->name + "\" needs an idempotency_key"};
  if (auto err = op->request.validate(request.body, "body"))
    return decode_error{request.id, platform_errc::bad_request, std::move(err->field),
                        std::move(err->message)};
  return op;
}

const body_schema<empty_body>& empty_body_schema() {
  static const body_schema<empty_body> schema;
  return schema;
}

const body_schema<ping_reply>& ping_reply_schema() {
  static const auto schema =
      body_schema<ping_reply>{}
          .required("pong", &ping_reply::pong)
          .required("node", &ping_reply::node, max_length{max_node_name_chars});
  return schema;
}

const body_schema<domain_pong>& domain_pong_schema() {
  static const auto schema = body_schema<domain_pong>{}
                                 .required("pong", &domain_pong::pong)
                                 .required("domain", &domain_pong::domain, max_length{64});
  return schema;
}

const body_schema<echo_body>& echo_body_schema() {
  static const auto schema =
      body_schema<echo_body>{}.required("text", &echo_body::text, max_length{max_echo_text_chars});
  return schema;
}

const body_schema<topic_body>& topic_body_schema() {
  static const auto schema = body_schema<topic_body>{}.required(
      "topic", &topic_body::topic, max_length{max_topic_chars}, min_length{1});
  return schema;
}

const body_schema<subscribe_reply>& subscribe_reply_schema() {
  static const auto schema =
      body_schema<subscribe_reply>{}
          .required("topic", &subscribe_reply::topic, max_length{max_topic_chars}, min_length{1})
          .required("resume_token", &subscribe_reply::resume_token,
                    max_length{max_resume_token_chars}, min_length{1});
  return schema;
}

const body_schema<resume_request>& resume_request_schema() {
  static const auto schema = body_schema<resume_request>{}
                                 .required("resume_token", &resume_request::resume_token,
                                           max_length{max_resume_token_chars}, min_length{1})
                                 .required("last_seq", &resume_request::last_seq,
                                           int_range{0, std::numeric_limits<std::int64_t>::max()});
  return schema;
}

const body_schema<resume_reply>& resume_reply_schema() {
  static const auto schema = body_schema<resume_reply>{}
                                 .required("resync", &resume_reply::resync)
                                 .optional("replayed", &resume_reply::replayed,
                                           int_range{0, std::numeric_limits<std::int64_t>::max()});
  return schema;
}

const op_catalogue& protocol_ops() {
  static const op_catalogue catalogue = [] {
    op_catalogue c;
    c.add(make_op("system.ping", lane::query, "Liveness of the session and the node behind it.",
                  empty_body_schema(), ping_reply_schema()));
    c.add(make_op("system.echo", lane::query,
                  "Echoes the text back; the benchmark's baseline against a bare echo server.",
                  echo_body_schema(), echo_body_schema()));
    // Every domain's front door answers `<domain>.ping` through its admission gate.
    for (const char* domain : {"identity", "kyc", "banking", "billers", "rewards", "ecommerce",
                               "notifications", "events"})
      c.add(make_op(std::string{domain} + ".ping", lane::query,
                    "Liveness of the " + std::string{domain} +
                        " domain: its front door answers through admission.",
                    empty_body_schema(), domain_pong_schema()));
    c.add(make_op("session.subscribe", lane::query,
                  "Starts pushing events of a topic; answers with the session's resume token.",
                  topic_body_schema(), subscribe_reply_schema()));
    c.add(make_op("session.unsubscribe", lane::query, "Stops pushing events of a topic.",
                  topic_body_schema(), topic_body_schema()));
    c.add(make_op("session.resume", lane::query,
                  "After a reconnect, replays events after last_seq, or asks for a resync.",
                  resume_request_schema(), resume_reply_schema()));
    // Domain ops (banking.transfer, ...) are added here, one c.add(make_op(...)) each.
    add_identity_ops(c);
    add_kyc_ops(c);
    add_banking_ops(c);
    return c;
  }();
  return catalogue;
}

std::vector<std::string> domain_op_names(std::string_view domain) {
  const std::string prefix = std::string{domain} + ".";
  std::vector<std::string> names;
  for (const auto& op : protocol_ops().all())
    if (op.name.rfind(prefix, 0) == 0 && op.name != prefix + "ping") names.push_back(op.name);
  return names;
}

}  // namespace superapp::ws
