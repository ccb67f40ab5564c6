// The dashboard's credentials and sessions, and its HTTP routes over real loopback HTTP with a
// fake node behind the callbacks.
#include "gateway/admin/dashboard_auth.hpp"

#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/admin/admin_listener.hpp"
#include "gateway/admin/ops_monitor.hpp"
#include "supervisors/metrics.hpp"
#include "tests/support/temp_dir.hpp"

using namespace superapp;
using namespace superapp::admin;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

struct reply {
  unsigned status = 0;
  std::string body;
  std::string set_cookie;
  std::string location;
  std::string csp;
  std::string content_type;
};

reply exchange(std::uint16_t port, http::verb method, const std::string& target,
               const std::string& body = {},
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  net::io_context io;
  beast::tcp_stream stream{io};
  stream.expires_after(std::chrono::seconds{20});
  stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {res.result_int(),
          res.body(),
          std::string{res[http::field::set_cookie]},
          std::string{res[http::field::location]},
          std::string{res["Content-Security-Policy"]},
          std::string{res[http::field::content_type]}};
}

std::string cookie_of(const reply& r) { return r.set_cookie.substr(0, r.set_cookie.find(';')); }

std::string field(const std::string& json, const char* key) {
  auto v = boost::json::parse(json);
  return std::string{v.as_object().at(key).as_string()};
}

}  // namespace

