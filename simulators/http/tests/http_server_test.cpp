// The simulators' HTTP server over real loopback connections: what the handler is given, what
// the client gets back, keep-alive, the body limit, and stop() closing what is open.
#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocols/http/http_client.hpp"
#include "simulators/http/http_server.hpp"

using namespace superapp;
using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// Keeps what the handler saw; the handler runs on the server's io thread.
struct recorder {
  std::mutex mutex;
  std::vector<sim::http_query> seen;

  sim::http_server::handler handler(sim::http_answer answer) {
    return [this, answer](const sim::http_query& query) {
      std::lock_guard<std::mutex> guard{mutex};
      seen.push_back(query);
      return answer;
    };
  }
  std::vector<sim::http_query> queries() {
    std::lock_guard<std::mutex> guard{mutex};
    return seen;
  }
};

http::endpoint started(sim::http_server& server) {
  std::string failure;
  auto port = server.start("127.0.0.1", 0, failure);
  REQUIRE_MESSAGE(port, failure);
  auto at = http::parse_url(server.base_url());
  REQUIRE(at);
  return *at;
}

bhttp::response<bhttp::string_body> exchange(tcp::socket& socket, const std::string& target) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return res;
}

}  // namespace

TEST_CASE("the handler gets the method, path, decoded query, lower-cased headers and body") {
  recorder seen;
  sim::http_server server{seen.handler({201, "made", "text/plain"})};
  auto at = started(server);
  auto r = http::post_json(at, "/things?name=J%C3%B6rg+x&broken=%zz&flag", R"({"a":1})", 2000ms,
                           {{"X-Custom-Thing", "Value"}});
  REQUIRE(r);
  CHECK(r.reply->status == 201);
  CHECK(r.reply->body == "made");
  auto queries = seen.queries();
  REQUIRE(queries.size() == 1);
  const auto& q = queries.front();
  CHECK(q.method == "POST");
  CHECK(q.path == "/things");
  CHECK(q.query == std::map<std::string, std::string>{{"name", "J\xC3\xB6rg x"}, {"flag", ""}});
  CHECK(q.headers.at("x-custom-thing") == "Value");
  CHECK(q.headers.at("content-type") == "application/json");
  CHECK(q.body == R"({"a":1})");
}

TEST_CASE("one keep-alive connection carries several requests") {
  recorder seen;
  sim::http_server server{seen.handler({200, R"({"ok":true})"})};
  auto at = started(server);
  boost::asio::io_context io;
  tcp::socket socket{io};
  socket.connect({boost::asio::ip::make_address(at.host),
                  static_cast<std::uint16_t>(std::stoi(at.port))});
  auto first = exchange(socket, "/one");
  CHECK(first.result_int() == 200);
  CHECK(first.keep_alive());
  CHECK(first[bhttp::field::content_type] == "application/json");
  auto second = exchange(socket, "/two");
  CHECK(second.result_int() == 200);
  auto queries = seen.queries();
  REQUIRE(queries.size() == 2);
  CHECK(queries[1].path == "/two");
}

TEST_CASE("a body over 1 MiB gets no answer, and a handler that throws is a 500") {
  sim::http_server server{[](const sim::http_query& query) -> sim::http_answer {
    if (query.path == "/throw") throw std::runtime_error{"handler bug"};
    return {200, "{}"};
  }};
  auto at = started(server);
  auto big = http::post_json(at, "/big", std::string(2 * 1024 * 1024, 'x'), 5000ms);
  CHECK_FALSE(big);
  auto limit = http::post_json(at, "/big", std::string(1024 * 1024, 'x'), 5000ms);
  REQUIRE(limit);
  CHECK(limit.reply->status == 200);
  auto thrown = http::post_json(at, "/throw", "{}", 2000ms);
  REQUIRE(thrown);
  CHECK(thrown.reply->status == 500);
}

TEST_CASE("stop closes the listener and the connections still open, and may be called twice") {
  recorder seen;
  sim::http_server server{seen.handler({200, "{}"})};
  auto at = started(server);
  boost::asio::io_context io;
  tcp::socket socket{io};
  socket.connect({boost::asio::ip::make_address(at.host),
                  static_cast<std::uint16_t>(std::stoi(at.port))});
  CHECK(exchange(socket, "/before").result_int() == 200);
  server.stop();
  server.stop();
  char byte = 0;
  boost::system::error_code ec;
  socket.read_some(boost::asio::buffer(&byte, 1), ec);
  CHECK(ec);  // eof or reset: the server closed its end
  auto down = http::get(at, "/after", 2000ms);
  CHECK_FALSE(down);
  CHECK(down.failure == "connect failed");

  sim::http_server unbound{seen.handler({200, "{}"})};
  std::string failure;
  CHECK_FALSE(unbound.start("not-an-address", 0, failure));
  CHECK(failure == "bad bind address not-an-address");
}
