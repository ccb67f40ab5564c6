// Out-of-line assertion failure path, kept cold so SUPERAPP_ASSERT costs one branch.
#include "protocols/assert.hpp"

#include <spdlog/spdlog.h>

namespace superapp {

void assertion_failed(const char* expression, const char* file, int line) {
  spdlog::error("assertion failed: {} at {}:{}", expression, file, line);
  throw assertion_failure(std::string{"assertion failed: "} + expression + " at " + file + ":" +
                          std::to_string(line));
}

}  // namespace superapp
