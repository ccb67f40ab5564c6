// The identity domain's actor interfaces, its settings, and the messages between its actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/identity/identity_rules.hpp"
#include "actors/identity/partners.hpp"
#include "actors/identity/secrets.hpp"
#include "actors/identity/tiers.hpp"
#include "protocols/clock.hpp"
#include "protocols/front_door_messages.hpp"

namespace superapp::identity {

// How identity's Argon2id threads share the machine: at this nice value, or under SCHED_IDLE
// when `idle` (nice 19 where the kernel refuses it), and only on `cpus` (empty: any).
struct hashing_placement {
  int nice = 10;
  bool idle = false;
  std::vector<int> cpus;
};

struct identity_settings {
  std::string issuer = "superapp-identity";  // `iss` of every access token
  std::string audience = "superapp-mobile";  // `aud`
  std::vector<std::string> user_scopes{"user"};
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();

  std::string sms_url;  // http://HOST:PORT of the SMS provider (the simulator in superapp run)
  // Seals the signing keys at rest (secrets.hpp, storage_key_bytes raw bytes). The node always
  // gives one (identity.storage_key_file, or one made in the data dir); empty only in tests,
  // which then store keys in the clear.
  std::string storage_key;
  std::chrono::milliseconds sms_timeout{2000};

  seconds access_token_ttl{15 * 60};  // at most 15 minutes (asserted)
  seconds refresh_token_ttl{30 * 24 * 60 * 60};
  seconds enrolment_ttl{10 * 60};
  seconds challenge_ttl{60};
  otp_policy otp;
  lockout_policy lockout;
  argon2_params argon2;
  std::size_t hashing_workers = 2;          // detached actors, one thread each
  hashing_placement hashing;  // the hashing threads' priority and CPUs (helpers.hpp)
  std::size_t max_hashing_in_flight = 256;  // beyond this, `overloaded` at once
  std::size_t max_devices_per_user = 10;
  // Tiered authorisation (tiers.hpp): the policy (null: tier_policy::defaults()), how long an
  // approval lives, how long a step-up may be answered, and the SMS budget for step-up codes.
  std::shared_ptr<const tier_policy> tiers;
  seconds approval_ttl{120};  // at most tokens::approval_max_lifetime (asserted)
  seconds step_up_otp_ttl{5 * 60};
  seconds step_up_challenge_ttl{120};
  int step_up_max_tries = 5;
  int otp_step_ups_per_hour = 10;
  // Partner credentials (partners.hpp): the registry (null: no partners) and their tokens' life.
  std::shared_ptr<const partner_registry> partners;
  seconds partner_token_ttl{15 * 60};  // at most 15 minutes, like every access token
  std::chrono::milliseconds store_timeout{10'000};
};

// Between the service and its helpers (local only).
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using send_sms_atom = caf::atom_constant<caf::atom("send_sms")>;
using rotate_key_atom = caf::atom_constant<caf::atom("rotate_key")>;

// The service behind the front door: every identity.* op, and key rotation (answers the new kid).
using service_actor =
    caf::typed_actor<caf::replies_to<op_atom, op_request>::with<op_reply>,
                     caf::replies_to<rotate_key_atom>::with<std::string>>;

// A hashing worker: Argon2id on its own thread. hash -> encoded hash ("" when out of memory);
// verify -> whether the secret matches.
using hasher_actor =
    caf::typed_actor<caf::replies_to<hash_atom, std::string>::with<std::string>,
                     caf::replies_to<verify_atom, std::string, std::string>::with<bool>>;

// The SMS sender: one blocking HTTP POST per message, on its own thread; answers true when the
// provider took it, an identity `sms_unavailable` error otherwise.
using sms_actor = caf::typed_actor<caf::replies_to<send_sms_atom, std::string, std::string>::with<bool>>;

}  // namespace superapp::identity
