// Keeps the gateway's verification keys in step with the identity domain's signing keys.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/pipeline/session_pipeline.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::gateway {

// Two JWKS documents as one ({"keys": a's then b's}); nullopt with `error` when either is not
// a JSON object with a "keys" array.
std::optional<std::string> merge_jwks(std::string_view a, std::string_view b, std::string& error);

struct key_refresh_settings {
  std::string identity_domain = "identity";
  std::string jwks_op = "identity.jwks";
  std::chrono::milliseconds interval{30'000};   // how stale the keys may get after a rotation
  std::chrono::milliseconds retry{1'000};       // while identity is not reachable yet
  // A session holding a token with an unknown kid asks for the keys at once, but identity is
  // asked at most once per gap however many sessions (or forged tokens) ask.
  std::chrono::milliseconds on_demand_gap{1'000};
  std::chrono::milliseconds timeout{5'000};
};

// A worker of the gateway's tree: at start and every `interval` it asks the identity front
// door (local or through a cluster link) for `identity.jwks`, merges the answer with the keys
// the node was configured with (services->configured_jwks()), and swaps the key store and the
// served document when they changed. Sessions see new keys at once; no restart. When identity
// cannot be asked, the keys in use stay as they are and it retries every `retry`. It publishes
// itself as services->key_refresher, and answers `refresh_keys_atom` (session_pipeline.hpp):
// true after asking identity, false when it did not ask (too soon, or identity unreachable).
sup::child_spec key_refresher_child(std::shared_ptr<gateway_services> services,
                                    key_refresh_settings settings = {});

}  // namespace superapp::gateway
