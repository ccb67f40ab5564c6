// A domain's error codes against the protocol document: each code distinct and described
// (never `internal`), and x-domain-error-codes.<domain> of asyncapi.yaml listing exactly them.
// The test target defines SUPERAPP_WS_ASYNCAPI_PATH.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "protocols/error_catalogue.hpp"

namespace superapp::testing {

// The wire codes the document lists for `domain`.
inline std::set<std::string> documented_error_codes(std::string_view domain) {
  std::ifstream in{SUPERAPP_WS_ASYNCAPI_PATH};
  REQUIRE(in.good());
  std::string text, line;
  while (std::getline(in, line)) {  // JSON-compatible YAML: drop the comment lines
    auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    text.append(line).push_back('\n');
  }
  auto doc = boost::json::parse(text);
  std::set<std::string> documented;
  for (const auto& c : doc.at_pointer("/info/x-domain-error-codes/" + std::string{domain}).as_array())
    documented.emplace(c.as_string());
  return documented;
}

// `make(code)` makes the caf::error of each code 1..last of the domain's enum.
template <class Errc, class Make>
void check_error_codes(std::string_view domain, Errc last, Make make) {
  std::set<std::string> codes;
  for (int c = 1; c <= static_cast<int>(last); ++c) {
    auto d = superapp::describe(make(static_cast<Errc>(c)));
    CHECK(d.wire_code != "internal");
    codes.emplace(d.wire_code);
  }
  CHECK(codes.size() == static_cast<std::size_t>(last));
  auto documented = documented_error_codes(domain);
  for (const auto& c : codes) CHECK_MESSAGE(documented.contains(c), "undocumented: " << c);
  for (const auto& c : documented) CHECK_MESSAGE(codes.contains(c), "not a " << domain << " code: " << c);
}

}  // namespace superapp::testing
