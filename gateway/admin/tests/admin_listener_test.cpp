// The admin listener over real loopback HTTP, answered by a fake node on its own thread.
#include "gateway/admin/admin_listener.hpp"

#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/admin/tree_json.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/tree.hpp"

using namespace superapp;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto operator_token = "s3cret-operator-token";
// Only a bound against a hung test; no test waits for it to pass.
constexpr auto client_deadline = std::chrono::seconds(20);

// Designated initializers would warn (-Wmissing-field-initializers) for every string left out.
sup::tree_node make_node(std::string name, std::string kind, std::string state) {
  sup::tree_node node;
  node.name = std::move(name);
  node.kind = std::move(kind);
  node.state = std::move(state);
  node.restart = "permanent";
  return node;
}

// Stands in for the node: answers on its own thread, as an actor would.
class fake_node {
 public:
  fake_node() : thread_([this] { run(); }) {}
  ~fake_node() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
    }
    wakeup_.notify_all();
    thread_.join();
  }

  admin::admin_callbacks callbacks() {
    admin::admin_callbacks out;
    out.fetch_tree = [this](admin::admin_callbacks::tree_completion done) {
      std::lock_guard<std::mutex> guard{mutex_};
      if (!answer_) {
        parked_tree_.push_back(std::move(done));
        parked_changed_.notify_all();
        return;
      }
      jobs_.push_back([this, done = std::move(done), tree = tree_] {
        answered_on_ = std::this_thread::get_id();
        done(tree);
      });
      wakeup_.notify_all();
    };
    out.fetch_readiness = [this](admin::admin_callbacks::readiness_completion done) {
      std::lock_guard<std::mutex> guard{mutex_};
      jobs_.push_back([done = std::move(done), report = readiness_] { done(report); });
      wakeup_.notify_all();
    };
    return out;
  }

  void set_readiness(admin::readiness_report report) {
    std::lock_guard<std::mutex> guard{mutex_};
    readiness_ = std::move(report);
  }
  void stop_answering() {
    std::lock_guard<std::mutex> guard{mutex_};
    answer_ = false;
  }
  // Waits until a tree request is parked, then hands its completion out.
  admin::admin_callbacks::tree_completion take_parked_tree() {
    std::unique_lock<std::mutex> lock{mutex_};
    parked_changed_.wait(lock, [this] { return !parked_tree_.empty(); });
    auto done = std::move(parked_tree_.front());
    parked_tree_.pop_front();
    return done;
  }
  std::thread::id thread_id() const { return thread_.get_id(); }
  std::thread::id answered_on() {
    std::lock_guard<std::mutex> guard{mutex_};
    return answered_on_;
  }

  sup::tree_node tree_ = sample_tree();

 private:
  static sup::tree_node sample_tree() {
    auto store = make_node("store", "worker", "running");
    store.mailbox_depth = 4;
    store.uptime_ms = 2'000;
    auto banking = make_node("banking", "supervisor", "running");
    banking.strategy = "rest_for_one";
    banking.intensity_max = 5;
    banking.intensity_period_ms = 10'000;
    banking.children = {store};
    auto root = make_node("root", "supervisor", "running");
    root.strategy = "one_for_one";
    root.children = {banking};
    return root;
  }

  void run() {
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      wakeup_.wait(lock, [this] { return done_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::condition_variable parked_changed_;
  std::deque<std::function<void()>> jobs_;
  std::deque<admin::admin_callbacks::tree_completion> parked_tree_;
  admin::readiness_report readiness_;
  std::thread::id answered_on_;
  bool answer_ = true;
  bool done_ = false;
  std::thread thread_;  // last: starts after every member it reads exists
};

struct reply {
  beast::error_code error;
  http::response<http::string_body> message;
  unsigned status() const { return message.result_int(); }
  boost::json::value json() const { return boost::json::parse(message.body()); }
};

// A Beast client driven by its own io_context so every operation has a deadline.
class test_client {
 public:
  explicit test_client(std::uint16_t port) : stream_(io_) {
    stream_.expires_after(client_deadline);
    beast::error_code ec;
    bool done = false;
    stream_.async_connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port},
                          [&](beast::error_code e) {
                            ec = e;
                            done = true;
                          });
    drive();
    REQUIRE(done);
    REQUIRE(!ec);
  }

  beast::error_code send(http::request<http::string_body> request) {
    request.prepare_payload();
    beast::error_code ec = net::error::would_block;
    stream_.expires_after(client_deadline);
    http::async_write(stream_, request, [&](beast::error_code e, std::size_t) { ec = e; });
    drive();
    return ec;
  }

  reply receive() {
    reply out;
    out.error = net::error::would_block;
    stream_.expires_after(client_deadline);
    http::async_read(stream_, buffer_, out.message,
                     [&](beast::error_code e, std::size_t) { out.error = e; });
    drive();
    return out;
  }

  reply get(std::string target, std::optional<std::string> token = operator_token,
            http::verb method = http::verb::get) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (token) request.set(http::field::authorization, "Bearer " + *token);
    auto ec = send(std::move(request));
    if (ec) return reply{ec, {}};
    return receive();
  }

  // True when the server has closed the connection (end of stream, or reset).
  bool closed_by_server() {
    beast::error_code ec = net::error::would_block;
    char byte = 0;
    stream_.expires_after(client_deadline);
    stream_.async_read_some(net::buffer(&byte, 1),
                            [&](beast::error_code e, std::size_t) { ec = e; });
    drive();
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  void drive() {
    io_.restart();
    io_.run();
  }

  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

struct listener_fixture {
  metrics::registry registry;
  fake_node node;
  admin::admin_config config;
  std::optional<admin::admin_listener> listener;
  std::uint16_t port = 0;

  listener_fixture() {
    config.operator_token = operator_token;
    config.io_threads = 2;
  }
  void start() {
    listener.emplace(config, node.callbacks(), registry);
    auto endpoint = listener->start();
    REQUIRE(endpoint);
    CHECK(endpoint->address == "127.0.0.1");
    REQUIRE(endpoint->port != 0);
    port = endpoint->port;
  }
};

std::string error_code_of(const reply& r) {
  return std::string{r.json().at("error").at("code").as_string()};
}

}  // namespace

