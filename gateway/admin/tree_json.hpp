// The supervision tree and domain readiness as JSON: /api/tree, /readyz, `superapp admin tree`.
#pragma once

#include <boost/json/fwd.hpp>
#include <string>
#include <vector>

namespace superapp::sup {
struct tree_node;
}

namespace superapp::admin {

// One hosted domain's tree as /readyz reports it.
struct domain_readiness {
  std::string domain;  // the domain supervisor's name, e.g. "banking"
  bool up = false;
  std::string state;  // the supervisor's state: running, restarting, failed, ...
};

using readiness_report = std::vector<domain_readiness>;

// A node of the tree with all its fields; absent values are null rather than sentinels
// (mailbox_depth -1, empty last_exit_reason, a worker's strategy and intensity).
boost::json::value to_json(const sup::tree_node& node);

// {"status":"ready"|"not_ready","domains":[...],"not_ready":["banking",...]}.
boost::json::value to_json(const readiness_report& report);

// Every child of the root is a domain tree (or the bridge, or the gateway); each is up when
// its supervisor is running. A node may use this to implement fetch_readiness from fetch_tree.
readiness_report readiness_from_tree(const sup::tree_node& root);

// True when every reported domain is up; an empty report is ready (nothing hosted to wait for).
bool all_up(const readiness_report& report);

}  // namespace superapp::admin
