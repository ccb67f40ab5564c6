// Which domain tree each role of a node runs: the composition root's table of domains.
#pragma once

#include "supervisors/domain.hpp"
#include "supervisors/node/node_config.hpp"

namespace superapp::app {

// The definition of a role's domain. Until a domain's own issue lands, its tree is the common
// skeleton: a store (its database, migrated) and a front door answering ping and probe.
sup::domain_definition domain_for(node::role role);

}  // namespace superapp::app
