// A domain's front door: the directory callers find it in, and requests that take a credit.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "protocols/error_catalogue.hpp"
#include "supervisors/admission.hpp"

namespace superapp::sup {

// Every front door answers ping_atom with its domain's name: the cheapest request that goes
// through admission, the actor and back, used by readiness checks and benchmarks.
using ping_atom = caf::atom_constant<caf::atom("ping")>;

// Where callers (the gateway, other domains' command clients) find a domain's current front
// door. A restarted front door publishes its new handle; a caller holding the old one gets
// request_receiver_down, which the error catalogue maps to `unavailable`.
class front_door_directory {
 public:
  struct entry {
    caf::actor front_door;
    admission_gate_ptr gate;
  };

  void publish(const std::string& domain, caf::actor front_door, admission_gate_ptr gate) {
    std::lock_guard<std::mutex> guard{mutex_};
    entries_[domain] = entry{std::move(front_door), std::move(gate)};
  }

  std::optional<entry> lookup(const std::string& domain) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = entries_.find(domain);
    if (i == entries_.end()) return std::nullopt;
    return i->second;
  }

  // Removes the domain's entry only if it still names `front_door` (a newer one stays).
  void withdraw(const std::string& domain, const caf::actor_addr& front_door) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = entries_.find(domain);
    if (i != entries_.end() && i->second.front_door.address() == front_door) entries_.erase(i);
  }

  void clear() {
    std::lock_guard<std::mutex> guard{mutex_};
    entries_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, entry> entries_;
};

using front_door_directory_ptr = std::shared_ptr<front_door_directory>;

// Holds one credit; gives it back when the request it was taken for is over.
class admission_ticket {
 public:
  explicit admission_ticket(admission_gate_ptr gate)
      : gate_(std::move(gate)), taken_at_(std::chrono::steady_clock::now()) {}
  admission_ticket(const admission_ticket&) = delete;
  admission_ticket& operator=(const admission_ticket&) = delete;
  ~admission_ticket() { gate_->release(std::chrono::steady_clock::now() - taken_at_); }

  admission_gate& gate() const noexcept { return *gate_; }

 private:
  admission_gate_ptr gate_;
  std::chrono::steady_clock::time_point taken_at_;  // latency metric only, not business time
};

// Sends a request through a front door's gate. Without a free credit, `on_error` gets
// `overloaded` at once and nothing is enqueued. The credit is held by the error handler, which
// CAF destroys exactly when the request ends (reply, error, timeout or the requester's exit).
template <class Self, class Handle, class Timeout, class OnValue, class OnError, class... Ts>
void admitted_request(Self* self, const admission_gate_ptr& gate, const Handle& dest,
                      Timeout timeout, OnValue on_value, OnError on_error, Ts&&... xs) {
  if (!gate->try_acquire()) {
    caf::error err = make_error(platform_errc::overloaded);
    gate->record_error(describe(err).wire_code);
    on_error(err);
    return;
  }
  auto ticket = std::make_shared<admission_ticket>(gate);
  self->request(dest, timeout, std::forward<Ts>(xs)...)
      .then(std::move(on_value),
            [on_error = std::move(on_error), ticket](caf::error& err) mutable {
              ticket->gate().record_error(describe(err).wire_code);
              on_error(err);
            });
}

}  // namespace superapp::sup
