// The REAL Kafka broker the ctest fixture `kafka` starts (scripts/kafka-test-server): its
// bootstrap address, from the file SUPERAPP_KAFKA_BOOTSTRAP_FILE names.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace superapp::testing {

inline std::string kafka_bootstrap() {
  const char* path = std::getenv("SUPERAPP_KAFKA_BOOTSTRAP_FILE");
  REQUIRE_MESSAGE(path != nullptr, "SUPERAPP_KAFKA_BOOTSTRAP_FILE is not set; run via ctest");
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  REQUIRE_MESSAGE(!line.empty(), "no bootstrap address from scripts/kafka-test-server");
  return line;
}

}  // namespace superapp::testing
