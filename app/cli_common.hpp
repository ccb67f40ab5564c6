// What the command-line clients (`superapp admin`, `superapp client`) share.
#pragma once

#include <cstdint>
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

struct http_answer {
  int status = 0;
  std::string body;
};

// GET `path` from `target` (5 s at most), with `Authorization: Bearer token` when a token is
// given. False with `failure` set when there is no answer.
bool http_get(const endpoint_url& target, const std::string& token, const std::string& path,
              http_answer& answer, std::string& failure);

// The operator token `superapp run` keeps in DIR/operator-token; empty when there is none.
std::string operator_token(const std::string& data_dir);

// A whole decimal integer within [min, max] (command-line option values); false otherwise.
bool parse_integer(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out);

// The whole text of a file; empty when it cannot be read.
std::string read_text_file(const std::string& path);

// Creates `path` (and its directory) readable by its owner only — mode 0600 from the moment it
// exists, never widened afterwards — with `content`; false with `failure` if it exists already
// or cannot be written. For keys the node makes itself.
bool write_private_file(const std::string& path, std::string_view content, std::string& failure);

}  // namespace superapp::app
