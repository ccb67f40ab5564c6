// `superapp client`: a WebSocket client for a newcomer to poke a running node without code.
#pragma once

#include <string>
#include <vector>

namespace superapp::app {

// args: what follows `superapp client`. Returns the process exit status.
int run_client_command(const std::vector<std::string>& args);

}  // namespace superapp::app
