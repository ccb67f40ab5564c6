// The admin listener: one acceptor, one session class, strands, and callbacks into the node.
#include "gateway/admin/admin_listener.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include "gateway/admin/dashboard_assets.hpp"
#include "gateway/admin/dashboard_auth.hpp"
#include "gateway/net/listener_core.hpp"
#include "protocols/http/http_client.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::admin {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view server_name = "superapp-admin";
constexpr std::string_view json_type = "application/json";
constexpr std::string_view prometheus_type = "text/plain; version=0.0.4; charset=utf-8";
// After a response that closes the connection we read and discard what the client still sends,
// so closing with unread bytes does not reset the connection before the client reads the reply.
constexpr std::int64_t drain_timeout_ms = 1'000;
constexpr std::size_t max_drain_bytes = 1024 * 1024;

constexpr std::string_view session_cookie = "superapp_dashboard";
constexpr std::string_view csrf_header = "X-CSRF-Token";

enum class route : std::uint8_t {
  healthz,
  readyz,
  metrics,
  tree,
  events,
  node_snapshot,   // GET /api/snapshot: this node's entry, for a peer's dashboard (token)
  peer_action,     // POST /api/action: an action a peer's dashboard forwards (token)
  dashboard_root,  // GET /dashboard: redirect to /dashboard/
  asset,           // GET /dashboard/, /dashboard/app.js, /dashboard/app.css
  login,           // POST /dashboard/api/login
  session_info,    // GET /dashboard/api/session
  logout,          // POST /dashboard/api/logout
  stream,          // GET /dashboard/api/stream (server-sent events)
  action,          // POST /dashboard/api/action
  audit,           // GET /dashboard/api/audit
  unknown
};
constexpr std::size_t route_count = 16;
constexpr std::array<std::string_view, route_count> route_labels = {
    "healthz", "readyz",  "metrics", "tree",   "events", "node_snapshot", "peer_action",
    "dashboard", "asset", "login",   "session", "logout", "stream", "action", "audit", "unknown"};

constexpr std::array<unsigned, 12> counted_statuses = {200, 302, 400, 401, 403, 404,
                                                       405, 413, 429, 500, 503, 504};

route route_of(std::string_view target) {
  target = target.substr(0, target.find('?'));  // query strings are ignored
  if (target == "/healthz") return route::healthz;
  if (target == "/readyz") return route::readyz;
  if (target == "/metrics") return route::metrics;
  if (target == "/api/tree") return route::tree;
  if (target == "/api/events") return route::events;
  if (target == "/api/snapshot") return route::node_snapshot;
  if (target == "/api/action") return route::peer_action;
  if (target == "/dashboard") return route::dashboard_root;
  if (target == "/dashboard/" || target == "/dashboard/app.js" || target == "/dashboard/app.css")
    return route::asset;
  if (target == "/dashboard/api/login") return route::login;
  if (target == "/dashboard/api/session") return route::session_info;
  if (target == "/dashboard/api/logout") return route::logout;
  if (target == "/dashboard/api/stream") return route::stream;
  if (target == "/dashboard/api/action") return route::action;
  if (target == "/dashboard/api/audit") return route::audit;
  return route::unknown;
}

bool is_post_route(route r) {
  return r == route::login || r == route::logout || r == route::action || r == route::peer_action;
}

// What a log-in check found, handed from the hashing thread back to the session.
struct login_outcome {
  bool ok = false;
  std::string name;
  std::string role;
};

// A string field of a JSON object body: absent or null leaves `out` as it is; another type or
// over `max` characters is an error naming the field.
bool string_field(const boost::json::object& o, std::string_view key, std::size_t max,
                  std::string& out, std::string& error) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_string() || v->as_string().size() > max)
    return error = std::string{key} + ": a string of at most " + std::to_string(max) +
                   " characters",
           false;
  out = v->as_string();
  return true;
}

bool int_field(const boost::json::object& o, std::string_view key, std::int64_t& out,
               std::string& error) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_int64()) return error = std::string{key} + ": an integer", false;
  out = v->as_int64();
  return true;
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty() || text.size() > 20) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

using token_digest = std::array<unsigned char, 32>;

