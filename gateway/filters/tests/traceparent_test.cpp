// W3C traceparent: what parses, what does not, and what the gateway generates.
#include "gateway/filters/traceparent.hpp"

#include <doctest/doctest.h>

using namespace superapp::filters;

namespace {
constexpr std::string_view example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST_CASE("a valid version 00 traceparent parses and prints back the same") {
  auto t = parse_traceparent(example);
  REQUIRE(t);
  CHECK(t->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(t->parent_id[0] == 0x00);
  CHECK(t->parent_id[7] == 0xb7);
  CHECK(t->sampled());
  CHECK(t->to_string() == example);
  CHECK_FALSE(
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled());
}

TEST_CASE("malformed traceparent headers are refused") {
  CHECK_FALSE(parse_traceparent(""));
  CHECK_FALSE(parse_traceparent(example.substr(0, 54)));
  CHECK_FALSE(parse_traceparent(std::string{example} + "-extra"));  // version 00 has 4 fields
  CHECK_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  CHECK_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"));
  CHECK_FALSE(parse_traceparent("0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST_CASE("a later version is read by its version 00 prefix") {
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"));
  CHECK_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what"));
}

TEST_CASE("a generated trace is well-formed, random and sampled") {
  auto a = start_trace();
  auto b = start_trace();
  CHECK(a.sampled());
  CHECK(a.trace_id != b.trace_id);
  auto header = a.to_string();
  CHECK(header.size() == traceparent_size_chars);
  CHECK(header.substr(0, 3) == "00-");
  CHECK(parse_traceparent(header) == a);
}

TEST_CASE("a child span keeps the trace and flags with a new span id") {
  auto parent = *parse_traceparent(example);
  auto child = child_span(parent);
  CHECK(child.trace_id == parent.trace_id);
  CHECK(child.flags == parent.flags);
  CHECK(child.parent_id != parent.parent_id);
}

TEST_CASE("the gateway continues a valid trace and starts a new one for a missing or bad header") {
  auto parent = *parse_traceparent(example);
  CHECK(continue_or_start(example).trace_id == parent.trace_id);
  CHECK(continue_or_start(std::nullopt).trace_id != parent.trace_id);
  auto replaced = continue_or_start(std::string_view{"garbage"});
  CHECK(parse_traceparent(replaced.to_string()));
}
