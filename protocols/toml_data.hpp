// Domain data files (tier policy, partner registry, KYC levels) as TOML: one root table each.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace superapp {

// `text` as a TOML document whose only top-level key may be `root`; nullopt with `error`
// ("<root>: not TOML: ...", "<root>: unknown key 'x'") otherwise. `what` prefixes the errors.
inline std::optional<toml::table> read_toml_data(std::string_view text, std::string_view what,
                                                 std::string_view root, std::string& error) {
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const toml::parse_error& e) {
    error = std::string{what} + ": not TOML: " + std::string{e.description()};
    return std::nullopt;
  }
  for (const auto& [key, value] : doc) {
    if (key.str() != root) {
      error = std::string{what} + ": unknown key '" + std::string{key.str()} + "'";
      return std::nullopt;
    }
  }
  return doc;
}

}  // namespace superapp
