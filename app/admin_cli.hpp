// `superapp admin`: the operator's command line onto a running node's admin listener.
#pragma once

#include <string>
#include <vector>

namespace superapp::app {

// args: what follows `superapp admin`. Returns the process exit status.
int run_admin_command(const std::vector<std::string>& args);

}  // namespace superapp::app
