// The WebSocket transport: listener, session (plain or TLS), the link between a connection and
// its session actor, and the session actor itself. One TU: Beast and CAF together cost ~10 s.
#include "gateway/ws/ws_listener.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <type_traits>

#include "gateway/net/listener_core.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/metrics.hpp"

namespace superapp::ws {
class session_link;
}

// Local only: the link never crosses a node boundary (CAF-0.17-NOTES section 9).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<superapp::ws::session_link>)

namespace superapp::ws {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

using ws_frame_atom = caf::atom_constant<caf::atom("ws_frame")>;
using ws_closed_atom = caf::atom_constant<caf::atom("ws_closed")>;
using ws_start_atom = caf::atom_constant<caf::atom("ws_start")>;

constexpr std::string_view ws_path = "/ws";
constexpr std::string_view server_name = "superapp-gateway";
constexpr std::size_t max_header_bytes = 8 * 1024;
// Plain HTTP connections (partner APIs, webhooks) beyond max_sessions before accept closes them.
constexpr std::size_t extra_http_connections = 256;

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // catalogue texts have none; be safe
    out += c;
  }
  return out;
}

http_response error_response(unsigned status, platform_errc code) {
  const auto d = describe(code);
  http_response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":\"" + json_escape(d.wire_code) + "\",\"message\":\"" +
           json_escape(d.message) + "\"}}";
  return r;
}

// The transport's figures, kept as the node's metrics (Prometheus via the admin /metrics).
struct shared_counters {
  explicit shared_counters(metrics::registry& r)
      : sessions_open_gauge(r.add_gauge("superapp_gateway_sessions_open",
                                        "WebSocket sessions open on this node")),
        sessions_total(r.add_counter("superapp_gateway_sessions_total",
                                     "WebSocket sessions accepted since start")),
        rejected(r.add_counter("superapp_gateway_sessions_rejected_total",
                               "Upgrades answered 503 because max_sessions were open")),
        closed_full(r.add_counter("superapp_gateway_sessions_closed_total", closed_help,
                                  {{"reason", "outbound_full"}})),
        closed_keepalive(r.add_counter("superapp_gateway_sessions_closed_total", closed_help,
                                       {{"reason", "keepalive"}})),
        closed_crash(r.add_counter("superapp_gateway_sessions_closed_total", closed_help,
                                   {{"reason", "actor_crash"}})),
        high_water_gauge(r.add_gauge("superapp_gateway_outbound_queue_high_water_bytes",
                                     "The most bytes any one session had queued to send")) {}

  static constexpr std::string_view closed_help =
      "Sessions the gateway closed, by reason: outbound_full (1013, the client did not read), "
      "keepalive (no pong), actor_crash (1011)";

  // The exact count admits or refuses an upgrade; the gauge follows it for operators.
  std::atomic<std::uint64_t> sessions_open{0};
  metrics::gauge sessions_open_gauge;
  metrics::counter sessions_total;
  metrics::counter rejected;
  metrics::counter closed_full;
  metrics::counter closed_keepalive;
  metrics::counter closed_crash;
  std::atomic<std::uint64_t> high_water_bytes{0};
  metrics::gauge high_water_gauge;

  bool try_open(std::uint64_t max_sessions) {
    if (sessions_open.fetch_add(1) >= max_sessions) {
      sessions_open.fetch_sub(1);
      rejected.increment();
      return false;
    }
    sessions_open_gauge.add(1);
    sessions_total.increment();
    return true;
  }
  void closed() {
    sessions_open.fetch_sub(1);
    sessions_open_gauge.sub(1);
  }
  void note_queued(std::uint64_t bytes) {
    auto seen = high_water_bytes.load(std::memory_order_relaxed);
    while (bytes > seen && !high_water_bytes.compare_exchange_weak(seen, bytes)) {
    }
    if (bytes > seen) high_water_gauge.set(static_cast<std::int64_t>(bytes));
  }
};

bool is_orderly_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal ||
         reason == caf::exit_reason::user_shutdown || reason == caf::exit_reason::unreachable;
}

}  // namespace

// What a link may ask of its connection; every call runs on the connection's strand.
class session_base : public listener::connection,
                     public std::enable_shared_from_this<session_base> {
 public:
  virtual void actor_attached(caf::actor actor) = 0;
  virtual void write_text(std::string frame) = 0;
  virtual void request_close(std::uint16_t code, std::string reason, bool drop_queue) = 0;
  virtual void resume_reading() = 0;
};

