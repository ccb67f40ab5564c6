// The mobile WebSocket transport: one Beast listener, plain or TLS, upgrading `/ws` to a
// session served by a session actor; every other HTTP request goes to a pluggable handler.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "gateway/ws/ws_session.hpp"

namespace caf {
class actor_system;
}

namespace superapp::metrics {
class registry;
}

namespace superapp::ws {

struct ws_config {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the kernel picks; start() reports it
  std::size_t io_threads = 1;
  // Both set: this listener speaks TLS only (PEM files). Both empty: plain TCP. A node that
  // wants both runs two listeners.
  std::string tls_cert_path;
  std::string tls_key_path;
  std::size_t max_frame_bytes = 64 * 1024;         // inbound; larger closes with 1009
  std::size_t max_outbound_bytes = 1024 * 1024;    // per session; over it closes with 1013
  std::size_t max_outbound_frames = 1024;          // per session; over it closes with 1013
  std::size_t max_inbound_frames_in_flight = 32;   // frames given to the actor, not yet handled
  std::int64_t ping_interval_ms = 30'000;
  std::int64_t pong_timeout_ms = 10'000;           // no pong by then: the peer is cut
  std::int64_t idle_timeout_ms = 300'000;          // no data frame for this long: close 1000
  std::int64_t handshake_timeout_ms = 10'000;      // TLS + HTTP upgrade, and the close handshake
  std::int64_t actor_start_timeout_ms = 5'000;     // sessions_sup must start the actor by then
  std::size_t max_sessions = 10'000;               // WebSocket sessions; beyond: HTTP 503
  std::size_t max_http_body_bytes = 64 * 1024;     // for the http_handler's requests
  std::int64_t http_handler_timeout_ms = 10'000;   // then 504
  std::int64_t stop_grace_ms = 5'000;              // stop() waits this long for closes
  // Set by an operator's "drain": new upgrades get HTTP 503 `unavailable`, open sessions go on.
  std::shared_ptr<const std::atomic<bool>> draining;
};

// A non-WebSocket request, and the answer the node gives to it.
struct http_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs on an io thread and must return at once; `respond` may be called later from any thread
// (an actor's). Only the first answer within http_handler_timeout_ms counts. Unset: 404 JSON.
using http_respond = std::function<void(http_response)>;
using http_handler = std::function<void(http_request request, http_respond respond)>;

struct ws_endpoint {
  std::string address;
  std::uint16_t port = 0;
};

// Counters for operators and tests. Snapshots; each field is read atomically on its own.
struct ws_stats {
  std::uint64_t sessions_open = 0;
  std::uint64_t sessions_total = 0;
  std::uint64_t rejected_over_max_sessions = 0;  // answered 503
  std::uint64_t closed_outbound_full = 0;        // closed with 1013 for a full queue
  std::uint64_t closed_keepalive = 0;            // cut for a missing pong
  std::uint64_t closed_actor_crash = 0;          // closed with 1011
  std::uint64_t outbound_queue_high_water_bytes = 0;  // the most any one session had queued
};

// Lifetime: construct, start() once, stop() (also done by the destructor). `sessions_sup` is a
// supervisor built from sessions_supervisor_spec(); it and `sys` must outlive the listener.
// The figures of stats() also go to `registry` (superapp_gateway_sessions_*), when given; it
// must outlive the listener.
class ws_listener {
 public:
  ws_listener(ws_config config, caf::actor_system& sys, caf::actor sessions_sup,
              http_handler on_http = {}, metrics::registry* registry = nullptr);
  ~ws_listener();
  ws_listener(const ws_listener&) = delete;
  ws_listener& operator=(const ws_listener&) = delete;

  // Binds, listens and starts the io threads. A bad address, a port in use or an unreadable
  // certificate is platform_errc::start_failed (the system's text goes to the log).
  caf::expected<ws_endpoint> start();

  // Stops accepting, sends close 1001 to every session, waits up to stop_grace_ms for them to
  // end, cuts the rest and joins the io threads. Idempotent; not from an io thread.
  void stop();

  ws_stats stats() const;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace superapp::ws
