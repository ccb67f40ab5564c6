// Server push for WebSocket sessions: which user sees which event, numbering, and resume.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "supervisors/supervisor.hpp"

namespace superapp::gateway {

// An event a domain published that users may see: its type ("banking.transfer.completed"), the
// users it concerns (an event with no audience is never pushed) and its body, a JSON object.
struct client_event {
  std::string type;
  std::vector<std::string> audience;
  std::string body_json;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_event& x) {
  return f(caf::meta::type_name("client_event"), x.type, x.audience, x.body_json);
}

struct resume_outcome {
  bool resync = false;
  std::vector<std::string> frames;  // the missed event frames, in seq order, when !resync
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resume_outcome& x) {
  return f(caf::meta::type_name("resume_outcome"), x.resync, x.frames);
}

// The router's interface (one router per gateway):
//   (client_event_atom, client_event)                               from the event source
//   (subscribe_atom, subject, session actor, topic)   -> std::string resume token
//   (unsubscribe_atom, session actor, topic)          -> bool (false: was not subscribed)
//   (resume_atom, token, subject, session actor, last_seq) -> resume_outcome
//   (session_user_atom, subject, device_id, session actor)         a session says who it is
// and to a session actor: (push_atom, std::string frame), one event frame to send, and
// (end_session_atom, std::string reason): close the connection (1008), its user logged out or
// its device was revoked. The router sends it for every registered session an ending event
// names (see session_ending below), after the event's own push to that session.
using client_event_atom = caf::atom_constant<caf::atom("cl_event")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsubscr")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using push_atom = caf::atom_constant<caf::atom("ws_push")>;
using session_user_atom = caf::atom_constant<caf::atom("sess_user")>;
using end_session_atom = caf::atom_constant<caf::atom("sess_end")>;

// Which sessions an identity event ends: the user's sessions on one device, or all of them.
//   identity.device.revoked  {device_id}                 -> that device's sessions
//   identity.user.logged_out {device_id, everywhere}     -> that device's, or every session
struct session_ending {
  bool every_device = false;
  std::string device_id;
  std::string reason;  // the close frame's reason text
};
std::optional<session_ending> session_ending_for(const std::string& type, const boost::json::object& body);

struct subscription_limits {
  std::size_t max_events = 256;            // kept per session for replay
  std::size_t max_bytes = 256 * 1024;      // of kept frame text per session
  std::size_t max_topics = 32;             // per session; more is bad_request
  std::chrono::milliseconds detached_ttl{120'000};  // a disconnected session's events are kept this long
};

// The router: owns one subscription actor per session (linked: a router crash ends them, and
// the clients resync), indexes them by user for fan-out, and by resume token. Events whose
// body is not a JSON object are dropped with a warning.
caf::behavior subscription_router(caf::event_based_actor* self, subscription_limits limits);

// The router as a permanent worker child of the gateway's supervisor; `on_started` gets its
// handle each time it (re)starts (the gateway publishes it to its sessions).
sup::child_spec subscription_router_child(subscription_limits limits,
                                          std::function<void(const caf::actor&)> on_started);

}  // namespace superapp::gateway
