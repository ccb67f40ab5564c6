// Fault injection for isolation tests, benchmarks and the operators' chaos controls.
#pragma once

#include <chrono>
#include <string>

#include "supervisors/supervisor.hpp"

namespace superapp::sup {

// A worker that crashes `interval` after every start: under a supervisor it is a crash loop
// that the restart intensity and backoff contain. It exits with sec::runtime_error, the very
// reason an uncaught exception gives, without CAF printing each one to stdout.
child_spec crash_loop_child(std::string id, std::chrono::milliseconds interval);

}  // namespace superapp::sup
