// One frame through the gateway: envelope -> op catalogue -> filter chain -> front door -> reply.
#include "gateway/pipeline/session_pipeline.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "protocols/ws/envelope.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::gateway {
namespace {

constexpr std::string_view system_domain = "system";

std::optional<std::string_view> view_of(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return std::string_view{*text};
}

void write_refusal(const session_pipeline::write_fn& write, const ws::request_id& id,
                   const filters::rejection& refused) {
  std::string out;
  std::optional<std::int64_t> retry_after_ms;
  if (refused.retry_after_ms > 0) retry_after_ms = refused.retry_after_ms;
  ws::write_error_reply(out, id, refused.describe(), {}, retry_after_ms);
  write(std::move(out));
}

void write_error(const session_pipeline::write_fn& write, const ws::request_id& id,
                 const caf::error& err) {
  std::string out;
  ws::write_error_reply(out, id, describe(err));
  write(std::move(out));
}

}  // namespace

gateway_services::gateway_services(std::string node, const superapp::clock& clk,
                                   const ws::op_catalogue& catalogue, filters::jwt_policy policy, filters::route_table route_table,
                                   filters::rate_limit_config per_user,
                                   filters::rate_limit_config per_device,
                                   filters::rate_limit_config per_address,
                                   std::array<std::uint32_t, filters::lane_count> node_lane_limits,
                                   sup::front_door_directory_ptr front_doors)
    : node_name(std::move(node)),
      clock(clk),
      ops(catalogue),
      verifier(std::move(policy), keys, clk),
      routes(std::move(route_table)),
      user_limiter(per_user, clk),
      device_limiter(per_device, clk),
      address_limiter(per_address, clk),
      partner_quota(clk),
      lanes(node_lane_limits),
      directory(std::move(front_doors)) {}

filters::filter_result session_pipeline::session_authenticate::apply(
    filters::request_context& ctx) {
  if (ctx.public_op) return std::nullopt;  // sign-up and login come before any token
  auto& claims = owner_.claims_;
  if (!claims || claims->expires_at <= owner_.services_->clock.now()) {
    claims.reset();
    if (!ctx.bearer_token) return filters::rejection{platform_errc::unauthorized, "no bearer token"};
    auto outcome = owner_.services_->verifier.verify(*ctx.bearer_token);
    if (!outcome) return filters::rejection{platform_errc::unauthorized, outcome.failure};
    claims = std::move(outcome.accepted);
  }
  if (auto refused = filters::check_claims(*claims, ctx)) return refused;
  ctx.verified = claims;
  return std::nullopt;
}

session_pipeline::session_pipeline(std::shared_ptr<gateway_services> services, session_info info)
    : services_(std::move(services)),
      info_(std::move(info)),
      lanes_(services_->session_lane_limits),
      authenticate_(*this),
      per_address_(filters::rate_key::source_address, services_->address_limiter),
      per_device_(filters::rate_key::device, services_->device_limiter),
      per_user_(filters::rate_key::user, services_->user_limiter),
      partner_quota_(services_->partner_quota),
      route_(services_->routes, services_->lanes) {
  // Cheapest refusals first: a flood from one address is turned away before any crypto.
  chain_.append(trace_);
  chain_.append(per_address_);
  chain_.append(authenticate_);
  chain_.append(partner_quota_);
  chain_.append(per_device_);
  chain_.append(per_user_);
  chain_.append(route_);
}

void session_pipeline::on_frame(caf::event_based_actor* self, std::string_view frame,
                                const write_fn& write) {
  handle_frame(self, frame, write, false);
}

void session_pipeline::handle_frame(caf::event_based_actor* self, std::string_view frame,
                                    const write_fn& write, bool keys_refreshed) {
  auto decoded = ws::decode_request(frame);
  if (!decoded) {
    std::string out;
    ws::write_error_reply(out, decoded.error());
    write(std::move(out));
    return;
  }
  auto& request = *decoded;
  auto admitted = services_->ops.admit(request);
  if (!admitted) {
    std::string out;
    ws::write_error_reply(out, admitted.error());
    write(std::move(out));
    return;
  }
  filters::request_context ctx;
  ctx.op = request.op;
  ctx.bearer_token = view_of(info_.bearer_token);
  ctx.source_address = info_.source_address;
  ctx.device_id = view_of(info_.device_id);
  ctx.idempotency_key = view_of(request.idempotency_key);
  ctx.traceparent = view_of(request.traceparent);
  ctx.session = &lanes_;
  ctx.public_op = (*admitted)->is_public;
  ctx.required_scope = (*admitted)->required_scope;
  if (auto refused = chain_.run(ctx)) {
    // A key this gateway has not seen yet (identity rotated, or this node started moments ago
    // and its refresher has not reached identity): fetch the keys once, then run the frame
    // again. The refresher bounds how often that reaches identity, whatever sessions ask.
    auto refresher = services_->key_refresher.get();
    if (!keys_refreshed && refresher && refused->log_reason == filters::unknown_kid_failure) {
      auto again = [me = shared_from_this(), self, frame = std::string{frame}, write](auto&&...) {
        me->handle_frame(self, frame, write, true);
      };
      self->request(refresher, services_->domain_timeout, refresh_keys_atom::value)
          .then([again](bool) { again(); }, [again](caf::error&) { again(); });
      return;
    }
    log::info("request refused", {{"session", info_.session_id},
                                  {"op", request.op},
                                  {"code", refused->describe().wire_code},
                                  {"reason", refused->log_reason},
                                  {"trace_id", ctx.trace.trace_id_hex()}});
    write_refusal(write, request.id, *refused);
    return;
  }
  SUPERAPP_ASSERT(ctx.target.has_value());
  if (ctx.verified) register_user(self);
  if (ctx.target->domain == system_domain) {
    std::string out;
    if (request.op == "system.ping") {
      ws::write_ok_reply(out, request.id,
                         boost::json::object{{"pong", true}, {"node", services_->node_name}});
    } else if (request.op == "system.echo") {
      ws::write_ok_reply(out, request.id, request.body);
    } else {
      return on_session_op(self, request, ctx.verified->subject, write);
    }
    write(std::move(out));
    return;
  }
  auto door = services_->directory->lookup(std::string{ctx.target->domain});
  if (!door) {
    write_error(write, request.id, make_error(platform_errc::unavailable));
    return;
  }
  op_request forwarded;
  forwarded.op = request.op;
  forwarded.body_json = boost::json::serialize(request.body);
  forwarded.idempotency_key = request.idempotency_key.value_or("");
  forwarded.traceparent = ctx.trace.to_string();
  if (ctx.verified) {  // public ops go unauthenticated: the domain sees no caller
    forwarded.who.subject = ctx.verified->subject;
    forwarded.who.device_id = ctx.verified->device_id.value_or("");
    forwarded.who.scopes = ctx.verified->scopes;
  }
  if (services_->caller_seal) services_->caller_seal->seal(forwarded);
  // The lane seat is held until the domain's answer (or the timeout) is written.
  auto seat = std::make_shared<filters::lane_ticket>(std::move(ctx.ticket));
  sup::admitted_request(
      self, door->gate, door->front_door, services_->domain_timeout,
      [write, id = request.id, seat](op_reply& reply) {
        std::string out;
        ws::write_ok_reply_raw(out, id, reply.body_json);
        write(std::move(out));
      },
      [write, id = request.id, seat](caf::error& err) { write_error(write, id, err); },
      op_atom::value, std::move(forwarded));
}

