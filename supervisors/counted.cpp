// Reading an actor's message count through its handle.
#include "supervisors/counted.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_control_block.hpp>

namespace superapp::sup {

std::int64_t messages_of(const caf::strong_actor_ptr& handle) {
  if (!handle) return -1;
  // The handle keeps the actor alive; the counter is an atomic, so any thread may read it.
  // A proxy for a remote actor is no message_counter and yields -1.
  auto* actor = handle->get();
  auto* counter = dynamic_cast<const message_counter*>(actor);
  return counter == nullptr ? -1 : static_cast<std::int64_t>(counter->messages());
}

std::int64_t messages_of_self(const caf::local_actor* self) {
  auto* counter = dynamic_cast<const message_counter*>(self);
  return counter == nullptr ? -1 : static_cast<std::int64_t>(counter->messages());
}

}  // namespace superapp::sup
