// What a WebSocket session does with one text frame: decode, filter chain, route, reply.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/filters/chain.hpp"
#include "gateway/filters/jwt.hpp"
#include "gateway/filters/quota.hpp"
#include "gateway/filters/rate_limit.hpp"
#include "gateway/filters/routes.hpp"
#include "gateway/filters/standard_filters.hpp"
#include "gateway/subscriptions/subscriptions.hpp"
#include "protocols/caller_seal.hpp"
#include "protocols/clock.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/front_door.hpp"

namespace caf {
class event_based_actor;
}

namespace superapp::gateway {

// Asks the key refresher for the identity domain's keys now; it answers `true` once the key
// store holds them, `false` when it could not or may not ask yet (key_refresher.hpp).
using refresh_keys_atom = caf::atom_constant<caf::atom("keys_now")>;

// A worker's handle, published by the worker each time it starts and read by any session
// thread: invalid until the first start. `generation` counts the publications, so a reader can
// tell with one atomic load whether it has seen the current worker.
class published_actor {
 public:
  void set(caf::actor handle);
  caf::actor get() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  caf::actor handle_;
  std::atomic<std::uint64_t> generation_{0};
};

// Everything the sessions of one node share: the op catalogue, the verifier and limiters, the
// route table, and where the domains' front doors are. Thread-safe; outlives every session.
struct gateway_services {
  // `ops`: the protocol's ops plus every domain op this node routes (outlives the services).
  gateway_services(std::string node_name, const superapp::clock& clock, const ws::op_catalogue& ops,
                   filters::jwt_policy policy, filters::route_table routes,
                   filters::rate_limit_config per_user, filters::rate_limit_config per_device,
                   filters::rate_limit_config per_address,
                   std::array<std::uint32_t, filters::lane_count> node_lane_limits,
                   sup::front_door_directory_ptr directory);

  std::string node_name;
  const superapp::clock& clock;
  const ws::op_catalogue& ops;
  filters::jwt_key_store keys;  // replaced on key rotation; sessions see the new set at once
  filters::jwt_verifier verifier;
  filters::route_table routes;
  // Seals every op forwarded to a front door (protocols/caller_seal.hpp); unset only in tests.
  caller_seal_ptr caller_seal;
  filters::rate_limiter user_limiter;
  filters::rate_limiter device_limiter;  // by the token's device, else the X-Device-Id header
  filters::rate_limiter address_limiter;
  filters::daily_quota partner_quota;  // partner tokens' requests per UTC day (their claim)
  filters::node_lanes lanes;
  sup::front_door_directory_ptr directory;
  std::chrono::milliseconds domain_timeout{5000};
  std::array<std::uint32_t, filters::lane_count> session_lane_limits{8, 32};

  // The gateway's subscription router (gateway/subscriptions); while it is invalid, session.*
  // ops answer `unavailable`. A session re-registers with a router generation it has not told.
  published_actor subscriptions;
  // The key refresher (key_refresher.hpp): a token signed with a key the store does not hold
  // asks it for the identity domain's keys once before the request is refused.
  published_actor key_refresher;
  // The webhook relay (webhook_relay.hpp): provider callbacks on the HTTP port go through it.
  published_actor webhook_relay;

  // The keys the node was configured with (gateway.jwks_file, or the development key), as a
  // JWKS document; the key refresher adds the identity domain's to them.
  void set_configured_jwks(std::string json);
  std::string configured_jwks() const;
  // What GET /.well-known/jwks.json serves: the keys the gateway verifies with right now.
  void set_served_jwks(std::string json);
  std::string served_jwks() const;

 private:
  mutable std::mutex jwks_mutex_;
  std::string configured_jwks_;
  std::string served_jwks_;
};

// What the transport knows about the connection.
struct session_info {
  std::string session_id;
  std::string source_address;
  std::optional<std::string> bearer_token;  // from the upgrade request's Authorization header
  std::optional<std::string> device_id;     // from the upgrade request's X-Device-Id header
};

// One per session, owned by (and only used inside) the session's actor. `on_frame` answers
// every frame with exactly one reply frame through `write`: at once for refusals and the
// gateway's own ops, later (from the same actor) for ops a domain answers.
class session_pipeline : public std::enable_shared_from_this<session_pipeline> {
 public:
  using write_fn = std::function<void(std::string frame)>;

  // Always owned by a shared_ptr (a frame held for a key refresh keeps its pipeline alive).
  session_pipeline(std::shared_ptr<gateway_services> services, session_info info);

  void on_frame(caf::event_based_actor* self, std::string_view frame, const write_fn& write);

 private:
  // `keys_refreshed`: this frame already waited for a key refresh; refuse, do not ask again.
  void handle_frame(caf::event_based_actor* self, std::string_view frame, const write_fn& write,
                    bool keys_refreshed);
  void on_session_op(caf::event_based_actor* self, const ws::request_envelope& request,
                     const std::string& subject, const write_fn& write);
  void register_user(caf::event_based_actor* self);

  // Verifies the session's token once and then only checks its expiry per request: an ES256
  // verify costs ~140 us of CPU, far more than the rest of a request.
  class session_authenticate final : public filters::filter {
   public:
    explicit session_authenticate(session_pipeline& owner) : owner_(owner) {}
    std::string_view name() const override { return "authenticate"; }
    filters::filter_result apply(filters::request_context& ctx) override;

   private:
    session_pipeline& owner_;
  };

  std::shared_ptr<gateway_services> services_;
  session_info info_;
  filters::session_lanes lanes_;
  std::optional<filters::claims> claims_;
  std::uint64_t registered_generation_ = 0;  // the router (by generation) told who this is
  filters::trace_filter trace_;
  session_authenticate authenticate_;
  filters::rate_limit_filter per_address_;
  filters::rate_limit_filter per_device_;
  filters::rate_limit_filter per_user_;
  filters::quota_filter partner_quota_;
  filters::route_filter route_;
  filters::filter_chain chain_;
};

}  // namespace superapp::gateway
