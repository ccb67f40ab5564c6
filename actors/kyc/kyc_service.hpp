// The kyc service: the actor behind the front door that runs every kyc.* op and the provider's
// callbacks.
#pragma once

#include <caf/fwd.hpp>

#include "actors/kyc/kyc_messages.hpp"
#include "supervisors/domain.hpp"

namespace superapp::kyc {

// Spawns the service from `parent` (the domain supervisor), detached: it blocks on reader
// connections. It spawns its provider client linked to itself.
service_actor spawn_kyc_service(caf::local_actor& parent, kyc_settings settings,
                                sup::domain_context_ptr ctx);

}  // namespace superapp::kyc