// The thin, thread-safe bridge between one connection (io threads) and its session actor.
// Byte and frame counts are reserved here, on the sender's thread, before anything is posted:
// that is what bounds memory when the client stops reading.
class session_link final : public outbound {
 public:
  session_link(session_context context, const ws_config& config, std::shared_ptr<listener::io_gate> gate,
               std::shared_ptr<shared_counters> counters)
      : context_(std::move(context)),
        max_bytes_(config.max_outbound_bytes),
        max_frames_(config.max_outbound_frames),
        max_inflight_(config.max_inbound_frames_in_flight),
        gate_(std::move(gate)),
        counters_(std::move(counters)) {}

  // Before the link is shared with another thread.
  void bind(std::weak_ptr<session_base> session) { session_ = std::move(session); }
  const session_context& context() const { return context_; }

  bool send_text(std::string frame) override {
    if (closing_.load(std::memory_order_acquire)) return false;
    const auto size = frame.size();
    const auto bytes = queued_bytes_.fetch_add(size) + size;
    const auto frames = queued_frames_.fetch_add(1) + 1;
    if (bytes > max_bytes_ || frames > max_frames_) {
      queued_bytes_.fetch_sub(size);
      queued_frames_.fetch_sub(1);
      if (!closing_.exchange(true)) {
        counters_->closed_full.increment();
        post([](session_base& s) {
          s.request_close(close_code::try_again_later, "try again later", true);
        });
      }
      return false;
    }
    counters_->note_queued(bytes);
    post([frame = std::move(frame)](session_base& s) mutable { s.write_text(std::move(frame)); });
    return true;
  }

  void close(std::uint16_t code, std::string reason) override {
    if (closing_.exchange(true)) return;
    post([code, reason = std::move(reason)](session_base& s) mutable {
      s.request_close(code, std::move(reason), false);
    });
  }

  std::size_t queued_bytes() const override { return queued_bytes_.load(); }

  // -- io side --------------------------------------------------------------------------------
  void mark_closing() { closing_.store(true, std::memory_order_release); }
  void written(std::size_t bytes) {
    queued_bytes_.fetch_sub(bytes);
    queued_frames_.fetch_sub(1);
  }
  // One more frame handed to the actor; false when the reader must pause until frame_handled.
  bool take_inbound() { return inflight_.fetch_add(1) + 1 < max_inflight_; }
  void session_gone() {
    caf::actor actor;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      gone_ = true;
      actor = caf::actor_cast<caf::actor>(actor_);
    }
    if (actor) caf::anon_send(actor, ws_closed_atom::value);
  }

  // -- actor side -----------------------------------------------------------------------------
  void attach(const caf::actor& actor) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (!gone_) actor_ = actor.address();
    }
    if (!actor_) return caf::anon_send(actor, ws_closed_atom::value);
    post([actor](session_base& s) { s.actor_attached(actor); });
  }
  void frame_handled() {
    // Only the decrement that leaves the limit can find the reader paused.
    if (inflight_.fetch_sub(1) == max_inflight_) post([](session_base& s) { s.resume_reading(); });
  }
  void actor_down(const caf::error& reason) {
    if (closing_.exchange(true)) return;
    if (is_orderly_exit(reason)) {
      const bool shutdown = reason == caf::exit_reason::user_shutdown;
      post([shutdown](session_base& s) {
        s.request_close(shutdown ? close_code::going_away : close_code::normal,
                        shutdown ? "going away" : "", false);
      });
      return;
    }
    counters_->closed_crash.increment();
    post([](session_base& s) { s.request_close(close_code::internal_error, "internal error", false); });
  }
  // sessions_sup did not start an actor (overloaded, shutting down, no answer in time).
  void start_failed() {
    if (closing_.exchange(true)) return;
    post([](session_base& s) {
      s.request_close(close_code::try_again_later, "try again later", true);
    });
  }

 private:
  template <class F>
  void post(F f) {
    gate_->run([&] {
      if (auto s = session_.lock()) {
        auto executor = s->executor();
        net::post(executor, [s = std::move(s), f = std::move(f)]() mutable { f(*s); });
      }
    });
  }

  const session_context context_;
  const std::size_t max_bytes_;
  const std::size_t max_frames_;
  const std::size_t max_inflight_;
  std::shared_ptr<listener::io_gate> gate_;
  std::shared_ptr<shared_counters> counters_;
  std::weak_ptr<session_base> session_;
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<std::size_t> queued_frames_{0};
  std::atomic<std::size_t> inflight_{0};
  std::atomic<bool> closing_{false};
  std::mutex mutex_;
  bool gone_ = false;
  caf::actor_addr actor_;  // weak: the actor holds the link, so a strong handle would be a cycle
};

