// The operators' HTTP endpoint of a node: /healthz, /readyz, /metrics, /api/tree, /api/events,
// and the dashboard (/dashboard: page, log-in, live stream, actions, audit; dashboard/API.md).
#pragma once

#include <caf/expected.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/admin/ops_monitor.hpp"
#include "gateway/admin/tree_json.hpp"
#include "supervisors/tree.hpp"

namespace superapp::metrics {
class registry;
}

namespace superapp::admin {

struct admin_config {
  std::string bind_address = "127.0.0.1";  // loopback unless an operator opts in
  std::uint16_t port = 0;                  // 0: the kernel picks; start() reports it
  std::size_t io_threads = 1;
  std::string operator_token;  // required, non-empty; never logged
  // The dashboard's operators (NAME ROLE ARGON2ID-HASH per line; dashboard_auth.hpp). Empty or
  // missing: nobody can log in to the dashboard (the page still loads).
  std::string operators_file;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 4 * 1024;  // log-in and action bodies are small JSON objects
  std::int64_t stream_interval_ms = 1'000;  // the dashboard's live stream: one snapshot each
  std::size_t max_connections = 64;       // more are accepted and closed at once
  std::int64_t read_timeout_ms = 10'000;  // a whole request, and the keep-alive idle time
  std::int64_t write_timeout_ms = 10'000;
  std::int64_t callback_timeout_ms = 3'000;  // fetch_tree/fetch_readiness; then 504
  std::int64_t stop_grace_ms = 2'000;        // stop() waits this long for in-flight requests
};

// What the listener asks the node. fetch_* run on an io thread and must return at once (send a
// message to an actor; never wait for its reply). The completion may be invoked later from any
// thread, typically an actor's; the session posts the answer back onto its strand. Only the
// first answer before callback_timeout_ms counts; late, repeated or post-stop() answers are
// dropped, so a completion that is never invoked costs nothing but a 504.
// GET /api/events?topic=T[&after=EPOCH:SEQ][&limit=N]: a page of a topic on the node's event
// bus, for `superapp admin events tail`. Without `after`, the newest `limit` events; with it,
// up to `limit` events after that position.
struct events_query {
  std::string topic;  // 1..249 of [a-z0-9._-] (a Kafka topic name)
  bool has_after = false;
  std::uint64_t after_epoch = 0;
  std::int64_t after_seq = 0;
  std::int64_t limit = 20;  // 1..1000
};

// The query string of /api/events (without '?'); nullopt and `error` naming the parameter when
// it is malformed.
std::optional<events_query> parse_events_query(std::string_view query, std::string& error);

struct admin_callbacks {
  using tree_completion = std::function<void(caf::expected<sup::tree_node>)>;
  using readiness_completion = std::function<void(caf::expected<readiness_report>)>;
  using events_completion = std::function<void(caf::expected<std::string>)>;  // a JSON body
  std::function<void(tree_completion)> fetch_tree;
  std::function<void(readiness_completion)> fetch_readiness;
  std::function<void(events_query, events_completion)> fetch_events;
  // The dashboard: all nodes' snapshot, this node's entry (for a peer's dashboard), an action,
  // the audit log. Same rules as above: return at once, complete from any thread.
  std::function<void(text_completion)> fetch_snapshot;
  std::function<void(text_completion)> fetch_node_snapshot;
  std::function<void(action_request, action_completion)> run_action;
  std::function<void(std::int64_t, text_completion)> fetch_audit;
};

struct admin_endpoint {
  std::string address;
  std::uint16_t port = 0;
};

// One Beast HTTP/1.1 listener with its own io threads. Lifetime: construct, start() once,
// stop() (also done by the destructor). The registry must outlive the listener.
class admin_listener {
 public:
  admin_listener(admin_config config, admin_callbacks callbacks, metrics::registry& registry);
  ~admin_listener();
  admin_listener(const admin_listener&) = delete;
  admin_listener& operator=(const admin_listener&) = delete;

  // Binds, listens and starts the io threads. A bad address or a port in use is an error value
  // (platform_errc::start_failed; the system's text goes to the log).
  caf::expected<admin_endpoint> start();

  // Closes the acceptor, closes idle keep-alive connections, lets in-flight requests finish
  // for at most stop_grace_ms, then cuts the rest and joins the io threads. Idempotent; must not
  // be called from inside a callback (it joins the thread that runs them).
  void stop();

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace superapp::admin
