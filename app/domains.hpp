// Which domain tree each role of a node runs: the composition root's table of domains.
#pragma once

#include <memory>
#include <string>

#include "protocols/clock.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/node/node_config.hpp"

namespace superapp::app {

// What the domains of a node need from outside their trees.
struct domain_wiring {
  std::string sms_url;  // the SMS provider identity sends codes to (the simulator in `run`)
  std::string token_issuer = "superapp-identity";
  std::string token_audience = "superapp-mobile";
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();
};

// The definition of a role's domain. Identity is its own domain (actors/identity); the others,
// until their issues land, are the common skeleton: a store (its database, migrated) and a
// front door answering ping and probe.
sup::domain_definition domain_for(node::role role, const domain_wiring& wiring = {});

}  // namespace superapp::app
