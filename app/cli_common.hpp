// What the command-line clients (`superapp admin`, `superapp client`) share.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace superapp::app {

struct endpoint_url {
  std::string host;
  std::string port;
  std::string path;
};

// `scheme://host:port[/path]` with a numeric port; the path defaults to `default_path`.
std::optional<endpoint_url> parse_url(std::string_view url, std::string_view scheme,
                                      std::string_view default_path);

// A string field of DIR/node.json, the file a running node writes for the clients on this
// machine; empty when the file or the field is missing.
std::string node_file_field(const std::string& data_dir, const char* field);

// The whole text of a file; empty when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace superapp::app
