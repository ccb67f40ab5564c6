// The identity domain's tree: store -> front door (identity.* ops) -> the identity service.
#pragma once

#include <string>

#include "actors/identity/identity_messages.hpp"
#include "supervisors/domain.hpp"

namespace superapp::identity {

// `name` is the database (schema) name; tests give each run its own.
sup::domain_definition identity_domain(identity_settings settings, std::string name = "identity");

}  // namespace superapp::identity
