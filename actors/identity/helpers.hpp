// The identity service's helper actors: Argon2id hashing workers and the SMS sender.
#pragma once

#include <caf/fwd.hpp>

#include "actors/identity/identity_messages.hpp"

namespace superapp::identity {

// Detached: Argon2id takes tens of milliseconds of CPU and ~19 MiB; it never runs on a CAF
// scheduler thread or a gateway io thread.
// Spawn detached: each hasher has its own thread, which it runs at the placement's nice value
// (0..19), or under SCHED_IDLE, and on its CPUs: Argon2id holds a core for tens of milliseconds per job, and a login
// storm should not take the CPU from the gateway and the other domains (bench/login_storm
// measures both: BENCHMARKS.md).
hasher_actor::behavior_type hasher(hasher_actor::pointer self, argon2_params params,
                                   hashing_placement placement);

// Places the calling thread (Linux: nice, policy and affinity are per thread): keeps it to the
// placement's CPUs and lowers its priority. Lowering never needs privileges; a failure (a CPU
// this machine lacks) is only logged and the thread runs where the kernel puts it.
void place_this_thread(const hashing_placement& placement);

// Detached: blocks its own thread on the HTTP call, at most `timeout`.
sms_actor::behavior_type sms_sender(sms_actor::pointer self, std::string provider_url,
                                    std::chrono::milliseconds timeout);

}  // namespace superapp::identity
