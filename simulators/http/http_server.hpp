// The HTTP/1.1 server the provider simulators share: Beast on one io thread of its own, every
// request handed to one function that answers it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace superapp::sim {

struct http_query {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', as sent
  // Query parameters, url-decoded; a parameter with a broken escape is left out, and of a name
  // given twice the last one counts.
  std::map<std::string, std::string> query;
  // Header names lower-cased; a header sent twice has its values joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;
};

struct http_answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// Keep-alive connections, a 30 s read timeout and a 1 MiB body limit (a connection breaking
// either is closed without an answer). The handler runs on the io thread, one request at a time;
// an exception out of it is answered 500 rather than ending the thread.
class http_server {
 public:
  using handler = std::function<http_answer(const http_query&)>;

  explicit http_server(handler on_query);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds (port 0: any free port) and serves until stop(). Returns the port, or nullopt with
  // `failure` set.
  std::optional<std::uint16_t> start(const std::string& bind_address, std::uint16_t port,
                                     std::string& failure);
  // Closes the listener and every open connection; safe to call twice.
  void stop();

  std::string base_url() const;  // http://ADDRESS:PORT

 private:
  struct running;
  handler on_query_;
  std::unique_ptr<running> running_;
  std::thread thread_;
  std::string address_;
  std::uint16_t port_ = 0;
};

}  // namespace superapp::sim
