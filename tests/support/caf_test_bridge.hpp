// Lets caf/test/dsl.hpp (test_coordinator, expect/allow) run inside doctest binaries.
// Include this last: dsl.hpp defines lower-case macros (expect, allow, inject, disallow).
#pragma once

#include <doctest/doctest.h>

#include "caf/test/unit_test.hpp"

#undef CAF_CHECK
#define CAF_CHECK(...) CHECK(__VA_ARGS__)
#undef CAF_CHECK_EQUAL
#define CAF_CHECK_EQUAL(x, y) CHECK((x) == (y))
#undef CAF_REQUIRE
#define CAF_REQUIRE(...) REQUIRE(__VA_ARGS__)
#undef CAF_REQUIRE_EQUAL
#define CAF_REQUIRE_EQUAL(x, y) REQUIRE((x) == (y))
#undef CAF_FAIL
#define CAF_FAIL(msg) FAIL(msg)
#undef CAF_MESSAGE
#define CAF_MESSAGE(msg) ((void)0)

#include "caf/test/dsl.hpp"
