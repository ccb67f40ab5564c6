// The banking domain's error codes: distinct, described, and exactly those the protocol
// document lists for banking.
#include <doctest/doctest.h>

#include "actors/banking/banking_errc.hpp"
#include "tests/support/error_codes.hpp"

using namespace superapp::banking;

TEST_CASE("banking's error codes are distinct and the protocol document lists exactly them") {
  register_banking_errors();
  superapp::testing::check_error_codes("banking", last_banking_errc, [](banking_errc c) { return make_error(c); });
}
