// The one message every domain front door takes from the gateway: an op with its JSON body.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

namespace superapp {

// `op_atom, op_request` -> `op_reply` or an error from the error catalogue.
using op_atom = caf::atom_constant<caf::atom("op")>;

// Who asks, as the gateway verified it (the domain checks scopes again on its own side).
struct caller {
  std::string subject;     // user id or partner client id
  std::string device_id;   // empty for partners
  std::vector<std::string> scopes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, caller& x) {
  return f(caf::meta::type_name("caller"), x.subject, x.device_id, x.scopes);
}

// The body travels as the JSON text the gateway validated against the op's schema: the
// gateway stays free of domain types, the message stays serialisable for remote front doors,
// and the domain decodes it with the same schema into its typed struct.
struct op_request {
  std::string op;               // e.g. "banking.transfer"
  std::string body_json;        // a JSON object, validated by the gateway
  std::string idempotency_key;  // required for transactional ops
  std::string traceparent;      // W3C trace context of this request
  caller who;
  // The gateway's seal over all of the above (protocols/caller_seal.hpp); front doors refuse an
  // op whose seal does not verify.
  std::int64_t sealed_at_ms = 0;
  std::string seal;  // HMAC-SHA256, 32 bytes
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, op_request& x) {
  return f(caf::meta::type_name("op_request"), x.op, x.body_json, x.idempotency_key,
           x.traceparent, x.who, x.sealed_at_ms, x.seal);
}

struct op_reply {
  std::string body_json;  // a JSON object
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, op_reply& x) {
  return f(caf::meta::type_name("op_reply"), x.body_json);
}

}  // namespace superapp
