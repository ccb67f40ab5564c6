// The identity service: the actor behind the front door that runs every identity.* op.
#pragma once

#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/identity/identity_messages.hpp"
#include "protocols/tokens/jwt.hpp"
#include "supervisors/domain.hpp"

namespace superapp::identity {

// Loads the published signing keys (newest first); on a fresh database makes the first one and
// stores it through the store's writer (waits for the commit). Runs in the worker's start.
caf::expected<std::vector<tokens::signing_key>> load_or_create_keys(
    caf::actor_system& sys, const sup::domain_context& ctx, const identity_settings& settings);

// Spawns the service from `parent` (the domain supervisor), detached: it blocks on reader
// connections. It spawns its hashing workers and SMS sender linked to itself, and serialises
// state changes: every write is awaited before its next message.
service_actor spawn_identity_service(caf::local_actor& parent, identity_settings settings,
                                     sup::domain_context_ptr ctx,
                                     std::vector<tokens::signing_key> keys);

}  // namespace superapp::identity