// The router closes this session when its user logs out or its device is revoked, so it is
// told who is here once the token is verified (and again after a router restart).
void session_pipeline::register_user(caf::event_based_actor* self) {
  // Every authenticated request passes here: an atomic load, not the router's mutex, decides.
  auto generation = services_->subscriptions.generation();
  if (!claims_ || generation == registered_generation_) return;
  auto router = services_->subscriptions.get();
  if (!router) return;
  registered_generation_ = generation;
  self->send(router, session_user_atom::value, claims_->subject, claims_->device_id.value_or(""),
             caf::actor_cast<caf::actor>(self));
}

void session_pipeline::on_session_op(caf::event_based_actor* self, const ws::request_envelope& request,
                                     const std::string& subject, const write_fn& write) {
  auto router = services_->subscriptions.get();
  if (!router) {
    write_error(write, request.id, make_error(platform_errc::unavailable));
    return;
  }
  const auto me = caf::actor_cast<caf::actor>(self);
  const auto timeout = services_->domain_timeout;
  auto on_error = [write, id = request.id](caf::error& err) { write_error(write, id, err); };
  if (request.op == "session.resume") {
    auto body = ws::resume_request_schema().decode(request.body);
    SUPERAPP_ASSERT(body.has_value());  // the catalogue admitted it
    self->request(router, timeout, resume_atom::value, body->resume_token, subject, me,
                  body->last_seq)
        .then(
            [write, id = request.id](resume_outcome& outcome) {
              // The reply first, then the missed events in seq order, as the protocol says.
              ws::resume_reply reply;
              reply.resync = outcome.resync;
              if (!outcome.resync) reply.replayed = static_cast<std::int64_t>(outcome.frames.size());
              std::string out;
              ws::write_ok_reply(out, id, ws::resume_reply_schema().encode(reply));
              write(std::move(out));
              for (auto& frame : outcome.frames) write(std::move(frame));
            },
            on_error);
    return;
  }
  auto body = ws::topic_body_schema().decode(request.body);
  SUPERAPP_ASSERT(body.has_value());
  if (request.op == "session.subscribe") {
    self->request(router, timeout, subscribe_atom::value, subject, me, body->topic)
        .then(
            [write, id = request.id, topic = body->topic](std::string& token) {
              std::string out;
              ws::write_ok_reply(out, id, ws::subscribe_reply_schema().encode({topic, token}));
              write(std::move(out));
            },
            on_error);
    return;
  }
  SUPERAPP_ASSERT(request.op == "session.unsubscribe");
  self->request(router, timeout, unsubscribe_atom::value, me, body->topic)
      .then(
          [write, id = request.id, topic = body->topic](bool) {
            std::string out;
            ws::write_ok_reply(out, id, ws::topic_body_schema().encode({topic}));
            write(std::move(out));
          },
          on_error);
}

void published_actor::set(caf::actor handle) {
  std::lock_guard<std::mutex> guard{mutex_};
  handle_ = std::move(handle);
  generation_.fetch_add(1, std::memory_order_release);
}

caf::actor published_actor::get() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return handle_;
}

void gateway_services::set_configured_jwks(std::string json) {
  std::lock_guard<std::mutex> guard{jwks_mutex_};
  configured_jwks_ = std::move(json);
}

std::string gateway_services::configured_jwks() const {
  std::lock_guard<std::mutex> guard{jwks_mutex_};
  return configured_jwks_;
}

void gateway_services::set_served_jwks(std::string json) {
  std::lock_guard<std::mutex> guard{jwks_mutex_};
  served_jwks_ = std::move(json);
}

std::string gateway_services::served_jwks() const {
  std::lock_guard<std::mutex> guard{jwks_mutex_};
  return served_jwks_;
}

}  // namespace superapp::gateway
