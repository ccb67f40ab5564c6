// The node's gateway: key set, route table, limits, and the session handler per connection.
#include "app/gateway_wiring.hpp"

#include "app/cli_common.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/pipeline/key_refresher.hpp"
#include "gateway/pipeline/webhook_relay.hpp"
#include "protocols/tokens/approval.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::app {
namespace {

constexpr auto dev_key_file = "dev-signing-key.pem";
constexpr auto dev_kid = "dev-1";
constexpr auto dev_token_lifetime = std::chrono::minutes{15};

// system.* and session.* are the gateway's own; every role's prefix goes to its front door.
filters::route_table routes_for(const node::node_config& config) {
  filters::route_table routes;
  routes.add_domain("system.", "system");
  routes.add_domain("session.", "system");
  routes.add_lane("system.*", filters::lane::query);
  routes.add_lane("session.*", filters::lane::query);
  // A node with peers routes every domain: the ones no peer offers right now answer
  // `unavailable` (the directory has no front door for them), and come back by themselves.
  std::vector<node::role> routed = config.node.roles;
  if (!config.cluster.peers.empty()) routed.assign(node::all_roles.begin(), node::all_roles.end());
  for (auto role : routed) {
    auto name = std::string{node::to_string(role)};
    routes.add_domain(name + ".", name);
    routes.add_lane(name + ".ping", filters::lane::query);
    // The catalogue's query ops of this domain ride the query lane (no idempotency key).
    for (const auto& op : ws::protocol_ops().all())
      if (op.lane == ws::lane::query && op.name.rfind(name + ".", 0) == 0)
        routes.add_lane(op.name, filters::lane::query);
  }
  return routes;
}

// The value of header `lower_name` (matched without regard to case), or "".
std::string header_of(const ws::http_request& request, std::string_view lower_name) {
  for (const auto& [name, value] : request.headers)
    if (name.size() == lower_name.size() &&
        std::equal(name.begin(), name.end(), lower_name.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      return value;
  return {};
}

std::optional<filters::signing_key> load_or_make_dev_key(const std::string& data_dir,
                                                         std::string& failure) {
  auto path = std::filesystem::path{data_dir} / dev_key_file;
  if (std::filesystem::exists(path)) {
    std::string err;
    auto key = filters::signing_key::from_pem(dev_kid, read_text_file(path.string()), err);
    if (!key) failure = "gateway: " + path.string() + ": " + err;
    return key;
  }
  auto key = filters::signing_key::generate(dev_kid);
  if (!write_private_file(path.string(), key.private_pem(), failure)) {
    failure = "gateway: " + failure;
    return std::nullopt;
  }
  return key;
}

}  // namespace

std::optional<gateway_parts> make_gateway(const node::node_config& config,
                                          sup::front_door_directory_ptr directory,
                                          const superapp::clock& clock, bool dev_keys,
                                          std::string& failure) {
  filters::jwk_set keys;
  std::string err;
  std::string configured_jwks = R"({"keys":[]})";
  if (dev_keys) {
    auto key = load_or_make_dev_key(config.node.data_dir, failure);
    if (!key) return std::nullopt;
    if (!keys.add(key->kid, key->key, err)) {
      failure = "gateway: development key: " + err;
      return std::nullopt;
    }
    configured_jwks = filters::jwks_json(std::span<const filters::signing_key>{&*key, 1});
  } else if (!config.gateway.jwks_file.empty()) {
    auto text = read_text_file(config.gateway.jwks_file);
    auto loaded = filters::jwk_set::from_jwks_json(text, err);
    if (!loaded) {
      failure = "config error: gateway.jwks_file: " + config.gateway.jwks_file + ": " + err;
      return std::nullopt;
    }
    keys = std::move(*loaded);
    configured_jwks = text;
  }
  gateway_parts parts;
  parts.services = std::make_shared<gateway::gateway_services>(
      config.node.name, clock, ws::protocol_ops(),
      filters::jwt_policy{config.gateway.token_issuer, config.gateway.token_audience},
      routes_for(config),
      filters::rate_limit_config{config.gateway.user_burst,
                                 static_cast<double>(config.gateway.user_rate_per_s)},
      filters::rate_limit_config{config.gateway.device_burst,
                                 static_cast<double>(config.gateway.device_rate_per_s)},
      filters::rate_limit_config{config.gateway.address_burst,
                                 static_cast<double>(config.gateway.address_rate_per_s)},
      std::array<std::uint32_t, filters::lane_count>{4096, 16384}, std::move(directory));
  parts.services->keys.replace(std::move(keys));
  parts.services->set_configured_jwks(configured_jwks);
  parts.services->set_served_jwks(configured_jwks);

  auto services = parts.services;
  auto factory = [services](caf::event_based_actor* self, const ws::session_context& context,
                            std::shared_ptr<ws::outbound> out) {
    gateway::session_info info;
    info.session_id = std::to_string(context.session_id);
    info.source_address = context.remote_address;
    for (const auto& [name, value] : context.headers) {
      if (name == "authorization" || name == "Authorization") {
        constexpr std::string_view bearer = "Bearer ";
        if (value.size() > bearer.size() &&
            std::equal(bearer.begin(), bearer.end(), value.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
          info.bearer_token = value.substr(bearer.size());
      } else if (name == "x-device-id" || name == "X-Device-Id") {
        info.device_id = value;
      }
    }
    auto pipeline = std::make_shared<gateway::session_pipeline>(services, std::move(info));
    ws::session_handler handler;
    handler.on_text = [self, pipeline, out](std::string frame) {
      pipeline->on_frame(self, frame, [out](std::string reply) { out->send_text(std::move(reply)); });
    };
    // Events of the session's subscriptions, already framed and numbered by the router.
    handler.extra = caf::message_handler{
        [out](gateway::push_atom, std::string& frame) { out->send_text(std::move(frame)); },
        // The user logged out or this device was revoked: the session ends now, not when its
        // access token expires.
        [out](gateway::end_session_atom, std::string& reason) {
          out->close(ws::close_code::policy_violation, std::move(reason));
        }};
    return handler;
  };
  parts.supervisor.name = "gateway";
  parts.supervisor.strategy_kind = sup::strategy::one_for_one;
  // The router first: sessions find it in the services as soon as they can subscribe.
  parts.supervisor.children.push_back(gateway::subscription_router_child(
      {}, [services](const caf::actor& router) { services->subscriptions.set(router); }));
  // The identity domain's signing keys, fetched at start and every 30 s (local or on a peer).
  parts.supervisor.children.push_back(gateway::key_refresher_child(services));
  // Provider callbacks (POST /webhooks/kyc, /webhooks/bank) on their way to the domain that
  // verifies them.
  parts.supervisor.children.push_back(gateway::webhook_relay_child(services));
  parts.supervisor.children.push_back(sup::supervisor_child(ws::sessions_supervisor_spec(factory)));
  // Plain HTTP on the WebSocket port: the JWKS for partners and other verifiers, and the KYC
  // provider's and the bank's callbacks.
  parts.http = [services](ws::http_request request, ws::http_respond respond) {
    const auto path = request.target.substr(0, request.target.find('?'));
    ws::http_response answer;
    // Providers' signed callbacks, each to the domain that verifies it.
    const bool kyc = path == "/webhooks/kyc", bank = path == "/webhooks/bank";
    if ((kyc || bank) && request.method == "POST") {
      const char* prefix = kyc ? "x-kyc-" : "x-bank-";
      gateway::webhook_delivery delivery{kyc ? "kyc" : "banking",
                                         kyc ? "kyc.provider_callback" : "banking.bank_callback",
                                         std::move(request.body),
                                         header_of(request, std::string{prefix} + "timestamp"),
                                         header_of(request, std::string{prefix} + "signature")};
      gateway::relay_webhook(*services, std::move(delivery),
                             [respond](unsigned status, std::string body) {
                               ws::http_response r;
                               r.status = status;
                               r.body = std::move(body);
                               respond(std::move(r));
                             });
      return;
    }
    if (path == "/.well-known/jwks.json" && request.method == "GET") {
      answer.body = services->served_jwks();
      answer.headers.emplace_back("cache-control", "max-age=30");
    } else {
      const auto d = describe(platform_errc::not_found);
      answer.status = 404;
      answer.body = R"({"error":{"code":")" + std::string{d.wire_code} + R"(","message":")" +
                    std::string{d.message} + R"("}})";
    }
    respond(std::move(answer));
  };
  return parts;
}

