// What a node plugs into a WebSocket session: the session's context, its outbound handle, and
// the per-session handler that runs inside the session actor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/message_handler.hpp>

#include "supervisors/supervisor.hpp"

namespace caf {
class event_based_actor;
}

namespace superapp::ws {

// Close codes this transport sends (RFC 6455 section 7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t unsupported_data = 1003;  // a binary frame
inline constexpr std::uint16_t policy_violation = 1008;  // the user logged out / device revoked
inline constexpr std::uint16_t too_big = 1009;           // a frame over max_frame_bytes
inline constexpr std::uint16_t internal_error = 1011;    // the session actor crashed
inline constexpr std::uint16_t try_again_later = 1013;   // outbound queue full, or no actor
}  // namespace close_code

// Who is on the other end, as the upgrade request showed it. Filters (auth, rate limits) read
// the headers; the transport never interprets them.
struct session_context {
  std::uint64_t session_id = 0;  // unique per listener, never reused
  std::string remote_address;
  std::uint16_t remote_port = 0;
  std::string target;  // path and query of the upgrade request
  bool tls = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The thread-safe way back to the client. Any thread may call it (normally the session
// actor); frames are queued on the connection's strand and written in call order.
class outbound {
 public:
  virtual ~outbound() = default;
  // Queues one text frame. Returns false (and drops the frame) once the connection is closing,
  // or when the frame would take the queue over its byte or frame limit; then the connection
  // is closed with 1013, because a client that does not read must not grow server memory.
  virtual bool send_text(std::string frame) = 0;
  // Sends what is already queued, then a close frame with `code`; later frames are dropped.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // Bytes accepted by send_text and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
};

// One per session, made inside the session actor when it starts.
struct session_handler {
  // Each inbound text frame, in order, on the session actor. It may answer at once through
  // `outbound`, or request a domain's front door and answer from the reply handler later.
  // An exception here ends the actor, and the connection closes with 1011.
  std::function<void(std::string frame)> on_text;
  // Optional: further messages the session actor answers (server pushes, timers).
  caf::message_handler extra;
};

// Called once per session in the session actor's context; `self` stays valid for the actor's
// lifetime, so handlers can capture it and call self->request(...).
using session_handler_factory = std::function<session_handler(
    caf::event_based_actor* self, const session_context& context, std::shared_ptr<outbound> out)>;

// The gateway's `sessions_sup`: simple_one_for_one, one temporary actor per connection (a
// crashed session is not restarted: its connection is gone). Place it in the gateway's tree and
// hand its handle to ws_listener.
sup::supervisor_spec sessions_supervisor_spec(session_handler_factory factory,
                                              std::size_t max_sessions = 100'000,
                                              std::string name = "sessions_sup");

}  // namespace superapp::ws
