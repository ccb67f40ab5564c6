// Fault injection for isolation tests, benchmarks and the operators' chaos controls.
#pragma once

#include <chrono>
#include <string>

#include "supervisors/supervisor.hpp"

namespace superapp::sup {

// A worker that crashes (an uncaught exception, as a real bug would) `interval` after every
// start: under a supervisor it is a crash loop that the restart intensity and backoff contain.
child_spec crash_loop_child(std::string id, std::chrono::milliseconds interval);

}  // namespace superapp::sup