// Comparing SHA-256 digests keeps the comparison's time independent of the token's length as
// well as its content.
token_digest digest_of(std::string_view text) {
  token_digest out{};
  unsigned int length = 0;
  const int ok = EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha256(), nullptr);
  SUPERAPP_ASSERT(ok == 1 && length == out.size());
  return out;
}

bool bearer_matches(std::string_view authorization, const token_digest& expected) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return false;
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return false;
  auto token = authorization.substr(scheme.size());
  token = token.substr(0, token.find_last_not_of(' ') + 1);
  const auto digest = digest_of(token);
  return CRYPTO_memcmp(digest.data(), expected.data(), digest.size()) == 0;
}

std::string error_body(std::string_view code, std::string_view message) {
  return boost::json::serialize(
      boost::json::object{{"error", boost::json::object{{"code", code}, {"message", message}}}});
}

std::string error_body(const error_description& d) { return error_body(d.wire_code, d.message); }

}  // namespace

class admin_listener::impl {
 public:
  class session;

  impl(admin_config config, admin_callbacks callbacks, metrics::registry& registry)
      : config_(std::move(config)),
        callbacks_(std::move(callbacks)),
        registry_(registry),
        token_(digest_of(config_.operator_token)),
        core_(listener::listener_options{.name = "admin listener",
                                         .bind_address = config_.bind_address,
                                         .port = config_.port,
                                         .io_threads = config_.io_threads,
                                         .max_connections = config_.max_connections,
                                         .stop_grace_ms = config_.stop_grace_ms},
              [this](std::uint64_t id, tcp::socket socket) {
                return make_session(id, std::move(socket));
              },
              [this] { rejected_.increment(); }) {
    SUPERAPP_ASSERT(!config_.operator_token.empty());
    SUPERAPP_ASSERT(config_.callback_timeout_ms > 0);
    SUPERAPP_ASSERT(config_.stream_interval_ms > 0);
    if (!config_.operators_file.empty())
      operators_ = std::make_unique<operator_directory>(config_.operators_file);
    for (std::size_t i = 0; i < route_count; ++i)
      requests_[i] = registry_.add_counter("superapp_admin_requests_total",
                                           "Requests to the admin listener by route",
                                           {{"route", std::string{route_labels[i]}}});
    for (std::size_t i = 0; i < counted_statuses.size(); ++i)
      responses_[i] = registry_.add_counter("superapp_admin_responses_total",
                                            "Responses of the admin listener by status code",
                                            {{"code", std::to_string(counted_statuses[i])}});
    connections_ =
        registry_.add_gauge("superapp_admin_connections", "Open connections to the admin listener");
    rejected_ =
        registry_.add_counter("superapp_admin_connections_rejected_total",
                              "Connections closed at once because max_connections were open");
  }

  ~impl() { stop(); }

  caf::expected<admin_endpoint> start();
  void stop() {
    core_.stop();
    verify_pool_.join();
  }

 private:
  std::shared_ptr<listener::connection> make_session(std::uint64_t id, tcp::socket socket);

  void count_request(route r) { requests_[static_cast<std::size_t>(r)].increment(); }
  void count_response(unsigned status) {
    for (std::size_t i = 0; i < counted_statuses.size(); ++i)
      if (counted_statuses[i] == status) return responses_[i].increment();
  }

  // A completion for the node: copyable (std::function), holds no strong reference to the
  // session, so a session that timed out or was cut by stop() is simply gone when it fires.
  template <class T>
  std::function<void(caf::expected<T>)> completion_for(
      std::weak_ptr<session> who, std::uint64_t request_id,
      void (session::*on_answer)(std::uint64_t, caf::expected<T>));

  admin_config config_;
  admin_callbacks callbacks_;
  metrics::registry& registry_;
  token_digest token_;
  std::array<metrics::counter, route_count> requests_;
  std::array<metrics::counter, counted_statuses.size()> responses_;
  metrics::gauge connections_;
  metrics::counter rejected_;
  std::unique_ptr<operator_directory> operators_;  // null: no operators file configured
  session_table sessions_;
  // Password checks (Argon2id, ~0.1 s each) run here, never on an io thread.
  net::thread_pool verify_pool_{1};

  // Declared last: its stop() destroys the sessions still queued in its io_context, and their
  // destructors touch the members above.
  listener::listener_core core_;
};

