// Fault injection workers.
#include "supervisors/chaos.hpp"

#include <caf/all.hpp>

#include "supervisors/counted.hpp"

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
    return sup::spawn_counted(parent, crash_loop_actor, interval);
  };
  return c;
}

const char* to_string(chaos_mode mode) {
  switch (mode) {
    case chaos_mode::fail:
      return "fail";
    case chaos_mode::delay:
      return "delay";
    default:
      return "off";
  }
}

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace superapp::sup