ws::ws_config ws_config_from(const node::node_config& config) {
  ws::ws_config c;
  c.bind_address = config.gateway.bind;
  c.port = config.gateway.port;
  c.io_threads = config.gateway.io_threads;
  c.tls_cert_path = config.gateway.tls_cert_file;
  c.tls_key_path = config.gateway.tls_key_file;
  return c;
}

caf::actor find_sessions_supervisor(caf::scoped_actor& self, const caf::actor& root,
                                    std::chrono::milliseconds timeout) {
  auto child = [&](const caf::actor& parent, const char* id) {
    caf::actor result;
    if (parent)
      self->request(parent, timeout, sup::which_child_atom::value, std::string{id})
          .receive([&](caf::actor& a) { result = std::move(a); }, [](caf::error&) {});
    return result;
  };
  return child(child(root, "gateway"), "sessions_sup");
}

std::string dev_jwks(const std::string& data_dir, std::string& failure) {
  auto key = load_or_make_dev_key(data_dir, failure);
  if (!key) return {};
  return filters::jwks_json(std::span<const filters::signing_key>{&*key, 1});
}

namespace {

// The development key of `data_dir`, as `superapp run` made it.
std::optional<filters::signing_key> existing_dev_key(const std::string& data_dir,
                                                     std::string& failure) {
  auto path = std::filesystem::path{data_dir} / dev_key_file;
  if (!std::filesystem::exists(path)) {
    failure = path.string() + " is missing: start the node with `superapp run` first";
    return std::nullopt;
  }
  std::string err;
  auto key = filters::signing_key::from_pem(dev_kid, read_text_file(path.string()), err);
  if (!key) failure = path.string() + ": " + err;
  return key;
}

}  // namespace

