// The SMS simulator over real loopback HTTP, through the client identity uses: messages in,
// last code out, an outage as 503, and the client's deadline against a server that never answers.
#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include "protocols/http/http_client.hpp"
#include "simulators/sms/sms_simulator.hpp"

using namespace superapp;
using namespace std::chrono_literals;

TEST_CASE("a message posted to the simulator can be read back with its code") {
  sim::sms_simulator sms;
  std::string failure;
  auto port = sms.start("127.0.0.1", 0, failure);
  REQUIRE(port);
  CHECK(*port != 0);
  auto at = http::parse_url(sms.base_url());
  REQUIRE(at);
  auto posted = http::post_json(*at, "/v1/messages",
                                R"({"to":"+447700900123","text":"Your code is 042519."})", 2000ms);
  REQUIRE(posted);
  CHECK(posted.reply->status == 202);
  auto last = http::get(*at, "/v1/messages/last?to=" + http::url_encode("+447700900123"), 2000ms);
  REQUIRE(last);
  CHECK(last.reply->status == 200);
  auto body = boost::json::parse(last.reply->body).as_object();
  CHECK(body.at("code").as_string() == "042519");
  CHECK(body.at("count").as_int64() == 1);
  CHECK(sms.messages_received() == 1);
  auto none = http::get(*at, "/v1/messages/last?to=%2B10000000000", 2000ms);
  REQUIRE(none);
  CHECK(none.reply->status == 404);
  auto bad = http::post_json(*at, "/v1/messages", R"({"to":5})", 2000ms);
  REQUIRE(bad);
  CHECK(bad.reply->status == 400);
}

TEST_CASE("an outage is a 503 and a stopped simulator refuses connections") {
  sim::sms_simulator sms;
  std::string failure;
  REQUIRE(sms.start("127.0.0.1", 0, failure));
  auto at = *http::parse_url(sms.base_url());
  sms.set_failing(true);
  auto r = http::post_json(at, "/v1/messages", R"({"to":"+447700900123","text":"x"})", 2000ms);
  REQUIRE(r);
  CHECK(r.reply->status == 503);
  sms.stop();
  auto down = http::post_json(at, "/v1/messages", R"({"to":"+447700900123","text":"x"})", 2000ms);
  CHECK_FALSE(down);
  CHECK(down.failure == "connect failed");
}

TEST_CASE("the client gives up at its deadline when the server never answers") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  http::endpoint at{"127.0.0.1", std::to_string(silent.local_endpoint().port()), ""};
  auto started = std::chrono::steady_clock::now();
  auto r = http::post_json(at, "/v1/messages", "{}", 200ms);
  auto took = std::chrono::steady_clock::now() - started;
  CHECK_FALSE(r);
  CHECK(r.failure == "timed out");
  CHECK(took < 2s);
}

TEST_CASE("provider URLs parse into host, port and base path") {
  auto e = http::parse_url("http://127.0.0.1:8099/sms/");
  REQUIRE(e);
  CHECK(e->host == "127.0.0.1");
  CHECK(e->port == "8099");
  CHECK(e->base_path == "/sms");
  CHECK_FALSE(http::parse_url("https://x:1"));
  CHECK_FALSE(http::parse_url("http://nohost"));
  CHECK_FALSE(http::parse_url("http://h:12a"));
  CHECK(sim::otp_code_in("code 1234567 or 123456!") == "123456");
}
