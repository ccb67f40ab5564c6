// `superapp bench`: runs a load scenario against a node, or compares two result files.
#pragma once

#include <string>
#include <vector>

namespace superapp::app {

int run_bench_command(const std::vector<std::string>& args);

}  // namespace superapp::app
