// The table of domains, the one place where roles meet their actors/<domain> libraries.
#include "app/domains.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include "actors/identity/identity_domain.hpp"
#include "actors/identity/tiers.hpp"
#include "protocols/assert.hpp"

namespace superapp::app {

bool load_domain_files(const node::node_config& config, domain_wiring& wiring, std::string& failure) {
  const auto& path = config.identity.tiers_file;
  if (path.empty()) return true;
  std::ifstream in{path};
  if (!in) {
    failure = "config error: identity.tiers_file: cannot read " + path;
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  if (!identity::tier_policy::parse(text.str(), error)) {
    failure = "config error: identity.tiers_file: " + path + ": " + error;
    return false;
  }
  wiring.tiers_toml = text.str();
  return true;
}

sup::domain_definition domain_for(node::role role, const domain_wiring& wiring) {
  if (role == node::role::identity) {
    identity::identity_settings settings;
    settings.sms_url = wiring.sms_url;
    settings.issuer = wiring.token_issuer;
    settings.audience = wiring.token_audience;
    settings.clock = wiring.clock;
    if (!wiring.tiers_toml.empty()) {
      std::string error;
      auto policy = identity::tier_policy::parse(wiring.tiers_toml, error);
      SUPERAPP_ASSERT(policy.has_value());  // load_domain_files checked it
      settings.tiers = std::make_shared<const identity::tier_policy>(std::move(*policy));
    }
    return identity::identity_domain(std::move(settings));
  }
  sup::domain_definition def;
  def.name = std::string{node::to_string(role)};
  return def;
}

}  // namespace superapp::app
