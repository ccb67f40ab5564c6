// The KYC provider's callbacks: HMAC-SHA256 signed deliveries of a check's decision. Pure
// functions, no CAF: the service calls them, the tests call them directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace superapp::kyc {

// A delivery as the gateway hands it over: the raw body bytes and the two headers
//   X-Kyc-Timestamp: <unix seconds>
//   X-Kyc-Signature: v1=<lower-case hex HMAC-SHA256(secret, timestamp + "." + body)>
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

// The decision a verified body carries.
struct provider_decision {
  std::string provider_check_id;
  std::string reference;  // our check id
  std::string level;
  bool verified = false;  // else rejected
  std::string reason;     // why rejected (the provider's code, at most 64 of [a-z0-9_])
};

// nullopt for anything but {"provider_check_id","reference","level","outcome":
// "verified"|"rejected","reason"} with bounded strings (extra fields are ignored: providers add
// fields over time).
std::optional<provider_decision> parse_decision(std::string_view body);

}  // namespace superapp::kyc
