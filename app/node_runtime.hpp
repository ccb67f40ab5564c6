// Runs one node: its supervision tree, its admin listener, and an orderly stop on a signal.
#pragma once

#include "supervisors/node/node_config.hpp"

namespace superapp::app {

// Blocks until SIGINT or SIGTERM, then stops everything in order. Returns the exit status:
// 0 after an orderly stop, 1 when the node could not start, 2 when its log file cannot be opened.
// `dev_keys`: the gateway verifies tokens with the development key of the data dir (superapp
// run) rather than gateway.jwks_file.
int run_node(const node::node_config& config, bool dev_keys);

}  // namespace superapp::app