class admin_listener::impl::session final : public listener::connection,
                                             public std::enable_shared_from_this<session> {
 public:
  session(impl& owner, std::uint64_t id, tcp::socket&& socket)
      : owner_(owner),
        id_(id),
        stream_(std::move(socket)),
        buffer_(owner.config_.max_header_bytes + owner.config_.max_body_bytes),
        answer_timer_(stream_.get_executor()),
        stream_timer_(stream_.get_executor()) {
    owner_.connections_.add(1);
  }

  ~session() override {
    owner_.connections_.sub(1);
    owner_.core_.forget(id_);
  }

  net::any_io_executor executor() override { return stream_.get_executor(); }

  void start() override { read_request(); }

  // stop(): idle connections close now; a request in flight finishes with Connection: close.
  void begin_shutdown() override {
    closing_ = true;
    if (phase_ == phase::reading || phase_ == phase::draining) close_now();
    if (phase_ == phase::streaming && !writing_event_) close_now();
  }

  void on_tree(std::uint64_t request_id, caf::expected<sup::tree_node> answer) {
    if (!take_answer(request_id)) return;
    if (current_route_ == route::metrics) {
      auto body = owner_.registry_.render();
      if (answer) metrics::append_tree(*answer, body);
      append_tree_scrape_success(body, static_cast<bool>(answer));
      return respond(http::status::ok, prometheus_type, std::move(body));
    }
    if (!answer) return respond_error(http::status::service_unavailable, answer.error());
    respond(http::status::ok, json_type, boost::json::serialize(to_json(*answer)));
  }

  void on_events(std::uint64_t request_id, caf::expected<std::string> answer) {
    if (!take_answer(request_id)) return;
    if (!answer) return respond_error(http::status::service_unavailable, answer.error());
    respond(http::status::ok, json_type, std::move(*answer));
  }

  void on_readiness(std::uint64_t request_id, caf::expected<readiness_report> answer) {
    if (!take_answer(request_id)) return;
    if (!answer) return respond_error(http::status::service_unavailable, answer.error());
    auto status = all_up(*answer) ? http::status::ok : http::status::service_unavailable;
    respond(status, json_type, boost::json::serialize(to_json(*answer)));
  }

 private:
  enum class phase { reading, awaiting_answer, writing, draining, streaming, closed };
  static constexpr std::int64_t action_timeout_ms = 65'000;  // a subtree's restart may be slow

  void read_request() {
    if (closing_) return close_now();
    phase_ = phase::reading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(owner_.config_.max_header_bytes));
    parser_->body_limit(owner_.config_.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(owner_.config_.read_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (phase_ != phase::reading) return;  // begin_shutdown() closed the socket under us
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted)
      return close_now();
    if (ec == http::error::header_limit || ec == http::error::body_limit ||
        ec == http::error::buffer_overflow) {
      close_after_reply_ = true;
      current_route_ = route::unknown;
      return respond(http::status::payload_too_large, json_type,
                     error_body("invalid_argument", "the request is larger than allowed"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      close_after_reply_ = true;
      current_route_ = route::unknown;
      return respond(http::status::bad_request, json_type,
                     error_body("invalid_argument", "the request is not valid HTTP/1.1"));
    }
    if (ec) return close_now();
    handle(parser_->release());
  }

  void handle(http::request<http::string_body> request) {
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    current_route_ = route_of(request.target());
    owner_.count_request(current_route_);
    if (current_route_ == route::unknown)
      return respond(http::status::not_found, json_type,
                     error_body(describe(platform_errc::not_found)));
    const bool post = is_post_route(current_route_);
    if (request.method() != (post ? http::verb::post : http::verb::get)) {
      allow_ = post ? "POST" : "GET";
      return respond(http::status::method_not_allowed, json_type,
                     error_body("invalid_argument",
                                "this route only answers " + std::string{allow_}));
    }
    if (current_route_ == route::healthz)
      return respond(http::status::ok, json_type, R"({"status":"ok"})");
    if (current_route_ == route::dashboard_root) {
      extra_headers_.push_back({"Location", "/dashboard/"});
      return respond(http::status::found, "text/plain; charset=utf-8", "see /dashboard/\n");
    }
    if (current_route_ == route::asset) return serve_asset(request.target());
    switch (current_route_) {
      case route::login:
        return login(request);
      case route::session_info:
      case route::logout:
      case route::stream:
      case route::action:
      case route::audit:
        return dashboard_api(request);
      default:
        break;
    }
    if (!bearer_matches(request[http::field::authorization], owner_.token_))
      return respond(http::status::unauthorized, json_type,
                     error_body(describe(platform_errc::unauthorized)));
    if (current_route_ == route::events) {
      std::string error;
      auto query = parse_events_query(query_of(request.target()), error);
      if (!query)
        return respond(http::status::bad_request, json_type, error_body("invalid_argument", error));
      if (!owner_.callbacks_.fetch_events) return respond_unavailable();
      const auto request_id = await_answer();
      return owner_.callbacks_.fetch_events(
          std::move(*query),
          owner_.completion_for<std::string>(weak_from_this(), request_id, &session::on_events));
    }
    if (current_route_ == route::node_snapshot) {
      if (!owner_.callbacks_.fetch_node_snapshot) return respond_unavailable();
      const auto request_id = await_answer();
      return owner_.callbacks_.fetch_node_snapshot(text_completion_for(request_id));
    }
    if (current_route_ == route::peer_action) {
      // A peer's dashboard forwards an operator's action; it names the operator and role.
      action_request action;
      std::string error;
      if (!parse_action(request.body(), action, error, true))
        return respond(http::status::bad_request, json_type, error_body("invalid_argument", error));
      return run_action(std::move(action));
    }
    if (current_route_ == route::readyz) {
      if (!owner_.callbacks_.fetch_readiness) return respond_unavailable();
      const auto request_id = await_answer();
      return owner_.callbacks_.fetch_readiness(owner_.completion_for<readiness_report>(
          weak_from_this(), request_id, &session::on_readiness));
    }
    if (!owner_.callbacks_.fetch_tree) return respond_unavailable();
    const auto request_id = await_answer();
    owner_.callbacks_.fetch_tree(
        owner_.completion_for<sup::tree_node>(weak_from_this(), request_id, &session::on_tree));
  }

  // -- the dashboard ---------------------------------------------------------------------------

  void serve_asset(std::string_view target) {
    target = target.substr(0, target.find('?'));
    auto name = target == "/dashboard/" ? std::string_view{"index.html"}
                                        : target.substr(std::string_view{"/dashboard/"}.size());
    const auto* asset = find_dashboard_asset(name);
    if (asset == nullptr)
      return respond(http::status::not_found, json_type,
                     error_body(describe(platform_errc::not_found)));
    // The page runs only its own script and style: no inline code, no other origin, no frames.
    extra_headers_.push_back({"Content-Security-Policy",
                              "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                              "base-uri 'none'; form-action 'self'"});
    extra_headers_.push_back({"X-Content-Type-Options", "nosniff"});
    extra_headers_.push_back({"Referrer-Policy", "no-referrer"});
    respond(http::status::ok, asset->content_type, std::string{asset->body});
  }

  void respond_code(http::status status, std::string_view code, std::string_view message) {
    respond(status, json_type, error_body(code, message));
  }

  // A state-changing request must come from the page itself: no foreign Origin, and the
  // session's CSRF token in the header (a cross-site form cannot set headers).
  bool same_origin(const http::request<http::string_body>& request) const {
    auto origin = request[http::field::origin];
    if (origin.empty()) return true;
    auto host = request[http::field::host];
    return origin == "http://" + std::string{host} || origin == "https://" + std::string{host};
  }

  void login(const http::request<http::string_body>& request) {
    if (!same_origin(request))
      return respond_code(http::status::forbidden, "forbidden", "cross-origin log-in refused");
    boost::system::error_code ec;
    auto body = boost::json::parse(request.body(), ec);
    if (ec || !body.is_object())
      return respond_code(http::status::bad_request, "invalid_argument",
                          "the body must be a JSON object {\"name\", \"password\"}");
    std::string name;
    std::string password;
    std::string error;
    if (!string_field(body.as_object(), "name", 64, name, error) ||
        !string_field(body.as_object(), "password", 1024, password, error))
      return respond_code(http::status::bad_request, "invalid_argument", error);
    if (name.empty() || password.empty())
      return respond_code(http::status::bad_request, "invalid_argument",
                          "name and password are required");
    if (!owner_.sessions_.may_try(name))
      return respond_code(http::status::too_many_requests, "rate_limited",
                          "too many wrong passwords for this name: wait a minute");
    std::optional<operator_account> account;
    if (owner_.operators_) account = owner_.operators_->find(name);
    const auto request_id = await_answer();
    auto done =
        owner_.completion_for<login_outcome>(weak_from_this(), request_id, &session::on_login);
    net::post(owner_.verify_pool_, [account = std::move(account), password = std::move(password),
                                    name, done = std::move(done)]() mutable {
      login_outcome outcome;
      outcome.ok = check_password(account, password);
      outcome.name = name;
      if (outcome.ok) outcome.role = account->role;
      done(std::move(outcome));
    });
  }

  void on_login(std::uint64_t request_id, caf::expected<login_outcome> answer) {
    if (!take_answer(request_id)) return;
    if (!answer) return respond_error(http::status::service_unavailable, answer.error());
    if (!answer->ok) {
      owner_.sessions_.failed(answer->name);
      log::warn("dashboard log-in refused", {{"operator", answer->name}});
      return respond_code(http::status::unauthorized, "unauthorized",
                          "wrong operator name or password");
    }
    auto cookie = owner_.sessions_.open(answer->name, answer->role);
    auto session = owner_.sessions_.find(cookie);
    SUPERAPP_ASSERT(session.has_value());
    log::info("dashboard log-in", {{"operator", answer->name}, {"role", answer->role}});
    extra_headers_.push_back({"Set-Cookie", std::string{session_cookie} + "=" + cookie +
                                                "; HttpOnly; SameSite=Strict; Path=/dashboard"});
    respond(http::status::ok, json_type, session_body(*session));
  }

  static std::string session_body(const dashboard_session& s) {
    return boost::json::serialize(
        boost::json::object{{"name", s.name}, {"role", s.role}, {"csrf", s.csrf}});
  }

  void dashboard_api(const http::request<http::string_body>& request) {
    auto cookie = cookie_value(request[http::field::cookie], session_cookie);
    auto session = owner_.sessions_.find(cookie);
    if (!session)
      return respond_code(http::status::unauthorized, "unauthorized",
                          "log in first (no session, or it ended)");
    if (current_route_ == route::session_info)
      return respond(http::status::ok, json_type, session_body(*session));
    if (current_route_ == route::stream) return start_stream(std::move(cookie));
    if (current_route_ == route::audit) {
      std::int64_t limit = 100;
      auto query = query_of(request.target());
      if (!query.empty()) {
        if (!query.starts_with("limit=") || !parse_number(query.substr(6), limit) || limit < 1 ||
            limit > 500)
          return respond_code(http::status::bad_request, "invalid_argument", "limit: 1 to 500");
      }
      if (!owner_.callbacks_.fetch_audit) return respond_unavailable();
      const auto request_id = await_answer();
      return owner_.callbacks_.fetch_audit(limit, text_completion_for(request_id));
    }
    // logout and action change state.
    if (!same_origin(request) || !same_secret(request[csrf_header], session->csrf)) {
      log::warn("dashboard request refused: CSRF token missing or wrong",
                {{"operator", session->name}});
      return respond_code(http::status::forbidden, "forbidden", "missing or wrong CSRF token");
    }
    if (current_route_ == route::logout) {
      owner_.sessions_.close(cookie);
      extra_headers_.push_back({"Set-Cookie", std::string{session_cookie} +
                                                  "=; HttpOnly; SameSite=Strict; Path=/dashboard; "
                                                  "Max-Age=0"});
      return respond(http::status::ok, json_type, "{}");
    }
    action_request action;
    std::string error;
    if (!parse_action(request.body(), action, error, false))
      return respond_code(http::status::bad_request, "invalid_argument", error);
    action.operator_name = session->name;
    action.role = session->role;
    run_action(std::move(action));
  }

  // The action's fields; `with_operator` (a peer's forward) also reads operator and role.
  static bool parse_action(const std::string& text, action_request& out, std::string& error,
                           bool with_operator) {
    boost::system::error_code ec;
    auto body = boost::json::parse(text, ec);
    if (ec || !body.is_object()) return error = "the body must be a JSON object", false;
    const auto& o = body.as_object();
    if (!string_field(o, "action", 32, out.action, error) ||
        !string_field(o, "node", 256, out.node, error) ||
        !string_field(o, "path", 1024, out.path, error) ||
        !string_field(o, "mode", 16, out.mode, error) ||
        !int_field(o, "delay_ms", out.delay_ms, error) ||
        !int_field(o, "duration_s", out.duration_s, error) ||
        !string_field(o, "transfer_id", 64, out.transfer_id, error) ||
        !string_field(o, "reason", 500, out.reason, error))
      return false;
    if (out.action.empty()) return error = "action is required", false;
    if (with_operator) {
      if (!string_field(o, "operator", 64, out.operator_name, error) ||
          !string_field(o, "role", 16, out.role, error))
        return false;
      if (!valid_operator_name(out.operator_name) || !valid_role(out.role))
        return error = "operator and role are required", false;
      out.node.clear();  // the peer asked this node
    }
    return true;
  }

  void run_action(action_request action) {
    if (!owner_.callbacks_.run_action) return respond_unavailable();
    const auto request_id = await_answer(action_timeout_ms);
    owner_.callbacks_.run_action(
        std::move(action),
        [c = owner_.completion_for<action_result>(weak_from_this(), request_id,
                                                  &session::on_action)](action_result r) {
          c(std::move(r));
        });
  }

  void on_action(std::uint64_t request_id, caf::expected<action_result> answer) {
    if (!take_answer(request_id)) return;
    if (!answer) return respond_error(http::status::service_unavailable, answer.error());
    boost::json::object body;
    if (answer->code.empty()) {
      body = {{"ok", true}, {"audit_id", answer->audit_id}, {"message", answer->message}};
    } else {
      body = {{"error", boost::json::object{{"code", answer->code}, {"message", answer->message}}}};
      if (answer->audit_id != 0) body["audit_id"] = answer->audit_id;
    }
    respond(static_cast<http::status>(answer->status), json_type, boost::json::serialize(body));
  }

  // A JSON document from the node, answered onto this session's strand by `on_answer`.
  text_completion text_completion_for(
      std::uint64_t request_id,
      void (session::*on_answer)(std::uint64_t, caf::expected<std::string>) = &session::on_events) {
    return [c = owner_.completion_for<std::string>(weak_from_this(), request_id, on_answer)](
               std::string text) { c(std::move(text)); };
  }

  // -- server-sent events ----------------------------------------------------------------------

  void start_stream(std::string cookie) {
    if (!owner_.callbacks_.fetch_snapshot) return respond_unavailable();
    owner_.count_response(200);
    phase_ = phase::streaming;
    stream_cookie_ = std::move(cookie);
    stream_response_.emplace();
    auto& h = *stream_response_;
    h.version(version_);
    h.result(http::status::ok);
    h.set(http::field::server, server_name);
    h.set(http::field::content_type, "text/event-stream; charset=utf-8");
    h.set(http::field::cache_control, "no-store");
    h.keep_alive(true);
    h.chunked(true);
    stream_header_.emplace(*stream_response_);
    stream_.expires_after(std::chrono::milliseconds(owner_.config_.write_timeout_ms));
    http::async_write_header(stream_, *stream_header_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec || self->phase_ != phase::streaming) return self->close_now();
                               self->stream_tick();
                             });
  }

  void stream_tick() {
    if (phase_ != phase::streaming || closing_) return close_now();
    if (!owner_.sessions_.find(stream_cookie_))
      return write_event("bye", R"({"reason":"logged_out"})", true);
    const auto id = ++stream_request_id_;
    owner_.callbacks_.fetch_snapshot(text_completion_for(id, &session::on_stream_snapshot));
    // A node that does not answer in time costs this tick, not the stream.
    stream_timer_.expires_after(std::chrono::milliseconds(owner_.config_.callback_timeout_ms));
    stream_timer_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
      if (ec || self->stream_request_id_ != id || self->phase_ != phase::streaming) return;
      ++self->stream_request_id_;  // the late answer is dropped
      self->schedule_tick();
    });
  }

  void on_stream_snapshot(std::uint64_t id, caf::expected<std::string> answer) {
    if (phase_ != phase::streaming || id != stream_request_id_ || writing_event_) return;
    ++stream_request_id_;
    stream_timer_.cancel();
    if (!answer) return schedule_tick();
    write_event("snapshot", *answer, false);
  }

  void write_event(std::string_view name, std::string_view data, bool last) {
    event_text_ = "event: ";
    event_text_ += name;
    event_text_ += "\ndata: ";
    event_text_ += data;  // JSON serialized on one line: no newline inside
    event_text_ += "\n\n";
    writing_event_ = true;
    stream_.expires_after(std::chrono::milliseconds(owner_.config_.write_timeout_ms));
    net::async_write(
        stream_, http::make_chunk(net::buffer(event_text_)),
        [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
          self->writing_event_ = false;
          if (ec || self->closing_) return self->close_now();
          if (last) {
            // The end of the chunked body, then the connection closes.
            return net::async_write(self->stream_, http::make_chunk_last(),
                                    [self](beast::error_code, std::size_t) { self->close_now(); });
          }
          self->stream_.expires_never();
          self->schedule_tick();
        });
  }

  void schedule_tick() {
    stream_timer_.expires_after(std::chrono::milliseconds(owner_.config_.stream_interval_ms));
    stream_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->stream_tick();
    });
  }

  // The node answers on its own thread; until then nothing runs for this connection except
  // the answer timer (the socket's own deadline is off so it cannot race the answer).
  std::uint64_t await_answer(std::int64_t timeout_ms = 0) {
    phase_ = phase::awaiting_answer;
    const auto request_id = ++request_id_;
    stream_.expires_never();
    answer_timer_.expires_after(
        std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : owner_.config_.callback_timeout_ms));
    answer_timer_.async_wait([self = shared_from_this(), request_id](beast::error_code ec) {
      if (!ec) self->on_answer_timeout(request_id);
    });
    return request_id;
  }

  bool take_answer(std::uint64_t request_id) {
    if (phase_ != phase::awaiting_answer || request_id != request_id_) return false;
    answer_timer_.cancel();
    return true;
  }

  void on_answer_timeout(std::uint64_t request_id) {
    if (!take_answer(request_id)) return;
    // A scrape should still see the node's own counters when the tree does not answer: that is
    // when they matter most.
    if (current_route_ == route::metrics) {
      auto body = owner_.registry_.render();
      append_tree_scrape_success(body, false);
      return respond(http::status::ok, prometheus_type, std::move(body));
    }
    respond(http::status::gateway_timeout, json_type, error_body(describe(platform_errc::timeout)));
  }

  static void append_tree_scrape_success(std::string& body, bool success) {
    body +=
        "# HELP superapp_admin_tree_scrape_success 1 if the supervision tree answered this "
        "scrape\n# TYPE superapp_admin_tree_scrape_success gauge\n"
        "superapp_admin_tree_scrape_success ";
    body += success ? "1\n" : "0\n";
  }

  void respond_unavailable() {
    respond(http::status::service_unavailable, json_type,
            error_body(describe(platform_errc::unavailable)));
  }

  void respond_error(http::status status, const caf::error& err) {
    // describe() maps foreign and domain errors to a wire code; their text stays out of replies.
    respond(status, json_type, error_body(describe(err)));
  }

  void respond(http::status status, std::string_view content_type, std::string body) {
    owner_.count_response(static_cast<unsigned>(status));
    response_ = {};
    response_.version(version_);
    response_.result(status);
    response_.set(http::field::server, server_name);
    response_.set(http::field::content_type, content_type);
    response_.set(http::field::cache_control, "no-store");
    if (status == http::status::method_not_allowed) response_.set(http::field::allow, allow_);
    if (status == http::status::unauthorized)
      response_.set(http::field::www_authenticate, R"(Bearer realm="superapp-admin")");
    for (auto& [name, value] : extra_headers_) response_.set(name, value);
    extra_headers_.clear();
    response_.body() = std::move(body);
    response_.keep_alive(keep_alive_ && !close_after_reply_ && !closing_);
    response_.prepare_payload();
    phase_ = phase::writing;
    stream_.expires_after(std::chrono::milliseconds(owner_.config_.write_timeout_ms));
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    // While stopping, the reply is already in the kernel's send buffer: close at once rather
    // than drain, so stop() does not wait on a client that keeps its end open.
    if (ec || closing_) return close_now();
    if (!response_.keep_alive()) return close_gracefully();
    read_request();
  }

  void close_gracefully() {
    phase_ = phase::draining;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(
        std::chrono::milliseconds(std::min(owner_.config_.read_timeout_ms, drain_timeout_ms)));
    drain();
  }

  void drain() {
    stream_.async_read_some(
        net::buffer(drain_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
          self->drained_bytes_ += bytes;
          if (ec || self->phase_ != phase::draining || self->drained_bytes_ > max_drain_bytes)
            return self->close_now();
          self->drain();
        });
  }

  void close_now() {
    phase_ = phase::closed;
    answer_timer_.cancel();
    stream_timer_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  impl& owner_;
  const std::uint64_t id_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  net::steady_timer answer_timer_;
  net::steady_timer stream_timer_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;  // for the next respond()
  std::string_view allow_ = "GET";
  std::string stream_cookie_;
  std::optional<http::response<http::empty_body>> stream_response_;
  std::optional<http::response_serializer<http::empty_body>> stream_header_;
  std::string event_text_;
  std::uint64_t stream_request_id_ = 0;
  bool writing_event_ = false;
  std::array<char, 4096> drain_buffer_{};
  std::size_t drained_bytes_ = 0;
  phase phase_ = phase::reading;
  route current_route_ = route::unknown;
  std::uint64_t request_id_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool close_after_reply_ = false;
  bool closing_ = false;
};