namespace {

// The session actor: one per connection, a temporary child of sessions_sup.
caf::behavior session_actor(caf::event_based_actor* self, std::shared_ptr<session_link> link,
                            session_handler_factory factory) {
  self->attach_functor([link](const caf::error& reason) { link->actor_down(reason); });
  link->attach(caf::actor_cast<caf::actor>(self));
  session_handler handler;
  try {
    handler = factory(self, link->context(), link);
  } catch (const std::exception& e) {
    // Throwing out of the spawn would run in (and crash) the supervisor; end only this actor.
    spdlog::error("ws session {}: handler factory failed: {}", link->context().session_id,
                  e.what());
    self->quit(caf::sec::runtime_error);
    return {};
  }
  SUPERAPP_ASSERT(handler.on_text);
  caf::message_handler core{
      [link, on_text = std::move(handler.on_text)](ws_frame_atom, std::string& frame) {
        on_text(std::move(frame));
        link->frame_handled();
      },
      [self](ws_closed_atom) { self->quit(); }};
  if (handler.extra) return core.or_else(handler.extra);
  return core;
}

// Asks sessions_sup for a session actor on behalf of the io side, which cannot wait for a reply.
caf::behavior session_starter(caf::event_based_actor* self, caf::actor sessions_sup,
                              std::int64_t timeout_ms) {
  return {[self, sessions_sup, timeout_ms](ws_start_atom, std::shared_ptr<session_link>& link) {
    self->request(sessions_sup, std::chrono::milliseconds(timeout_ms),
                  sup::start_child_atom::value, caf::make_message(link))
        .then([](const caf::actor&) {},  // the actor attaches itself as it starts
              [link](caf::error&) { link->start_failed(); });
  }};
}

}  // namespace

sup::supervisor_spec sessions_supervisor_spec(session_handler_factory factory,
                                              std::size_t max_sessions, std::string name) {
  SUPERAPP_ASSERT(factory);
  sup::child_spec child;
  child.id = "session";
  child.restart = sup::restart_type::temporary;
  child.shutdown_timeout = std::chrono::milliseconds(1000);
  child.start = [factory = std::move(factory)](caf::local_actor& parent,
                                               const caf::message& args) -> caf::expected<caf::actor> {
    if (!args.match_elements<std::shared_ptr<session_link>>())
      return make_error(platform_errc::invalid_argument);
    return sup::spawn_counted(parent, session_actor,
                              args.get_as<std::shared_ptr<session_link>>(0), factory);
  };
  sup::supervisor_spec spec;
  spec.name = std::move(name);
  spec.strategy_kind = sup::strategy::simple_one_for_one;
  spec.children.push_back(std::move(child));
  spec.max_dynamic_children = max_sessions;
  return spec;
}

// -- listener --------------------------------------------------------------------------------

class ws_listener::impl {
 public:
  template <bool Tls>
  class session;

  impl(ws_config config, caf::actor_system& sys, caf::actor sessions_sup, http_handler on_http,
       metrics::registry* registry)
      : config_(std::move(config)),
        sys_(sys),
        sessions_sup_(std::move(sessions_sup)),
        on_http_(std::move(on_http)),
        own_metrics_(registry ? nullptr : std::make_unique<metrics::registry>()),
        counters_(std::make_shared<shared_counters>(registry ? *registry : *own_metrics_)),
        core_(listener::listener_options{.name = "ws listener",
                                         .bind_address = config_.bind_address,
                                         .port = config_.port,
                                         .io_threads = config_.io_threads,
                                         .max_connections =
                                             config_.max_sessions + extra_http_connections,
                                         .stop_grace_ms = config_.stop_grace_ms},
              [this](std::uint64_t id, tcp::socket socket) { return make_session(id, std::move(socket)); }) {
    SUPERAPP_ASSERT(config_.max_frame_bytes > 0);
    SUPERAPP_ASSERT(config_.max_outbound_frames > 0 && config_.max_outbound_bytes > 0);
    SUPERAPP_ASSERT(config_.max_inbound_frames_in_flight > 0);
    SUPERAPP_ASSERT(config_.ping_interval_ms > 0 && config_.pong_timeout_ms > 0);
    SUPERAPP_ASSERT(config_.idle_timeout_ms > 0 && config_.handshake_timeout_ms > 0);
    SUPERAPP_ASSERT(config_.tls_cert_path.empty() == config_.tls_key_path.empty());
    SUPERAPP_ASSERT(sessions_sup_);
  }
  ~impl() { stop(); }

