// The kyc domain's tree: store -> front door (kyc.* ops) -> the kyc service.
#pragma once

#include <string>

#include "actors/kyc/kyc_messages.hpp"
#include "supervisors/domain.hpp"

namespace superapp::kyc {

// `name` is the database (schema) name; tests give each run its own.
sup::domain_definition kyc_domain(kyc_settings settings, std::string name = "kyc");

}  // namespace superapp::kyc
