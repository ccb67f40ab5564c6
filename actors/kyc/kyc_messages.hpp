// The kyc domain's settings, actor interfaces and the messages between its actors.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/kyc/levels.hpp"
#include "protocols/clock.hpp"
#include "protocols/front_door_messages.hpp"

namespace superapp::kyc {

struct kyc_settings {
  // The KYC provider (POST <provider_url>/v1/checks); the simulator in `superapp run`.
  std::string provider_url;
  // The secret the provider signs its callbacks with (raw bytes; kyc.webhook_secret_file).
  // Empty: every callback is refused (no secret, no trust).
  std::string webhook_secret;
  std::shared_ptr<const level_policy> levels;  // null: level_policy::defaults()
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();
  std::chrono::milliseconds provider_timeout{3000};
  // A callback signed further than this from now is refused (a replayed capture).
  std::chrono::seconds webhook_tolerance{300};
  // A check still pending without the provider's id this long after it was made was never taken
  // (the node stopped between recording it and asking): a new submission replaces it.
  std::chrono::seconds abandoned_after{120};
  std::chrono::milliseconds store_timeout{10'000};
};

// The op the gateway turns a provider callback (POST /webhooks/kyc) into; not in the client
// catalogue, so no client can send it. Body: {"payload": <raw body>, "timestamp": <X-Kyc-
// Timestamp>, "signature": <X-Kyc-Signature>}; the service verifies the HMAC itself.
inline constexpr std::string_view provider_callback_op = "kyc.provider_callback";

using submit_check_atom = caf::atom_constant<caf::atom("submit_chk")>;

// The service behind the front door: every kyc.* op.
using service_actor = caf::typed_actor<caf::replies_to<op_atom, op_request>::with<op_reply>>;

// The provider client: one blocking HTTP POST per check on its own thread. Takes the JSON body,
// answers the provider's check id or kyc `provider_unavailable`.
using provider_actor =
    caf::typed_actor<caf::replies_to<submit_check_atom, std::string>::with<std::string>>;

}  // namespace superapp::kyc