  caf::expected<ws_endpoint> start();
  void stop();
  ws_stats stats() const {
    ws_stats s;
    s.sessions_open = counters_->sessions_open.load();
    s.sessions_total = counters_->sessions_total.value();
    s.rejected_over_max_sessions = counters_->rejected.value();
    s.closed_outbound_full = counters_->closed_full.value();
    s.closed_keepalive = counters_->closed_keepalive.value();
    s.closed_actor_crash = counters_->closed_crash.value();
    s.outbound_queue_high_water_bytes = counters_->high_water_bytes.load();
    return s;
  }

 private:
  std::shared_ptr<listener::connection> make_session(std::uint64_t id, tcp::socket socket);

  ws_config config_;
  caf::actor_system& sys_;
  caf::actor sessions_sup_;
  http_handler on_http_;
  std::unique_ptr<metrics::registry> own_metrics_;  // when the node gave none
  std::shared_ptr<shared_counters> counters_;
  caf::actor starter_;

  std::optional<ssl::context> tls_;
  bool start_called_ = false;
  // Declared last: its stop() destroys the sessions still queued in its io_context, and their
  // destructors touch the members above.
  listener::listener_core core_;
};

template <bool Tls>
class ws_listener::impl::session final : public session_base {
  using next_layer = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  session(impl& owner, std::uint64_t id, tcp::socket&& socket)
    requires(!Tls)
      : owner_(owner), id_(id), ws_(std::move(socket)), timer_(ws_.get_executor()),
        pong_timer_(ws_.get_executor()) {}
  session(impl& owner, std::uint64_t id, tcp::socket&& socket, ssl::context& tls)
    requires(Tls)
      : owner_(owner), id_(id), ws_(std::move(socket), tls), timer_(ws_.get_executor()),
        pong_timer_(ws_.get_executor()) {}

  ~session() override {
    if (counted_) owner_.counters_->closed();
    if (link_) link_->session_gone();
    owner_.core_.forget(id_);
  }

  net::any_io_executor executor() override { return ws_.get_executor(); }

  void start() override {
    beast::get_lowest_layer(ws_).expires_after(ms(owner_.config_.handshake_timeout_ms));
    if constexpr (Tls) {
      ws_.next_layer().async_handshake(ssl::stream_base::server,
                                       [self = me()](beast::error_code ec) {
                                         if (ec) return self->finish();
                                         self->read_http();
                                       });
    } else {
      read_http();
    }
  }

  void begin_shutdown() override {
    shutting_down_ = true;
    if (phase_ == phase::open) return request_close(close_code::going_away, "going away", false);
    if (phase_ != phase::closing) finish();
  }

  void actor_attached(caf::actor actor) override {
    if (phase_ != phase::waiting_actor) {
      caf::anon_send(actor, ws_closed_atom::value);
      return;
    }
    auto keep = std::move(pinned_);
    actor_ = std::move(actor);
    phase_ = phase::open;
    last_frame_at_ = steady::now();
    arm_tick(owner_.config_.ping_interval_ms);
    read_frame();
  }

