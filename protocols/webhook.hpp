// Signed webhooks from providers (KYC, banks): HMAC-SHA256 over "timestamp.body", checked in
// constant time, then the timestamp within a tolerance. Pure functions, no CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace superapp {

// A delivery as the gateway hands it over: the raw body bytes and the two headers
//   X-<Provider>-Timestamp: <unix seconds>
//   X-<Provider>-Signature: v1=<lower-case hex HMAC-SHA256(secret, timestamp + "." + body)>
struct webhook_delivery {
  std::string body;
  std::string timestamp;
  std::string signature;
};

enum class webhook_verdict {
  authentic,
  bad_signature,  // malformed header, wrong secret, or a body or timestamp changed in transit
  stale,          // signed more than `tolerance` before now, or as far in the future
};

// The signature header value for `body` signed at `timestamp` (what the provider sends).
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

// Checks the signature first (constant time), then the timestamp against `now_s`: a captured
// delivery cannot be replayed after `tolerance`, and a changed timestamp breaks the signature.
webhook_verdict verify_webhook(std::string_view secret, const webhook_delivery& delivery,
                               std::int64_t now_s, std::chrono::seconds tolerance);

// The delivery the gateway's webhook relay hands a domain as an op body:
// {"payload": <raw body>, "timestamp": <timestamp header>, "signature": <signature header>};
// nullopt for anything else.
std::optional<webhook_delivery> relayed_webhook(std::string_view op_body);

}  // namespace superapp
