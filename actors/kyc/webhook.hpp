// The KYC provider's callbacks: HMAC-SHA256 signed deliveries (protocols/webhook.hpp) of a
// check's decision. Pure functions, no CAF: the service calls them, the tests call them directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/webhook.hpp"

namespace superapp::kyc {

// The signature checks are protocols/webhook.hpp's (headers X-Kyc-Timestamp, X-Kyc-Signature).
using superapp::verify_webhook;
using superapp::webhook_delivery;
using superapp::webhook_signature;
using superapp::webhook_verdict;

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
