// Actors that count the messages they take from their mailbox, for the operators' view.
//
// CAF 0.17 keeps no per-actor message count. Every message a scheduled actor handles goes
// through the virtual scheduled_actor::consume, so an actor class that overrides it and bumps
// a relaxed atomic counts them at the cost of one uncontended increment. The platform spawns its
// actors through spawn_counted; a supervisor reads the count of each child through the child's
// handle (messages_of) when it reports its tree, and the operations monitor turns two reports
// a second apart into messages per second.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/local_actor.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/spawn_options.hpp>

namespace superapp::sup {

// What a counting actor exposes; read from any thread.
class message_counter {
 public:
  message_counter() = default;
  message_counter(const message_counter&) = delete;
  message_counter& operator=(const message_counter&) = delete;

  std::uint64_t messages() const noexcept { return messages_.load(std::memory_order_relaxed); }

 protected:
  ~message_counter() = default;
  void count_message() noexcept { messages_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> messages_{0};
};

// `Base` is the class a function-based actor would get: caf::event_based_actor,
// caf::stateful_actor<State>, or their typed counterparts. The behaviour comes from `init`, run
// once when the actor starts.
template <class Base>
class counted_actor final : public Base, public message_counter {
 public:
  using behavior_type = typename Base::behavior_type;
  using init_fn = std::function<behavior_type(Base*)>;

  counted_actor(caf::actor_config& cfg, init_fn init) : Base(cfg), init_(std::move(init)) {}

  behavior_type make_behavior() override {
    auto init = std::move(init_);
    init_ = nullptr;
    return init(this);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    count_message();
    return Base::consume(x);
  }

 private:
  init_fn init_;
};

namespace detail {

// Binds the actor function's arguments; they are moved into it when the actor starts.
template <class R, class Impl, class... Ps, class... Ts>
std::function<R(Impl*)> bind_actor_fn(R (*fun)(Impl*, Ps...), Ts&&... xs) {
  return [fun, ... xs = std::forward<Ts>(xs)](Impl* self) mutable {
    return fun(self, std::move(xs)...);
  };
}

}  // namespace detail

// Like parent.spawn(fun, xs...) for `R fun(Impl* self, ...)` (R a behavior or typed behavior),
// but the actor counts its messages. Os takes the same options (caf::detached, caf::linked, ...).
template <caf::spawn_options Os = caf::no_spawn_options, class R, class Impl, class... Ps,
          class... Ts>
auto spawn_counted(caf::local_actor& parent, R (*fun)(Impl*, Ps...), Ts&&... xs) {
  return parent.spawn<counted_actor<Impl>, Os>(
      detail::bind_actor_fn(fun, std::forward<Ts>(xs)...));
}

// The same for actors spawned outside any actor (top-level supervisors, stand-alone services).
template <caf::spawn_options Os = caf::no_spawn_options, class R, class Impl, class... Ps,
          class... Ts>
auto spawn_counted(caf::actor_system& sys, R (*fun)(Impl*, Ps...), Ts&&... xs) {
  return sys.spawn<counted_actor<Impl>, Os>(detail::bind_actor_fn(fun, std::forward<Ts>(xs)...));
}

// Messages the local actor behind `handle` has handled so far; -1 when it does not count
// (spawned some other way, remote, or no actor at all).
std::int64_t messages_of(const caf::strong_actor_ptr& handle);

template <class Handle>
std::int64_t messages_of(const Handle& handle) {
  return messages_of(caf::actor_cast<caf::strong_actor_ptr>(handle));
}

// The same for an actor asking about itself.
std::int64_t messages_of_self(const caf::local_actor* self);

}  // namespace superapp::sup
