// The gateway's seal on an op it forwards: front doors trust a caller only under a valid seal.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/clock.hpp"
#include "protocols/front_door_messages.hpp"

namespace superapp {

// HMAC-SHA256 (OpenSSL) under a key every node of one deployment shares, over the op, its
// body, idempotency key, trace context, the caller (subject, device, scopes) and the sealing
// time. A front door that holds the key refuses an op whose seal is missing, does not match,
// or is older than max_age: a request cannot be forged, altered (another amount, another
// caller, more scopes) or replayed later, even by a peer that can reach the front door
// directly (another node, a compromised component). Verification costs a few microseconds (ADR 0010).
class caller_seal {
 public:
  static constexpr std::size_t key_bytes = 32;
  static constexpr std::chrono::milliseconds default_max_age{60'000};

  // A fresh random key (a single node's, when none is configured).
  static caller_seal generate(const superapp::clock& clock);
  // The key as 64 hex digits (a key file's content; surrounding whitespace is ignored).
  // nullopt, with `error` set, for anything else.
  static std::optional<caller_seal> from_hex(std::string_view hex, const superapp::clock& clock,
                                             std::string& error);

  std::string key_hex() const;

  // Sets request.sealed_at_ms and request.seal.
  void seal(op_request& request) const;

  // True when the seal is this key's over exactly these fields and not older than max_age
  // (nor more than max_age in the future: clocks of nodes differ a little, not by a minute).
  bool verify(const op_request& request) const;

  std::chrono::milliseconds max_age = default_max_age;

 private:
  caller_seal(std::string key, const superapp::clock& clock);
  std::string mac_of(const op_request& request) const;

  std::string key_;
  const superapp::clock* clock_;
};

using caller_seal_ptr = std::shared_ptr<const caller_seal>;

}  // namespace superapp
