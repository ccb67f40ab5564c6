// URL parsing and the node file, for the command-line clients.
#include "app/cli_common.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace superapp::app {

std::optional<endpoint_url> parse_url(std::string_view url, std::string_view scheme,
                                      std::string_view default_path) {
  if (!url.starts_with(scheme)) return std::nullopt;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  endpoint_url out;
  out.path = slash == std::string_view::npos ? std::string{default_path}
                                             : std::string{rest.substr(slash)};
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size())
    return std::nullopt;
  out.host = authority.substr(0, colon);
  out.port = authority.substr(colon + 1);
  if (out.port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string node_file_field(const std::string& data_dir, const char* field) {
  auto path = std::filesystem::path{data_dir} / "node.json";
  boost::system::error_code ec;
  auto info = boost::json::parse(read_text_file(path.string()), ec);
  if (ec || !info.is_object()) return {};
  auto* value = info.as_object().if_contains(field);
  return value != nullptr && value->is_string() ? std::string{value->as_string()} : std::string{};
}

}  // namespace superapp::app
