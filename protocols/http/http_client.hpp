// A small blocking HTTP/1.1 client for calls to providers (SMS, KYC, billers) on loopback or a
// private network: one request per connection, a hard deadline for the whole exchange.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace superapp::http {

// http://HOST:PORT[/base/path]; no TLS here (providers on the public internet go through an
// egress proxy that terminates it).
struct endpoint {
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/', may be empty
};

std::optional<endpoint> parse_url(std::string_view url);

struct response {
  int status = 0;
  std::string body;
};

// Either a response (any status) or why none came: "connect failed", "timed out", ... (safe to
// log: never the request body).
struct outcome {
  std::optional<response> reply;
  std::string failure;
  explicit operator bool() const { return reply.has_value(); }
};

// Blocks the calling thread for at most `deadline` (connect, write and read together). Call it
// from a thread of its own (a detached actor), never from a CAF scheduler or Asio io thread.
// `headers` go out as given (a provider's signature headers, say); one named like a header the
// client sets itself replaces it.
outcome post_json(const endpoint& at, std::string_view path, std::string_view json_body,
                  std::chrono::milliseconds deadline,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});
outcome get(const endpoint& at, std::string_view path_and_query,
            std::chrono::milliseconds deadline,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
outcome del(const endpoint& at, std::string_view path, std::chrono::milliseconds deadline,
            const std::vector<std::pair<std::string, std::string>>& headers = {});

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string url_encode(std::string_view text);

// Decodes a query value: %XX escapes, and '+' as a space (form encoding); nullopt for a broken
// escape ('%' not followed by two hex digits).
std::optional<std::string> url_decode(std::string_view text);

}  // namespace superapp::http