TEST_CASE_FIXTURE(listener_fixture, "healthz answers 200 without a token") {
  start();
  test_client client{port};
  auto r = client.get("/healthz", std::nullopt);
  REQUIRE(!r.error);
  CHECK(r.status() == 200);
  CHECK(r.message.body() == R"({"status":"ok"})");
  CHECK(r.message[http::field::content_type] == "application/json");
  CHECK(r.message.keep_alive());
}

TEST_CASE_FIXTURE(listener_fixture, "a request without the token or with a wrong one gets 401") {
  start();
  test_client client{port};
  for (std::optional<std::string> token :
       {std::optional<std::string>{}, std::optional<std::string>{"wrong"},
        std::optional<std::string>{std::string{operator_token} + "x"},
        std::optional<std::string>{""}}) {
    auto r = client.get("/api/tree", token);
    REQUIRE(!r.error);
    CHECK(r.status() == 401);
    CHECK(error_code_of(r) == "unauthorized");
    CHECK(r.message[http::field::www_authenticate].starts_with("Bearer"));
    // The reply never echoes what was sent.
    CHECK(r.message.body().find(operator_token) == std::string::npos);
  }
  // The same connection still serves a correct token afterwards.
  CHECK(client.get("/api/tree").status() == 200);
}

TEST_CASE_FIXTURE(listener_fixture, "the bearer scheme is matched case-insensitively") {
  start();
  test_client client{port};
  http::request<http::string_body> request{http::verb::get, "/api/tree", 11};
  request.set(http::field::authorization, std::string{"bEaReR "} + operator_token);
  REQUIRE(!client.send(request));
  CHECK(client.receive().status() == 200);
}

