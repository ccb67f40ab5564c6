// The load engine against a real WebSocket server on loopback (the bare echo baseline).
#include "bench/harness/load_engine.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <thread>

#include "bench/harness/echo_server.hpp"

using namespace superapp::bench;
using namespace std::chrono_literals;

namespace {

load_plan echo_plan(std::uint16_t port) {
  load_plan plan;
  plan.target = ws_target{"127.0.0.1", port, "/ws"};
  plan.sessions = 8;
  plan.source_addresses = 4;
  plan.duration = 500ms;
  plan.ops = {op_mix_entry{"system.echo", 3, R"({"text":"${user}"})"},
              op_mix_entry{"system.ping", 1, "{}"}};
  return plan;
}

}  // namespace

TEST_CASE("an open-loop run sends the scheduled number of requests and every one is answered") {
  echo_server server{"127.0.0.1", 1};
  const auto port = server.start(0);
  auto plan = echo_plan(port);
  plan.rate_per_s = 2000;
  std::atomic<int> progress_lines{0};
  int before_close_calls = 0;
  plan.before_close = [&] { ++before_close_calls; };
  plan.progress_interval = 100ms;
  plan.on_progress = [&](const load_progress&) { ++progress_lines; };
  const auto figures = run_load(plan);
  CHECK(figures.connected == 8);
  CHECK(figures.book.sent_count() == 1000);  // 2000/s for 0.5 s
  CHECK(figures.book.ok_count() == 1000);
  CHECK(figures.book.error_count() == 0);
  CHECK(figures.book.ok_by_op()[0] > figures.book.ok_by_op()[1]);  // weights 3:1
  CHECK(figures.book.latency_ns().count() == 1000);
  CHECK(figures.book.latency_ns().value_at(0.5) > 0);
  CHECK(figures.elapsed_s == doctest::Approx(0.5).epsilon(0.2));
  CHECK(progress_lines >= 3);
  CHECK(before_close_calls == 1);
  CHECK_FALSE(figures.stopped_early);
}

TEST_CASE("a closed-loop run keeps each session busy and counts what came back") {
  echo_server server{"127.0.0.1", 1};
  auto plan = echo_plan(server.start(0));
  plan.mode = load_mode::closed_loop;
  plan.in_flight_per_session = 2;
  const auto figures = run_load(plan);
  CHECK(figures.connected == 8);
  CHECK(figures.book.ok_count() > 100);
  CHECK(figures.book.error_count() == 0);
  CHECK(figures.book.in_flight() == 0);
}

TEST_CASE("an unreachable target fails every connect with the reason, and no request is sent") {
  // A port that was just free: nothing listens there, so connects are refused at once.
  std::uint16_t port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    port = probe.local_endpoint().port();
  }
  auto plan = echo_plan(port);
  plan.rate_per_s = 100;
  plan.connect_timeout = 2s;
  const auto figures = run_load(plan);
  CHECK(figures.connected == 0);
  CHECK(figures.connect_failures == 8);
  CHECK_FALSE(figures.first_connect_failure.empty());
  CHECK(figures.book.sent_count() == 0);
}

TEST_CASE("a stop request ends the run early and marks it so") {
  echo_server server{"127.0.0.1", 1};
  auto plan = echo_plan(server.start(0));
  plan.rate_per_s = 1000;
  plan.duration = 30s;
  std::atomic<bool> stop{false};
  plan.stop_requested = &stop;
  std::thread stopper{[&] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  }};
  const auto started = std::chrono::steady_clock::now();
  const auto figures = run_load(plan);
  stopper.join();
  CHECK(figures.stopped_early);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(figures.book.ok_count() > 100);
}

TEST_CASE("request frames carry id, op, body with ${user} replaced, and a key when asked") {
  op_mix_entry op{"banking.transfer", 1, R"({"from":"${user}","device":"${device}"})", true};
  CHECK(request_frame(7, op, "u1", "d1", "bench-ab-") ==
        R"({"id":7,"op":"banking.transfer","body":{"from":"u1","device":"d1"},"idempotency_key":"bench-ab-7"})");
  CHECK(fresh_key_prefix() != fresh_key_prefix());
  CHECK(fresh_key_prefix().size() == 23);
}

TEST_CASE("request frames fill the next user, captured values and an approval for the body") {
  op_mix_entry op{
      "banking.transfer", 1,
      R"({"to":"${next_user}","link":"${link_id}","amount":1,"approval":"${approval}"})", false};
  std::vector<std::pair<std::string, std::string>> vars{{"link_id", "lnk_9"}};
  std::string seen;
  approval_minter approve = [&](const std::string& user, const std::string& device,
                                const std::string& name, const std::string& body) {
    seen = user + "|" + device + "|" + name + "|" + body;
    return std::string{"signed"};
  };
  CHECK(
      request_frame(8, op, "u1", "d1", "k-", frame_extras{"u2", &vars, &approve}) ==
      R"({"id":8,"op":"banking.transfer","body":{"to":"u2","link":"lnk_9","amount":1,"approval":"signed"}})");
  // The approval is minted for the body as it is sent, other placeholders filled.
  CHECK(seen ==
        R"(u1|d1|banking.transfer|{"to":"u2","link":"lnk_9","amount":1,"approval":"${approval}"})");
  // Without extras the placeholders stay (the node refuses them, as it should).
  CHECK(request_frame(9, op, "u1", "d1", "k-").find("${next_user}") != std::string::npos);
}

TEST_CASE("replies are read as ok, as an error envelope with its code, or as unreadable") {
  auto ok = read_reply(R"({"id":3,"ok":true,"body":{}})");
  CHECK(ok.readable);
  CHECK(ok.id == 3);
  CHECK(ok.error_code.empty());
  auto echo = read_reply(R"({"id":4,"op":"system.echo","body":{"text":"x"}})");
  CHECK(echo.readable);
  CHECK(echo.error_code.empty());
  auto err = read_reply(R"({"id":5,"ok":false,"error":{"code":"rate_limited","message":"slow down"}})");
  CHECK(err.error_code == "rate_limited");
  CHECK(err.error_message == "slow down");
  CHECK_FALSE(read_reply("not json").readable);
  auto error_first = read_reply(R"({"id":6,"ok":false,"error":{"code":"unknown_op"}})");
  CHECK(error_first.error_code == "unknown_op");
  CHECK(error_first.id == 6);
  CHECK(read_reply(R"({"id":8,"op":"system.echo"})").id == 8);
  CHECK_FALSE(read_reply(R"({"id":-1,"ok":true})").has_id);
  auto push = read_reply(R"({"event":"x","seq":1})");
  CHECK(push.readable);
  CHECK_FALSE(push.has_id);
  CHECK(ok.has_id);
}

TEST_CASE("the op chooser follows the weights") {
  std::vector<op_mix_entry> ops{{"a.x", 9, "{}"}, {"b.y", 1, "{}"}};
  op_chooser chooser{ops, 1};
  int first = 0;
  for (int i = 0; i < 10'000; ++i) first += chooser.next() == 0;
  CHECK(first == doctest::Approx(9000).epsilon(0.03));
}