  void write_text(std::string frame) override {
    if (phase_ != phase::open && phase_ != phase::waiting_actor) {
      link_->written(frame.size());
      return;
    }
    queue_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void request_close(std::uint16_t code, std::string reason, bool drop_queue) override {
    if (phase_ == phase::closing || phase_ == phase::closed) return;
    if (phase_ != phase::open && phase_ != phase::waiting_actor) return finish();
    phase_ = phase::closing;
    link_->mark_closing();
    close_reason_ = {};
    close_reason_.code = code;
    close_reason_.reason = reason.substr(0, close_reason_.reason.max_size());
    close_pending_ = true;
    if (drop_queue) {
      // The frame being written stays: Beast owns its buffer until the write completes.
      const std::size_t keep = writing_ && !queue_.empty() ? 1 : 0;
      while (queue_.size() > keep) {
        link_->written(queue_.back().size());
        queue_.pop_back();
      }
    }
    if (actor_) caf::anon_send(actor_, ws_closed_atom::value);
    pong_timer_.cancel();
    // A peer that never completes the close handshake (or never reads) is cut after this.
    arm_tick(owner_.config_.handshake_timeout_ms);
    if (!writing_) write_next();
    if (paused_) {
      paused_ = false;
      read_frame();  // frames are discarded from now on, but the close reply must be read
    }
  }

  void resume_reading() override {
    if (!paused_) return;
    paused_ = false;
    read_frame();
  }

 private:
  enum class phase { http, awaiting_http, waiting_actor, open, closing, closed };

  static std::chrono::milliseconds ms(std::int64_t n) { return std::chrono::milliseconds(n); }
  std::shared_ptr<session> me() { return std::static_pointer_cast<session>(shared_from_this()); }

  // -- plain HTTP and the upgrade ----------------------------------------------------------------

  void read_http() {
    if (shutting_down_) return finish();
    phase_ = phase::http;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser_->body_limit(owner_.config_.max_http_body_bytes);
    beast::get_lowest_layer(ws_).expires_after(ms(owner_.config_.handshake_timeout_ms));
    http::async_read(ws_.next_layer(), buffer_, *parser_,
                     [self = me()](beast::error_code ec, std::size_t) { self->on_http(ec); });
  }

  void on_http(beast::error_code ec) {
    if (phase_ != phase::http) return;
    if (ec == http::error::header_limit || ec == http::error::body_limit)
      return respond(error_response(413, platform_errc::payload_too_large), false);
    if (ec) return finish();
    request_ = parser_->release();
    parser_.reset();
    std::string_view target{request_.target().data(), request_.target().size()};
    const auto path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(request_)) {
      if (path != ws_path) return respond(error_response(404, platform_errc::not_found), false);
      if (owner_.config_.draining && owner_.config_.draining->load(std::memory_order_relaxed))
        return respond(error_response(503, platform_errc::unavailable), false);
      if (!owner_.counters_->try_open(owner_.config_.max_sessions))
        return respond(error_response(503, platform_errc::overloaded), false);
      counted_ = true;
      return accept_upgrade();
    }
    if (!owner_.on_http_) return respond(error_response(404, platform_errc::not_found), true);
    call_http_handler();
  }

  http_request to_request() {
    http_request out;
    out.method = std::string{request_.method_string()};
    out.target = std::string{request_.target()};
    for (const auto& field : request_)
      out.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
    out.body = std::move(request_.body());
    out.remote_address = remote_address();
    return out;
  }

  std::string remote_address() {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    return ec ? std::string{} : ep.address().to_string();
  }

  void call_http_handler() {
    phase_ = phase::awaiting_http;
    const auto request_id = ++http_request_id_;
    beast::get_lowest_layer(ws_).expires_never();
    timer_.expires_after(ms(owner_.config_.http_handler_timeout_ms));
    timer_.async_wait([self = me(), request_id](beast::error_code ec) {
      if (!ec) self->on_http_answer(request_id, error_response(504, platform_errc::timeout));
    });
    std::weak_ptr<session> who = me();
    auto gate = owner_.core_.gate();
    owner_.on_http_(to_request(), [who, gate, request_id](http_response response) {
      gate->run([&] {
        if (auto s = who.lock()) {
          auto executor = s->executor();
          net::post(executor, [s = std::move(s), request_id, response = std::move(response)]() mutable {
            s->on_http_answer(request_id, std::move(response));
          });
        }
      });
    });
  }

  void on_http_answer(std::uint64_t request_id, http_response response) {
    if (phase_ != phase::awaiting_http || request_id != http_request_id_) return;
    timer_.cancel();
    respond(std::move(response), request_.keep_alive());
  }

  void respond(http_response answer, bool keep_alive) {
    response_ = {};
    response_.version(request_.version() == 10 ? 10 : 11);
    response_.result(answer.status);
    response_.set(http::field::server, server_name);
    response_.set(http::field::content_type, answer.content_type);
    response_.set(http::field::cache_control, "no-store");
    for (auto& [name, value] : answer.headers) response_.set(name, value);
    response_.body() = std::move(answer.body);
    response_.keep_alive(keep_alive && !shutting_down_);
    response_.prepare_payload();
    phase_ = phase::awaiting_http;
    http_request_id_++;  // a late handler answer must not write over this one
    beast::get_lowest_layer(ws_).expires_after(ms(owner_.config_.handshake_timeout_ms));
    http::async_write(ws_.next_layer(), response_,
                      [self = me()](beast::error_code ec, std::size_t) {
                        if (ec || !self->response_.keep_alive()) {
                          beast::error_code ignored;
                          beast::get_lowest_layer(self->ws_).socket().shutdown(
                              tcp::socket::shutdown_send, ignored);
                          return self->finish();
                        }
                        self->read_http();
                      });
  }

