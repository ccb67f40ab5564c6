// The table of domains, the one place where roles meet their actors/<domain> libraries.
#include "app/domains.hpp"

#include <string>

namespace superapp::app {

sup::domain_definition domain_for(node::role role) {
  sup::domain_definition def;
  def.name = std::string{node::to_string(role)};
  return def;
}

}  // namespace superapp::app