std::string dev_token(const std::string& data_dir, const std::string& subject,
                      const superapp::clock& clock, std::string& failure,
                      const std::string& device) {
  auto key = existing_dev_key(data_dir, failure);
  if (!key) return {};
  node::node_config defaults;
  filters::claims claims;
  claims.subject = subject;
  if (!device.empty()) claims.device_id = device;
  claims.scopes = {"user"};  // it stands for an app user, as identity's tokens do
  claims.token_id = "dev-" + std::to_string(clock.now().time_since_epoch().count());
  claims.expires_at = clock.now() + dev_token_lifetime;
  return filters::sign_es256(
      claims, {defaults.gateway.token_issuer, defaults.gateway.token_audience, clock.now()}, *key);
}

std::function<std::string(const std::string&, const std::string&, const std::string&,
                          const std::string&)>
dev_approval_minter(const std::string& data_dir, std::string& failure) {
  auto key = existing_dev_key(data_dir, failure);
  if (!key) return {};
  auto shared = std::make_shared<filters::signing_key>(std::move(*key));
  auto counter = std::make_shared<std::uint64_t>(0);
  const auto prefix = "bench-ap-" + std::to_string(::getpid()) + "-" +
                      std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
                      "-";
  return [shared, counter, prefix](const std::string& user, const std::string& device,
                                   const std::string& op,
                                   const std::string& body_json) -> std::string {
    boost::system::error_code ec;
    auto doc = boost::json::parse(body_json, ec);
    const auto* body = ec ? nullptr : doc.if_object();
    const auto* amount = body ? body->if_contains("amount") : nullptr;
    const auto* to_user = body ? body->if_contains("to_user") : nullptr;
    if (!amount || !amount->is_object() || !to_user || !to_user->is_string()) return {};
    const auto* minor = amount->as_object().if_contains("minor");
    const auto* currency = amount->as_object().if_contains("currency");
    if (!minor || !minor->is_int64() || !currency || !currency->is_string()) return {};
    superapp::system_clock clock;
    const auto now = clock.now();
    tokens::approval a;
    a.approval_id = prefix + std::to_string(++*counter);
    a.user_id = user;
    a.device_id = device;
    a.operation = {op, minor->as_int64(), std::string{currency->as_string()},
                   std::string{to_user->as_string()}};
    a.tier = "mpin";
    a.expires_at =
        std::chrono::time_point_cast<std::chrono::seconds>(now) + std::chrono::seconds{120};
    return tokens::sign_approval(a, now, *shared);
  };
}

}  // namespace superapp::app