  void accept_upgrade() {
    phase_ = phase::waiting_actor;
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = ms(owner_.config_.handshake_timeout_ms);
    timeouts.idle_timeout = websocket::stream_base::none();  // our own keepalive does this
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& r) { r.set(http::field::server, server_name); }));
    ws_.read_message_max(owner_.config_.max_frame_bytes);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) {
        awaiting_pong_ = false;
        pong_timer_.cancel();
      }
    });
    ws_.async_accept(request_, [self = me()](beast::error_code ec) { self->on_upgraded(ec); });
  }

  void on_upgraded(beast::error_code ec) {
    if (ec) return finish();
    session_context context;
    context.session_id = id_;
    context.remote_address = remote_address();
    beast::error_code ignored;
    context.remote_port = beast::get_lowest_layer(ws_).socket().remote_endpoint(ignored).port();
    context.target = std::string{request_.target()};
    context.tls = Tls;
    for (const auto& field : request_)
      context.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
    request_ = {};  // an idle session keeps nothing of its upgrade request
    link_ = std::make_shared<session_link>(std::move(context), owner_.config_, owner_.core_.gate(),
                                           owner_.counters_);
    link_->bind(weak_from_this());
    if (shutting_down_) return request_close(close_code::going_away, "going away", false);
    // The actor attaches itself (actor_attached) once it runs; sessions_sup may refuse, and
    // then the starter reports start_failed. Until then nothing is read, so no pending
    // operation keeps this session alive: it keeps itself.
    pinned_ = me();
    caf::anon_send(owner_.starter_, ws_start_atom::value, link_);
  }

  // -- frames ------------------------------------------------------------------------------------

  void read_frame() {
    ws_.async_read(buffer_, [self = me()](beast::error_code ec, std::size_t bytes) {
      self->on_frame(ec, bytes);
    });
  }

  void on_frame(beast::error_code ec, std::size_t bytes) {
    if (ec) return finish();  // Beast already answered a close, or sent 1009 for a big frame
    if (phase_ != phase::open) {
      buffer_.consume(bytes);
      if (phase_ == phase::closing) read_frame();
      return;
    }
    if (!ws_.got_text()) {
      buffer_.consume(bytes);
      request_close(close_code::unsupported_data, "binary frames are not supported", false);
      return;
    }
    last_frame_at_ = steady::now();
    auto frame = beast::buffers_to_string(buffer_.data());
    buffer_.consume(bytes);
    caf::anon_send(actor_, ws_frame_atom::value, std::move(frame));
    if (!link_->take_inbound()) {
      paused_ = true;  // the actor is behind: let TCP push back on the client
      return;
    }
    read_frame();
  }

  void write_next() {
    if (writing_ || phase_ == phase::closed) return;
    if (close_pending_ && queue_.empty()) {
      close_pending_ = false;
      writing_ = true;
      ws_.async_close(close_reason_, [self = me()](beast::error_code) {
        self->writing_ = false;
        self->finish();
      });
      return;
    }
    if (ping_pending_) {
      ping_pending_ = false;
      writing_ = true;
      ws_.async_ping({}, [self = me()](beast::error_code ec) {
        self->writing_ = false;
        if (ec) return self->finish();
        self->write_next();
      });
      return;
    }
    if (queue_.empty()) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    [self = me()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      self->link_->written(self->queue_.front().size());
                      self->queue_.pop_front();
                      if (ec) return self->finish();
                      self->write_next();
                    });
  }

  // -- keepalive, idle and close deadlines -------------------------------------------------------

  void arm_tick(std::int64_t after_ms) {
    timer_.expires_after(ms(after_ms));
    timer_.async_wait([self = me()](beast::error_code ec) {
      if (!ec) self->on_tick();
    });
  }

  void on_tick() {
    if (phase_ == phase::closing) return finish();  // the close handshake ran out of time
    if (phase_ != phase::open) return;
    if (steady::now() - last_frame_at_ >= ms(owner_.config_.idle_timeout_ms))
      return request_close(close_code::normal, "idle timeout", false);
    if (!awaiting_pong_) {
      awaiting_pong_ = true;
      ping_pending_ = true;
      pong_timer_.expires_after(ms(owner_.config_.pong_timeout_ms));
      pong_timer_.async_wait([self = me()](beast::error_code ec) {
        if (!ec) self->on_pong_timeout();
      });
      write_next();
    }
    arm_tick(owner_.config_.ping_interval_ms);
  }

  void on_pong_timeout() {
    if (phase_ != phase::open || !awaiting_pong_) return;
    if (paused_) {
      // Control frames are only seen while reading; our own back-pressure is no sign of death.
      awaiting_pong_ = false;
      return;
    }
    owner_.counters_->closed_keepalive.increment();
    finish();  // a dead peer cannot take part in a close handshake
  }

  void finish() {
    auto keep = std::move(pinned_);  // released when this function returns
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    if (link_) link_->mark_closing();
    timer_.cancel();
    pong_timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
    if (actor_) caf::anon_send(actor_, ws_closed_atom::value);
    actor_ = nullptr;
  }

  impl& owner_;
  const std::uint64_t id_;
  websocket::stream<next_layer> ws_;
  beast::flat_buffer buffer_;
  net::steady_timer timer_;  // ping interval, then the close deadline; HTTP handler deadline
  net::steady_timer pong_timer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  std::shared_ptr<session_link> link_;
  std::shared_ptr<session> pinned_;  // only while waiting for the session actor
  caf::actor actor_;
  std::deque<std::string> queue_;
  websocket::close_reason close_reason_;
  steady::time_point last_frame_at_{};
  std::uint64_t http_request_id_ = 0;
  phase phase_ = phase::http;
  bool counted_ = false;
  bool writing_ = false;
  bool paused_ = false;
  bool close_pending_ = false;
  bool ping_pending_ = false;
  bool awaiting_pong_ = false;
  bool shutting_down_ = false;
};