TEST_CASE_FIXTURE(listener_fixture,
                  "metrics serves Prometheus text with the registry and the tree") {
  auto transfers = registry.add_counter("superapp_transfers_total", "Transfers", {{"code", "ok"}});
  transfers.increment(42);
  start();
  test_client client{port};
  auto r = client.get("/metrics");
  REQUIRE(!r.error);
  CHECK(r.status() == 200);
  CHECK(r.message[http::field::content_type].starts_with("text/plain; version=0.0.4"));
  const auto& body = r.message.body();
  CHECK(body.find("superapp_transfers_total{code=\"ok\"} 42\n") != std::string::npos);
  CHECK(body.find("superapp_actor_mailbox_depth{path=\"root/banking/store\"} 4\n") !=
        std::string::npos);
  CHECK(body.find("superapp_admin_tree_scrape_success 1\n") != std::string::npos);
  CHECK(body.find("superapp_admin_requests_total{route=\"metrics\"} 1\n") != std::string::npos);
  CHECK(client.get("/metrics", std::nullopt).status() == 401);
}

TEST_CASE_FIXTURE(listener_fixture, "the tree is served as JSON answered from the node's thread") {
  start();
  test_client client{port};
  auto r = client.get("/api/tree");
  REQUIRE(!r.error);
  CHECK(r.status() == 200);
  CHECK(node.answered_on() == node.thread_id());
  auto root = r.json().as_object();
  CHECK(root.at("name") == "root");
  CHECK(root.at("strategy") == "one_for_one");
  auto& banking = root.at("children").as_array().at(0).as_object();
  CHECK(banking.at("name") == "banking");
  CHECK(banking.at("intensity").at("max") == 5);
  CHECK(banking.at("intensity").at("period_ms") == 10'000);
  auto& store = banking.at("children").as_array().at(0).as_object();
  CHECK(store.at("name") == "store");
  CHECK(store.at("kind") == "worker");
  CHECK(store.at("mailbox_depth") == 4);
  CHECK(store.at("uptime_ms") == 2'000);
  CHECK(store.at("strategy").is_null());
  CHECK(store.at("intensity").is_null());
  CHECK(store.at("last_exit_reason").is_null());
  CHECK(store.at("children").as_array().empty());
}

TEST_CASE("to_json gives null for an unprobed mailbox and the text of the last exit") {
  auto worker = make_node("w", "worker", "failed");
  worker.last_exit_reason = "runtime_error";
  auto json = admin::to_json(worker).as_object();
  CHECK(json.at("mailbox_depth").is_null());
  CHECK(json.at("last_exit_reason") == "runtime_error");
}

TEST_CASE_FIXTURE(listener_fixture, "readyz answers 503 naming the domains not up, then 200") {
  node.set_readiness({{"banking", true, "running"}, {"rewards", false, "restarting"}});
  start();
  test_client client{port};
  auto r = client.get("/readyz");
  REQUIRE(!r.error);
  CHECK(r.status() == 503);
  CHECK(r.json().at("status") == "not_ready");
  CHECK(r.json().at("not_ready") == boost::json::array{"rewards"});

  node.set_readiness({{"banking", true, "running"}, {"rewards", true, "running"}});
  r = client.get("/readyz");
  CHECK(r.status() == 200);
  CHECK(r.json().at("status") == "ready");
  CHECK(r.json().at("not_ready").as_array().empty());
  CHECK(client.get("/readyz", std::nullopt).status() == 401);
}

TEST_CASE("readiness derived from the tree marks every child of the root not running as down") {
  auto root = make_node("root", "supervisor", "running");
  root.children = {make_node("banking", "supervisor", "running"),
                   make_node("rewards", "supervisor", "failed")};
  auto report = admin::readiness_from_tree(root);
  REQUIRE(report.size() == 2);
  CHECK(report[0].up);
  CHECK(!report[1].up);
  CHECK(report[1].state == "failed");
  CHECK(!admin::all_up(report));
  CHECK(admin::all_up({}));
}

TEST_CASE_FIXTURE(listener_fixture, "an unknown path is 404 and a method other than GET is 405") {
  start();
  test_client client{port};
  auto missing = client.get("/nope");
  CHECK(missing.status() == 404);
  CHECK(error_code_of(missing) == "not_found");
  auto posted = client.get("/metrics", operator_token, http::verb::post);
  CHECK(posted.status() == 405);
  CHECK(posted.message[http::field::allow] == "GET");
  CHECK(client.get("/healthz?verbose=1", std::nullopt).status() == 200);
}

TEST_CASE_FIXTURE(listener_fixture, "a request larger than the limit is refused with 413") {
  config.max_header_bytes = 1024;
  start();
  test_client client{port};
  http::request<http::string_body> request{http::verb::get, "/healthz", 11};
  request.set("x-padding", std::string(16 * 1024, 'a'));
  REQUIRE(!client.send(request));
  auto r = client.receive();
  REQUIRE(!r.error);
  CHECK(r.status() == 413);
  CHECK(!r.message.keep_alive());
  CHECK(client.closed_by_server());

  test_client body_client{port};
  http::request<http::string_body> with_body{http::verb::get, "/healthz", 11};
  with_body.body() = std::string(config.max_body_bytes + 1, 'b');
  REQUIRE(!body_client.send(with_body));
  CHECK(body_client.receive().status() == 413);
}

TEST_CASE_FIXTURE(listener_fixture, "a callback that never answers gets a 504 after the timeout") {
  config.callback_timeout_ms = 150;
  node.stop_answering();
  start();
  test_client client{port};
  auto r = client.get("/api/tree");
  REQUIRE(!r.error);
  CHECK(r.status() == 504);
  CHECK(error_code_of(r) == "timeout");
  // A scrape still returns the node's own metrics and says the tree did not answer.
  auto scrape = client.get("/metrics");
  CHECK(scrape.status() == 200);
  CHECK(scrape.message.body().find("superapp_admin_tree_scrape_success 0\n") != std::string::npos);
  // Answers arriving after the 504 are dropped, on a live listener and after stop().
  auto late = node.take_parked_tree();
  late(make_node("late", "worker", "running"));
  CHECK(client.get("/healthz").status() == 200);
  auto later = node.take_parked_tree();
  listener->stop();
  later(make_node("later", "worker", "running"));
}

TEST_CASE_FIXTURE(listener_fixture, "a failed fetch is a 503 with the error's wire code") {
  start();
  admin::admin_callbacks failing;
  failing.fetch_tree = [](admin::admin_callbacks::tree_completion done) {
    done(make_error(platform_errc::unavailable));
  };
  admin::admin_listener failing_listener{config, failing, registry};
  auto endpoint = failing_listener.start();
  REQUIRE(endpoint);
  test_client client{endpoint->port};
  auto r = client.get("/api/tree");
  CHECK(r.status() == 503);
  CHECK(error_code_of(r) == "unavailable");
  // No readiness callback configured: unavailable, not a crash.
  CHECK(client.get("/readyz").status() == 503);
}

TEST_CASE_FIXTURE(listener_fixture, "stop() with an open keep-alive connection returns promptly") {
  config.read_timeout_ms = 60'000;
  config.stop_grace_ms = 30'000;
  start();
  test_client client{port};
  auto r = client.get("/healthz");
  REQUIRE(r.message.keep_alive());
  const auto before = std::chrono::steady_clock::now();
  listener->stop();
  const auto elapsed = std::chrono::steady_clock::now() - before;
  CHECK(elapsed < std::chrono::seconds(5));  // far below both the idle and the grace timeouts
  CHECK(client.closed_by_server());
  listener->stop();  // a second stop is harmless
}

TEST_CASE_FIXTURE(listener_fixture, "stop() lets a request in flight finish before it returns") {
  config.stop_grace_ms = 30'000;
  config.callback_timeout_ms = 30'000;
  node.stop_answering();
  start();
  test_client client{port};
  http::request<http::string_body> request{http::verb::get, "/api/tree", 11};
  request.set(http::field::authorization, std::string{"Bearer "} + operator_token);
  REQUIRE(!client.send(request));
  auto answer = node.take_parked_tree();
  std::thread stopper{[this] { listener->stop(); }};
  answer(node.tree_);
  auto r = client.receive();
  stopper.join();
  REQUIRE(!r.error);
  CHECK(r.status() == 200);
  CHECK(r.json().at("name") == "root");
}

TEST_CASE_FIXTURE(listener_fixture, "start() on a port already in use reports start_failed") {
  start();
  auto taken = config;
  taken.port = port;
  admin::admin_listener second{taken, node.callbacks(), registry};
  auto endpoint = second.start();
  REQUIRE(!endpoint);
  CHECK(endpoint.error() == platform_errc::start_failed);
}

TEST_CASE("the events query takes a topic, an optional position and a limit, and names what is wrong") {
  std::string error;
  auto q = admin::parse_events_query("topic=superapp.identity.events", error);
  REQUIRE(q);
  CHECK(q->topic == "superapp.identity.events");
  CHECK_FALSE(q->has_after);
  CHECK(q->limit == 20);
  q = admin::parse_events_query("limit=5&after=18446744073709551615%3A42&topic=a.b", error);
  REQUIRE(q);
  CHECK(q->has_after);
  CHECK(q->after_epoch == 18446744073709551615ull);
  CHECK(q->after_seq == 42);
  CHECK(q->limit == 5);
  for (auto [bad, named] : std::vector<std::pair<std::string, std::string>>{
           {"", "topic"},
           {"topic=Upper", "topic"},
           {"topic=a%2", "escape"},
           {"topic=a&after=12", "after"},
           {"topic=a&after=1:-2", "after"},
           {"topic=a&limit=0", "limit"},
           {"topic=a&limit=1001", "limit"},
           {"topic=a&colour=red", "colour"}}) {
    error.clear();
    CHECK_MESSAGE(!admin::parse_events_query(bad, error), bad);
    CHECK_MESSAGE(error.find(named) != std::string::npos, bad << ": " << error);
  }
}

TEST_CASE_FIXTURE(listener_fixture, "events are served from the node's answer; a bad query is a 400") {
  std::optional<admin::events_query> asked;
  admin::admin_callbacks callbacks = node.callbacks();
  callbacks.fetch_events = [&asked](admin::events_query q, admin::admin_callbacks::events_completion done) {
    asked = q;
    done(std::string{R"({"topic":"t","next":"7:3","events":[]})"});
  };
  admin::admin_listener events_listener{config, callbacks, registry};
  auto endpoint = events_listener.start();
  REQUIRE(endpoint);
  test_client client{endpoint->port};
  auto r = client.get("/api/events?topic=superapp.banking.events&after=7:2&limit=3");
  REQUIRE(!r.error);
  CHECK(r.status() == 200);
  CHECK(r.json().at("next") == "7:3");
  REQUIRE(asked);
  CHECK(asked->topic == "superapp.banking.events");
  CHECK(asked->after_epoch == 7);
  CHECK(asked->after_seq == 2);
  CHECK(asked->limit == 3);
  auto bad = client.get("/api/events?topic=NOPE");
  CHECK(bad.status() == 400);
  CHECK(error_code_of(bad) == "invalid_argument");
  CHECK(client.get("/api/events?topic=a", std::nullopt).status() == 401);
  // A node without the callback answers unavailable.
  start();
  test_client plain{port};
  CHECK(plain.get("/api/events?topic=a").status() == 503);
}
