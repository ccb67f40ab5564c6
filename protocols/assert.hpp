// SUPERAPP_ASSERT: always-on invariant checks; a failure logs file:line and throws.
#pragma once

#include <stdexcept>
#include <string>

namespace superapp {

// Thrown by SUPERAPP_ASSERT. Inside an actor handler it ends the actor abnormally
// (sec::runtime_error) so its supervisor restarts it; outside actors it ends the process.
class assertion_failure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);

}  // namespace superapp

#define SUPERAPP_ASSERT(cond)                                              \
  do {                                                                     \
    if (!(cond)) ::superapp::assertion_failed(#cond, __FILE__, __LINE__); \
  } while (false)
