// The error catalogue gives every error a stable wire code.
#include <doctest/doctest.h>

#include <caf/sec.hpp>

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

using namespace superapp;

TEST_CASE("a platform error describes itself with its stable wire code") {
  auto err = make_error(platform_errc::overloaded);
  auto d = describe(err);
  CHECK(d.wire_code == "overloaded");
  CHECK(d.retryable);
  CHECK(err == platform_errc::overloaded);
}

TEST_CASE("CAF's own request timeout maps to the timeout wire code") {
  auto d = describe(caf::make_error(caf::sec::request_timeout));
  CHECK(d.wire_code == "timeout");
}

TEST_CASE("an empty error is described as internal rather than crashing") {
  CHECK(describe(caf::error{}).wire_code == "internal");
}

TEST_CASE("an unknown category is described as internal") {
  CHECK(describe(caf::error{1, caf::atom("nosuchcat")}).wire_code == "internal");
}

TEST_CASE("SUPERAPP_ASSERT throws with the failing expression") {
  CHECK_THROWS_WITH_AS(SUPERAPP_ASSERT(1 + 1 == 3), doctest::Contains("1 + 1 == 3"),
                       assertion_failure);
  CHECK_NOTHROW(SUPERAPP_ASSERT(true));
}
