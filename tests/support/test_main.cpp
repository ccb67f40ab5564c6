// The one doctest main shared by every test binary, with CAF's unit-test engine linked in.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#define CAF_TEST_NO_MAIN
#include "caf/test/unit_test_impl.hpp"
