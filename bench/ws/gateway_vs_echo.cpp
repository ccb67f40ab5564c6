// The gateway beside a bare Beast echo server, the same load client against each: the
// transport alone (echo through the session actor) and the whole authenticated pipeline
// (system.echo with an ES256 token, as `superapp run` wires it), then RSS per idle connection.
// Each server runs in its own child process so that its RSS is its own; all traffic stays on
// loopback. Every server gets the same frame: a system.echo request envelope.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "bench/harness/child_server.hpp"
#include "bench/harness/echo_server.hpp"
#include "bench/harness/load_engine.hpp"
#include "bench/ws_load/load_client.hpp"
#include "app/gateway_wiring.hpp"
#include "gateway/ws/ws_listener.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/supervisor.hpp"

using namespace superapp;

namespace {

struct options {
  std::size_t io_threads = 2;
  std::size_t connections = 100;
  std::int64_t duration_ms = 5'000;
  double rate_per_s = 0;
  std::size_t payload_bytes = 64;
  std::size_t idle_connections = 10'000;
  std::size_t caf_threads = 2;
  std::string caf_policy = "stealing";
};

void serve_echo(const options& o, const std::function<void(std::uint16_t)>& until_stopped) {
  bench::echo_server server{"127.0.0.1", o.io_threads};
  until_stopped(server.start(0));
  server.stop();
}

void serve_gateway(const options& o, const std::function<void(std::uint16_t)>& until_stopped) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", o.caf_threads);
  cfg.set("scheduler.policy", o.caf_policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  caf::actor_system sys{cfg};
  auto echo = [](caf::event_based_actor*, const ws::session_context&,
                 std::shared_ptr<ws::outbound> out) {
    ws::session_handler handler;
    handler.on_text = [out](std::string frame) { out->send_text(std::move(frame)); };
    return handler;
  };
  auto sessions_sup = sup::spawn_supervisor(sys, ws::sessions_supervisor_spec(echo, 100'000));
  {
    caf::scoped_actor self{sys};
    if (sup::await_ready(self, sessions_sup, std::chrono::seconds(10))) std::_Exit(1);
  }
  ws::ws_config config;
  config.io_threads = o.io_threads;
  config.max_sessions = 100'000;
  ws::ws_listener listener{config, sys, sessions_sup};
  auto endpoint = listener.start();
  if (!endpoint) std::_Exit(1);
  until_stopped(endpoint->port);
  listener.stop();
  caf::scoped_actor self{sys};
  sup::shutdown(self, sessions_sup, std::chrono::seconds(10));
}

// The node's gateway subtree and listener, wired by app::make_gateway with the development key
// in `data_dir`, limits high enough that the bench measures the pipeline, not the rate limiter.
void serve_pipeline(const options& o, const std::string& data_dir,
                    const std::function<void(std::uint16_t)>& until_stopped) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", o.caf_threads);
  cfg.set("scheduler.policy",
          o.caf_policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  caf::actor_system sys{cfg};
  auto config = node::embedded_defaults(data_dir);
  config.node.roles = {};
  config.gateway.port = 0;
  config.gateway.io_threads = o.io_threads;
  config.gateway.user_burst = 1'000'000;
  config.gateway.user_rate_per_s = 1'000'000;
  config.gateway.device_burst = 1'000'000;
  config.gateway.device_rate_per_s = 1'000'000;
  config.gateway.address_burst = 1'000'000;
  config.gateway.address_rate_per_s = 1'000'000;
  superapp::system_clock clock;
  std::string failure;
  auto gateway = app::make_gateway(config, std::make_shared<sup::front_door_directory>(), clock,
                                   /*dev_keys=*/true, failure);
  if (!gateway) std::_Exit(1);
  auto root = sup::spawn_supervisor(sys, sup::node_root_supervisor("root", {gateway->supervisor}));
  caf::actor sessions;
  {
    caf::scoped_actor self{sys};
    if (sup::await_ready(self, root, std::chrono::seconds(10))) std::_Exit(1);
    sessions = app::find_sessions_supervisor(self, root, std::chrono::seconds(5));
  }
  auto ws_cfg = app::ws_config_from(config);
  ws_cfg.max_sessions = 100'000;
  ws::ws_listener listener{ws_cfg, sys, sessions};
  auto endpoint = listener.start();
  if (!endpoint) std::_Exit(1);
  until_stopped(endpoint->port);
  listener.stop();
  caf::scoped_actor self{sys};
  sup::shutdown(self, root, std::chrono::seconds(10));
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--io-threads") o.io_threads = std::stoul(value);
    else if (key == "--connections") o.connections = std::stoul(value);
    else if (key == "--duration-ms") o.duration_ms = std::stoll(value);
    else if (key == "--rate") o.rate_per_s = std::stod(value);
    else if (key == "--payload-bytes") o.payload_bytes = std::stoul(value);
    else if (key == "--idle-connections") o.idle_connections = std::stoul(value);
    else if (key == "--caf-threads") o.caf_threads = std::stoul(value);
    else if (key == "--caf-policy") o.caf_policy = value;
    else {
      std::fprintf(stderr,
                   "usage: %s [--io-threads N] [--connections N] [--duration-ms MS] [--rate "
                   "MSG_PER_S (0: closed loop)] [--payload-bytes N] [--idle-connections N] "
                   "[--caf-threads N] [--caf-policy stealing|sharing]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return o;
}

// The figures this bench prints, from the harness's load engine.
struct load_result {
  std::size_t connected = 0;
  std::uint64_t errors = 0;
  double throughput_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

struct figures {
  load_result load;
  std::size_t idle_open = 0;
  double rss_before_kib = 0;
  double rss_after_kib = 0;
};

// {"id":1,"op":"system.echo","body":{"text":"ppp..."}}, payload_bytes of text.
std::string echo_request(std::size_t payload_bytes) {
  return R"({"id":1,"op":"system.echo","body":{"text":")" + std::string(payload_bytes, 'p') +
         R"("}})";
}

figures measure(bench::child_server& server, const options& o, const std::string& token = {}) {
  figures f;
  bench::load_plan plan;
  plan.target = bench::ws_target{"127.0.0.1", server.port, "/ws"};
  plan.sessions = static_cast<std::uint32_t>(o.connections);
  plan.duration = std::chrono::milliseconds{o.duration_ms};
  plan.mode = o.rate_per_s > 0 ? bench::load_mode::open_loop : bench::load_mode::closed_loop;
  plan.rate_per_s = o.rate_per_s;
  plan.ops = {bench::op_mix_entry{"system.echo", 1,
                                  R"({"text":")" + std::string(o.payload_bytes, 'p') + R"("})"}};
  plan.headers = [token](std::size_t) { return bench::upgrade_headers{token, {}}; };
  const auto run = bench::run_load(plan);
  const auto& latency = run.book.latency_ns();
  f.load.connected = run.connected;
  f.load.errors = run.book.error_count() + run.connect_failures;
  f.load.throughput_per_s =
      run.elapsed_s > 0 ? static_cast<double>(run.book.ok_count()) / run.elapsed_s : 0;
  f.load.p50_us = static_cast<double>(latency.value_at(0.50)) / 1e3;
  f.load.p99_us = static_cast<double>(latency.value_at(0.99)) / 1e3;
  f.load.max_us = static_cast<double>(latency.max()) / 1e3;
  if (o.idle_connections > 0) {
    f.rss_before_kib = bench::rss_kib(server.pid);
    bench::idle_connections idle{server.port, o.idle_connections, 8, echo_request(o.payload_bytes),
                                 token};
    f.idle_open = idle.open();
    f.rss_after_kib = bench::rss_kib(server.pid);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  // Fork before this process starts any thread.
  std::string pattern = (std::filesystem::temp_directory_path() / "superapp-bench-XXXXXX").string();
  const std::string data_dir = ::mkdtemp(pattern.data());
  auto echo = bench::fork_server([&](auto until) { serve_echo(o, until); });
  auto gateway = bench::fork_server([&](auto until) { serve_gateway(o, until); }, {echo.stop_fd});
  auto pipeline = bench::fork_server([&](auto until) { serve_pipeline(o, data_dir, until); },
                              {echo.stop_fd, gateway.stop_fd});
  const auto files = bench::raise_open_file_limit();
  superapp::system_clock clock;
  std::string failure;
  const auto token = app::dev_token(data_dir, "bench-user", clock, failure);
  if (token.empty()) {
    std::fprintf(stderr, "bench: %s\n", failure.c_str());
    return 1;
  }
  const auto mode =
      o.rate_per_s > 0 ? "paced " + std::to_string(o.rate_per_s) + "/s" : std::string{"closed loop"};
  std::printf("ws: %zu connections, %s, system.echo with %zu B of text, %lld ms; server "
              "io_threads=%zu; CAF threads=%zu (%s); client 1 thread, sources 127.0.0.1-8; "
              "nofile=%llu\n",
              o.connections, mode.c_str(), o.payload_bytes, static_cast<long long>(o.duration_ms),
              o.io_threads, o.caf_threads, o.caf_policy.c_str(),
              static_cast<unsigned long long>(files));
  std::fflush(stdout);
  const auto e = measure(echo, o);
  const auto g = measure(gateway, o);
  const auto p = measure(pipeline, o, token);
  bench::stop_server(echo);
  bench::stop_server(gateway);
  bench::stop_server(pipeline);
  std::filesystem::remove_all(data_dir);
  auto per_conn = [](const figures& f) {
    return f.idle_open ? (f.rss_after_kib - f.rss_before_kib) / static_cast<double>(f.idle_open)
                       : 0;
  };
  std::printf("%-30s %14s %14s %14s\n", "", "echo baseline", "gateway_ws", "full pipeline");
  std::printf("%-30s %14zu %14zu %14zu\n", "connected", e.load.connected, g.load.connected,
              p.load.connected);
  std::printf("%-30s %14.0f %14.0f %14.0f\n", "throughput msg/s", e.load.throughput_per_s,
              g.load.throughput_per_s, p.load.throughput_per_s);
  std::printf("%-30s %14.1f %14.1f %14.1f\n", "latency p50 us", e.load.p50_us, g.load.p50_us,
              p.load.p50_us);
  std::printf("%-30s %14.1f %14.1f %14.1f\n", "latency p99 us", e.load.p99_us, g.load.p99_us,
              p.load.p99_us);
  std::printf("%-30s %14.1f %14.1f %14.1f\n", "latency max us", e.load.max_us, g.load.max_us,
              p.load.max_us);
  std::printf("%-30s %14llu %14llu %14llu\n", "errors",
              static_cast<unsigned long long>(e.load.errors),
              static_cast<unsigned long long>(g.load.errors),
              static_cast<unsigned long long>(p.load.errors));
  if (o.idle_connections > 0) {
    std::printf("%-30s %14zu %14zu %14zu\n", "idle connections open", e.idle_open, g.idle_open,
                p.idle_open);
    std::printf("%-30s %14.2f %14.2f %14.2f\n", "server RSS per idle conn KiB", per_conn(e),
                per_conn(g), per_conn(p));
  }
  auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
  std::printf("\nfull pipeline / echo: throughput %.2f (goal >= 0.5 in closed loop), p99 %+.0f us\n",
              ratio(p.load.throughput_per_s, e.load.throughput_per_s),
              p.load.p99_us - e.load.p99_us);
  if (o.idle_connections > 0)
    std::printf("full pipeline / echo: RSS per idle connection %.2f (goal <= 2.0, <= 20 KiB)\n",
                ratio(per_conn(p), per_conn(e)));
  return 0;
}
