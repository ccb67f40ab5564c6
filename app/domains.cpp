// The table of domains, the one place where roles meet their actors/<domain> libraries.
#include "app/domains.hpp"

#include <string>

#include "actors/identity/identity_domain.hpp"

namespace superapp::app {

sup::domain_definition domain_for(node::role role, const domain_wiring& wiring) {
  if (role == node::role::identity) {
    identity::identity_settings settings;
    settings.sms_url = wiring.sms_url;
    settings.issuer = wiring.token_issuer;
    settings.audience = wiring.token_audience;
    settings.clock = wiring.clock;
    return identity::identity_domain(std::move(settings));
  }
  sup::domain_definition def;
  def.name = std::string{node::to_string(role)};
  return def;
}

}  // namespace superapp::app
