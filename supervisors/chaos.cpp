// Fault injection workers.
#include "supervisors/chaos.hpp"

#include <caf/all.hpp>

namespace superapp::sup {
namespace {

using crash_now_atom = caf::atom_constant<caf::atom("crash_now")>;

caf::behavior crash_loop_actor(caf::event_based_actor* self, std::chrono::milliseconds interval) {
  self->delayed_send(self, interval, crash_now_atom::value);
  return {
      [self](crash_now_atom) { self->quit(caf::make_error(caf::sec::runtime_error)); },
      [self](probe_atom) {
        return worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
  };
}

}  // namespace

child_spec crash_loop_child(std::string id, std::chrono::milliseconds interval) {
  child_spec c;
  c.id = std::move(id);
  c.answers_probe = true;
  c.start = [interval](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    return parent.spawn(crash_loop_actor, interval);
  };
  return c;
}

}  // namespace superapp::sup