template <class T>
std::function<void(caf::expected<T>)> admin_listener::impl::completion_for(
    std::weak_ptr<session> who, std::uint64_t request_id,
    void (session::*on_answer)(std::uint64_t, caf::expected<T>)) {
  return [gate = core_.gate(), who = std::move(who), request_id,
          on_answer](caf::expected<T> answer) {
    // Onto the session's strand while the io_context exists and the session is alive; nothing
    // here blocks the caller's (actor's) thread.
    gate->run([&] {
      auto target = who.lock();
      if (!target) return;
      auto executor = target->executor();
      net::post(executor, [target = std::move(target), request_id, on_answer,
                           answer = std::move(answer)]() mutable {
        ((*target).*on_answer)(request_id, std::move(answer));
      });
    });
  };
}

std::optional<events_query> parse_events_query(std::string_view query, std::string& error) {
  events_query out;
  bool has_topic = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto value = superapp::http::url_decode(raw);
    if (!value) return error = "a query parameter has a broken %-escape", std::nullopt;
    if (key == "topic") {
      bool ok = !value->empty() && value->size() <= 249 &&
                std::all_of(value->begin(), value->end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                         c == '_' || c == '-';
                });
      if (!ok) return error = "topic: 1 to 249 of a-z 0-9 . _ -", std::nullopt;
      out.topic = std::move(*value);
      has_topic = true;
    } else if (key == "after") {
      auto colon = value->find(':');
      if (colon == std::string::npos ||
          !parse_number(std::string_view{*value}.substr(0, colon), out.after_epoch) ||
          !parse_number(std::string_view{*value}.substr(colon + 1), out.after_seq) ||
          out.after_seq < 0)
        return error = "after: EPOCH:SEQ as given in `next`", std::nullopt;
      out.has_after = true;
    } else if (key == "limit") {
      if (!parse_number(std::string_view{*value}, out.limit) || out.limit < 1 || out.limit > 1000)
        return error = "limit: 1 to 1000", std::nullopt;
    } else {
      return error = "unknown query parameter: " + std::string{key}, std::nullopt;
    }
  }
  if (!has_topic) return error = "topic is required", std::nullopt;
  return out;
}

std::shared_ptr<listener::connection> admin_listener::impl::make_session(std::uint64_t id,
                                                                        tcp::socket socket) {
  return std::make_shared<session>(*this, id, std::move(socket));
}

caf::expected<admin_endpoint> admin_listener::impl::start() {
  auto bound = core_.start();
  if (!bound) return std::move(bound.error());
  return admin_endpoint{bound->address().to_string(), bound->port()};
}

admin_listener::admin_listener(admin_config config, admin_callbacks callbacks,
                               metrics::registry& registry)
    : impl_(std::make_unique<impl>(std::move(config), std::move(callbacks), registry)) {}

admin_listener::~admin_listener() = default;

caf::expected<admin_endpoint> admin_listener::start() { return impl_->start(); }

void admin_listener::stop() { impl_->stop(); }

}  // namespace superapp::admin