caf::expected<ws_endpoint> ws_listener::impl::start() {
  SUPERAPP_ASSERT(!start_called_);  // start() is called once
  start_called_ = true;
  beast::error_code ec;
  if (!config_.tls_cert_path.empty()) {
    tls_.emplace(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                      ssl::context::no_tlsv1_1);
    tls_->use_certificate_chain_file(config_.tls_cert_path, ec);
    if (!ec) tls_->use_private_key_file(config_.tls_key_path, ssl::context::pem, ec);
    if (ec) {
      spdlog::error("ws listener: cannot load TLS certificate {} / key {}: {}",
                    config_.tls_cert_path, config_.tls_key_path, ec.message());
      tls_.reset();
      return make_error(platform_errc::start_failed);
    }
  }
  // The starter exists before the first accept can need it.
  starter_ = sys_.spawn(session_starter, sessions_sup_, config_.actor_start_timeout_ms);
  auto bound = core_.start();
  if (!bound) {
    caf::anon_send_exit(starter_, caf::exit_reason::user_shutdown);
    starter_ = nullptr;
    return std::move(bound.error());
  }
  if (tls_) spdlog::info("ws listener on port {} speaks TLS only", bound->port());
  return ws_endpoint{bound->address().to_string(), bound->port()};
}

std::shared_ptr<listener::connection> ws_listener::impl::make_session(std::uint64_t id,
                                                                      tcp::socket socket) {
  if (tls_) return std::make_shared<session<true>>(*this, id, std::move(socket), *tls_);
  return std::make_shared<session<false>>(*this, id, std::move(socket));
}

void ws_listener::impl::stop() {
  // Sessions tell their actors they are gone as the core destroys them; the starter goes last.
  core_.stop();
  if (starter_) caf::anon_send_exit(starter_, caf::exit_reason::user_shutdown);
  starter_ = nullptr;
}

ws_listener::ws_listener(ws_config config, caf::actor_system& sys, caf::actor sessions_sup,
                         http_handler on_http, metrics::registry* registry)
    : impl_(std::make_unique<impl>(std::move(config), sys, std::move(sessions_sup),
                                   std::move(on_http), registry)) {}

ws_listener::~ws_listener() = default;

caf::expected<ws_endpoint> ws_listener::start() { return impl_->start(); }

void ws_listener::stop() { impl_->stop(); }

ws_stats ws_listener::stats() const { return impl_->stats(); }

}  // namespace superapp::ws