TEST_CASE("the operators file: parsed strictly, written whole, read again when it changes") {
  std::string error;
  CHECK_FALSE(parse_operators("alice operator\n", error));
  CHECK(error == "line 1: expected NAME ROLE HASH");
  CHECK_FALSE(parse_operators("# c\nalice admin $argon2id$x\n", error));
  CHECK(error == "line 2: role: viewer or operator");
  CHECK_FALSE(parse_operators("al/ice viewer $argon2id$x\n", error));
  auto ok = parse_operators("\n# operators\nalice viewer $argon2id$x\n", error);
  REQUIRE(ok);
  CHECK(ok->size() == 1);

  superapp::testing::temp_dir dir;
  auto file = dir.path / "operators";
  operator_directory directory{file};
  CHECK(directory.size() == 0);
  CHECK_FALSE(check_password(directory.find("alice"), "whatever-password"));
  REQUIRE(put_operator(file, {"alice", "viewer", hash_operator_password("alice-password")}, error));
  CHECK(directory.size() == 1);
  CHECK(check_password(directory.find("alice"), "alice-password"));
  CHECK_FALSE(check_password(directory.find("alice"), "alice-passwore"));
  // Replacing keeps one account per name.
  REQUIRE(put_operator(file, {"alice", "operator", hash_operator_password("new-password-1")}, error));
  CHECK(directory.size() == 1);
  CHECK(directory.find("alice")->role == "operator");
  CHECK(std::filesystem::status(file).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK_FALSE(put_operator(file, {"bob", "root", "x"}, error));
  CHECK(random_password().size() == 24);
  CHECK(random_password() != random_password());
}

TEST_CASE("sessions end when idle, when old, or at log-out; the brake counts per name") {
  session_table table;
  auto t0 = session_table::clock::now();
  auto cookie = table.open("alice", "operator", t0);
  auto s = table.find(cookie, t0);
  REQUIRE(s);
  CHECK(s->role == "operator");
  CHECK(s->csrf.size() == 43);
  CHECK_FALSE(table.find(cookie + "x", t0));
  CHECK(table.find(cookie, t0 + std::chrono::minutes{29}));
  CHECK_FALSE(table.find(cookie, t0 + std::chrono::minutes{60}));
  auto other = table.open("bob", "viewer", t0);
  table.close(other);
  CHECK_FALSE(table.find(other, t0));

  for (int i = 0; i < 5; ++i) {
    CHECK(table.may_try("mallory", t0));
    table.failed("mallory", t0);
  }
  CHECK_FALSE(table.may_try("mallory", t0));
  CHECK(table.may_try("alice", t0));
  CHECK(table.may_try("mallory", t0 + std::chrono::seconds{61}));

  CHECK(cookie_value("a=1; superapp_dashboard=xyz; b=2", "superapp_dashboard") == "xyz");
  CHECK(cookie_value("a=1", "superapp_dashboard").empty());
  CHECK(same_secret("abc", "abc"));
  CHECK_FALSE(same_secret("abc", "abd"));
}

TEST_CASE("the dashboard's routes: page, log-in, session, CSRF, actions, stream, log-out") {
  superapp::testing::temp_dir dir;
  auto file = dir.path / "operators";
  std::string error;
  REQUIRE(put_operator(file, {"alice", "operator", hash_operator_password("alice-password")}, error));
  REQUIRE(put_operator(file, {"victor", "viewer", hash_operator_password("victor-password")}, error));

  std::mutex mutex;
  std::vector<action_request> actions;
  admin_callbacks callbacks;
  callbacks.fetch_snapshot = [](text_completion done) { done(R"({"nodes":[{"node":"n1"}]})"); };
  callbacks.fetch_audit = [](std::int64_t limit, text_completion done) {
    done(R"({"entries":[],"limit":)" + std::to_string(limit) + "}");
  };
  callbacks.run_action = [&](action_request r, action_completion done) {
    std::lock_guard<std::mutex> guard{mutex};
    actions.push_back(r);
    if (r.role != "operator") return done({403, "forbidden", "viewers cannot act", 9});
    done({200, {}, "done", 8});
  };
  metrics::registry registry;
  admin_config config;
  config.operator_token = "operator-token-for-tests";
  config.operators_file = file.string();
  config.stream_interval_ms = 50;
  admin_listener listener{config, callbacks, registry};
  auto endpoint = listener.start();
  REQUIRE(endpoint);
  const auto port = endpoint->port;
  const std::vector<std::pair<std::string, std::string>> json{{"Content-Type", "application/json"}};

  auto root = exchange(port, http::verb::get, "/dashboard");
  CHECK(root.status == 302);
  CHECK(root.location == "/dashboard/");
  auto page = exchange(port, http::verb::get, "/dashboard/");
  CHECK(page.status == 200);
  CHECK(page.content_type.starts_with("text/html"));
  CHECK(page.csp.find("default-src 'self'") != std::string::npos);
  CHECK(exchange(port, http::verb::get, "/dashboard/app.js").status == 200);
  CHECK(exchange(port, http::verb::get, "/dashboard/nothing.js").status == 404);

  // Bad log-ins.
  CHECK(exchange(port, http::verb::get, "/dashboard/api/login").status == 405);
  CHECK(exchange(port, http::verb::post, "/dashboard/api/login", "not json").status == 400);
  auto wrong = exchange(port, http::verb::post, "/dashboard/api/login",
                        R"({"name":"alice","password":"guess"})");
  CHECK(wrong.status == 401);
  CHECK(wrong.body.find("wrong operator name or password") != std::string::npos);
  CHECK(wrong.set_cookie.empty());
  CHECK(exchange(port, http::verb::post, "/dashboard/api/login",
                 R"({"name":"nobody","password":"guess"})")
            .status == 401);
  CHECK(exchange(port, http::verb::post, "/dashboard/api/login",
                 R"({"name":"alice","password":"alice-password"})",
                 {{"Origin", "http://evil.example"}})
            .status == 403);

  // No session, no API.
  CHECK(exchange(port, http::verb::get, "/dashboard/api/session").status == 401);
  CHECK(exchange(port, http::verb::get, "/dashboard/api/stream").status == 401);

  auto login = exchange(port, http::verb::post, "/dashboard/api/login",
                        R"({"name":"alice","password":"alice-password"})", json);
  REQUIRE(login.status == 200);
  CHECK(login.set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(login.set_cookie.find("SameSite=Strict") != std::string::npos);
  const auto cookie = cookie_of(login);
  const auto csrf = field(login.body, "csrf");
  CHECK(field(login.body, "role") == "operator");
  auto session = exchange(port, http::verb::get, "/dashboard/api/session", {}, {{"Cookie", cookie}});
  CHECK(session.status == 200);
  CHECK(field(session.body, "csrf") == csrf);

  // Actions need the CSRF header and a well-formed body.
  const std::string crash = R"({"action":"crash","node":"n1","path":"root/banking/front_door"})";
  auto forged = exchange(port, http::verb::post, "/dashboard/api/action", crash, {{"Cookie", cookie}});
  CHECK(forged.status == 403);
  CHECK(forged.body.find("missing or wrong CSRF token") != std::string::npos);
  CHECK(exchange(port, http::verb::post, "/dashboard/api/action", crash,
                 {{"Cookie", cookie}, {"X-CSRF-Token", csrf + "x"}})
            .status == 403);
  auto bad = exchange(port, http::verb::post, "/dashboard/api/action", R"({"action":7})",
                      {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  CHECK(bad.status == 400);
  CHECK(bad.body.find("action: a string") != std::string::npos);
  {
    std::lock_guard<std::mutex> guard{mutex};
    CHECK(actions.empty());
  }
  auto done = exchange(port, http::verb::post, "/dashboard/api/action", crash,
                       {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  CHECK(done.status == 200);
  CHECK(done.body == R"({"ok":true,"audit_id":8,"message":"done"})");
  {
    std::lock_guard<std::mutex> guard{mutex};
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].operator_name == "alice");  // from the session, never from the body
    CHECK(actions[0].role == "operator");
    CHECK(actions[0].path == "root/banking/front_door");
  }
  CHECK(exchange(port, http::verb::get, "/dashboard/api/audit?limit=7", {}, {{"Cookie", cookie}})
            .body == R"({"entries":[],"limit":7})");
  CHECK(exchange(port, http::verb::get, "/dashboard/api/audit?limit=0", {}, {{"Cookie", cookie}})
            .status == 400);

  // A viewer's action reaches the node as a viewer's (which refuses and audits it).
  auto viewer = exchange(port, http::verb::post, "/dashboard/api/login",
                         R"({"name":"victor","password":"victor-password"})");
  REQUIRE(viewer.status == 200);
  auto refused = exchange(port, http::verb::post, "/dashboard/api/action", crash,
                          {{"Cookie", cookie_of(viewer)}, {"X-CSRF-Token", field(viewer.body, "csrf")}});
  CHECK(refused.status == 403);
  CHECK(refused.body.find("viewers cannot act") != std::string::npos);

  // The stream: server-sent events, the first a snapshot.
  {
    net::io_context io;
    beast::tcp_stream stream{io};
    stream.expires_after(std::chrono::seconds{20});
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    http::request<http::string_body> req{http::verb::get, "/dashboard/api/stream", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::cookie, cookie);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    http::read_header(stream, buffer, parser);
    CHECK(parser.get().result_int() == 200);
    CHECK(parser.get()[http::field::content_type].starts_with("text/event-stream"));
    while (parser.get().body().find("\n\n") == std::string::npos) http::read_some(stream, buffer, parser);
    CHECK(parser.get().body().starts_with("event: snapshot\ndata: {\"nodes\":[{\"node\":\"n1\"}]}\n\n"));
  }

  // Log-out ends the session.
  CHECK(exchange(port, http::verb::post, "/dashboard/api/logout", "{}", {{"Cookie", cookie}}).status ==
        403);
  auto out = exchange(port, http::verb::post, "/dashboard/api/logout", "{}",
                      {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  CHECK(out.status == 200);
  CHECK(out.set_cookie.find("Max-Age=0") != std::string::npos);
  CHECK(exchange(port, http::verb::get, "/dashboard/api/session", {}, {{"Cookie", cookie}}).status ==
        401);

  // Guessing is braked per name.
  for (int i = 0; i < 5; ++i)
    exchange(port, http::verb::post, "/dashboard/api/login", R"({"name":"victor","password":"x"})");
  auto braked = exchange(port, http::verb::post, "/dashboard/api/login",
                         R"({"name":"victor","password":"victor-password"})");
  CHECK(braked.status == 429);
  CHECK(field(boost::json::serialize(boost::json::parse(braked.body).as_object().at("error")), "code") ==
        "rate_limited");

  // The peer routes take the operator token.
  CHECK(exchange(port, http::verb::get, "/api/snapshot").status == 401);
  listener.stop();
}

TEST_CASE("latency quantiles interpolate inside the bucket that holds the rank") {
  const std::vector<std::int64_t> bounds{1'000, 2'000, 4'000};
  CHECK(quantile_ms(bounds, {0, 0, 0, 0}, 0.5) < 0);
  CHECK(quantile_ms(bounds, {10, 0, 0, 0}, 0.5) == doctest::Approx(0.5));
  CHECK(quantile_ms(bounds, {0, 10, 0, 0}, 0.5) == doctest::Approx(1.5));
  CHECK(quantile_ms(bounds, {50, 0, 50, 0}, 0.99) == doctest::Approx(3.96));
  CHECK(quantile_ms(bounds, {0, 0, 0, 5}, 0.5) == doctest::Approx(4.0));  // overflow: top bound
}
