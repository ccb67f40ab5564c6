// Provider callbacks (webhooks) that arrive on the gateway's HTTP port, handed as one op to the
// front door of the domain that verifies them. The gateway does not judge them: their
// signatures are under the domain's secret, and only the domain knows what they refer to.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/pipeline/session_pipeline.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::gateway {

// One delivery: to `domain`'s front door as op `op` with body {"payload": <the raw body>,
// "timestamp": <X-...-Timestamp>, "signature": <X-...-Signature>}, sealed like any op, with no
// caller (the provider has no token).
struct webhook_delivery {
  std::string domain;
  std::string op;
  std::string payload;
  std::string timestamp;
  std::string signature;
};

// Called exactly once: the HTTP status and JSON body for the provider.
using webhook_answer = std::function<void(unsigned status, std::string body)>;

// The status a provider gets for the domain's refusal (by wire code): 401 for a signature or
// timestamp that does not verify, 404 unknown, 409 conflicting, 400 malformed, 503 when the
// domain is down or busy (the provider retries), 500 otherwise.
unsigned webhook_status(std::string_view wire_code);

// A worker of the gateway's tree that forwards deliveries through the front doors' admission
// gates; publishes itself as services->webhook_relay.
sup::child_spec webhook_relay_child(std::shared_ptr<gateway_services> services);

// From any thread (an io thread): hands `delivery` to the relay; answers 503 at once when the
// relay is not running.
void relay_webhook(gateway_services& services, webhook_delivery delivery, webhook_answer answer);

}  // namespace superapp::gateway
