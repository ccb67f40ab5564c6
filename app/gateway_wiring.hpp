// Wires the mobile gateway of a node: keys, routes, limits, the sessions supervisor, listener.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "gateway/pipeline/session_pipeline.hpp"
#include "gateway/ws/ws_listener.hpp"
#include "supervisors/node/node_config.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::app {

// What the gateway of a node shares between its sessions, and its subtree: built before the
// node's tree starts, so the sessions supervisor is part of it.
struct gateway_parts {
  std::shared_ptr<gateway::gateway_services> services;
  sup::supervisor_spec supervisor;  // gateway (one_for_one) -> subscriptions, key_refresher, sessions_sup
  ws::http_handler http;            // plain HTTP on the WebSocket port (GET /.well-known/jwks.json)
};

// `dev_keys` (superapp run): verify with the development key of <data_dir>, made on first use,
// until the identity domain issues tokens. Otherwise the keys come from gateway.jwks_file.
// On failure, `failure` holds one line naming the key or file.
std::optional<gateway_parts> make_gateway(const node::node_config& config,
                                          sup::front_door_directory_ptr directory,
                                          const superapp::clock& clock, bool dev_keys,
                                          std::string& failure);

ws::ws_config ws_config_from(const node::node_config& config);

// The running `root/gateway/sessions_sup`, the supervisor the WebSocket listener starts session
// actors under; an invalid handle when the tree has none.
caf::actor find_sessions_supervisor(caf::scoped_actor& self, const caf::actor& root,
                                    std::chrono::milliseconds timeout);

// The JWKS ({"keys":[...]}) of the development key of `data_dir`, made there if missing; empty
// with `failure` set when the key file cannot be read.
std::string dev_jwks(const std::string& data_dir, std::string& failure);

// A token for `subject` (bound to `device` when given), signed with the development key of
// `data_dir` (superapp client --dev-token); empty with `failure` set when there is no such key.
std::string dev_token(const std::string& data_dir, const std::string& subject,
                      const superapp::clock& clock, std::string& failure,
                      const std::string& device = {});

// Mints what identity.authorise would answer for a money op, signed with the development key of
// `data_dir` (which `superapp run`'s gateway, and so banking, trusts): the load harness's
// ${approval}. The op binding is read from the body: `amount {minor, currency}` and `to_user`.
// Empty when there is no key or the body lacks them.
std::function<std::string(const std::string& user, const std::string& device, const std::string& op,
                          const std::string& body_json)>
dev_approval_minter(const std::string& data_dir, std::string& failure);

}  // namespace superapp::app
