// bench/login_storm: other sessions' latency with and without a login storm (issue 6).
//
// Starts the real `superapp run` (identity with OWASP Argon2id parameters on its own hashing
// threads, the gateway, the SMS simulator) in a child process on loopback, enrols users the
// way the app does (SMS code, device key, mPIN), then runs rounds of two phases back to back:
//   baseline: open-loop system.ping from `echo_sessions` sessions at `echo_rate` per second;
//   storm:    the same, while `storm_clients` clients log in as fast as the node lets them
//             (challenge, device signature, mPIN: one Argon2id verify each), which is the
//             rate the hashing can sustain.
// Ping latency is measured from each request's intended send time (harness load engine, no
// coordinated omission). The report: ping p50/p99 per phase, the p99 ratio (goal <= 1.2x),
// logins per second and their latency.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "app/cli_common.hpp"
#include "app/gateway_wiring.hpp"
#include "app/ws_client.hpp"
#include "bench/harness/latency_histogram.hpp"
#include "bench/harness/load_engine.hpp"
#include "protocols/clock.hpp"
#include "protocols/tokens/device_key.hpp"
#include "protocols/tokens/jwt.hpp"

using namespace superapp;
using steady = std::chrono::steady_clock;

namespace {

struct options {
  std::string superapp_bin = SUPERAPP_BIN;
  int users = 40;
  std::uint32_t echo_sessions = 20;
  double echo_rate = 200;
  int duration_s = 10;
  int storm_clients = 4;
  int rounds = 3;
  bool challenges_only = false;  // the storm without logins: what the login path costs besides hashing
  std::string hashing_priority;  // identity.hashing_priority for the node; empty: its default
  std::string hashing_cpus;      // identity.hashing_cpus ("1" or "1,3"); empty: any CPU
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--superapp") o.superapp_bin = value;
    else if (key == "--users") o.users = std::atoi(value);
    else if (key == "--echo-sessions") o.echo_sessions = static_cast<std::uint32_t>(std::atoi(value));
    else if (key == "--echo-rate") o.echo_rate = std::atof(value);
    else if (key == "--duration-s") o.duration_s = std::atoi(value);
    else if (key == "--storm-clients") o.storm_clients = std::atoi(value);
    else if (key == "--rounds") o.rounds = std::atoi(value);
    else if (key == "--storm") o.challenges_only = std::string_view{value} == "challenges";
    else if (key == "--hashing-priority") o.hashing_priority = value;
    else if (key == "--hashing-cpus") o.hashing_cpus = value;
    else {
      std::fprintf(stderr,
                   "usage: %s [--superapp PATH] [--users N] [--echo-sessions N] [--echo-rate PER_S]"
                   " [--duration-s S] [--storm-clients N] [--rounds N] [--storm logins|challenges]"
                   " [--hashing-priority normal|low|idle] [--hashing-cpus N[,N...]]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  if (argc % 2 == 0 || o.users < 1 || o.echo_sessions < 1 || o.echo_rate <= 0 ||
      o.duration_s < 1 || o.storm_clients < 1 || o.rounds < 1) {
    std::fprintf(stderr, "%s: bad options\n", argv[0]);
    std::exit(2);
  }
  return o;
}

// `superapp run` in a child process, gateway limits out of the way: the bench measures the
// node under a storm, not its rate limiter.
struct node_process {
  pid_t pid = -1;
  std::string data_dir;

  bool start(const options& o, std::string& failure) {
    char pattern[] = "/tmp/superapp-login-storm-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) return failure = "mkdtemp failed", false;
    data_dir = pattern;
    pid = ::fork();
    if (pid < 0) return failure = "fork failed", false;
    if (pid == 0) {
      for (const char* kv : {"SUPERAPP_ADMIN_PORT=0", "SUPERAPP_GATEWAY_PORT=0",
                             "SUPERAPP_GATEWAY_USER_BURST=1000000", "SUPERAPP_GATEWAY_USER_RATE_PER_S=1000000",
                             "SUPERAPP_GATEWAY_ADDRESS_BURST=1000000",
                             "SUPERAPP_GATEWAY_ADDRESS_RATE_PER_S=1000000",
                             "SUPERAPP_GATEWAY_DEVICE_BURST=1000000",
                             "SUPERAPP_GATEWAY_DEVICE_RATE_PER_S=1000000", "SUPERAPP_LOG_LEVEL=warn"})
        ::putenv(const_cast<char*>(kv));
      if (!o.hashing_priority.empty())
        ::setenv("SUPERAPP_IDENTITY_HASHING_PRIORITY", o.hashing_priority.c_str(), 1);
      if (!o.hashing_cpus.empty())
        ::setenv("SUPERAPP_IDENTITY_HASHING_CPUS", o.hashing_cpus.c_str(), 1);
      auto log = data_dir + "/node.log";
      if (std::freopen(log.c_str(), "w", stdout) == nullptr ||
          std::freopen(log.c_str(), "a", stderr) == nullptr)
        std::_Exit(127);
      ::execl(o.superapp_bin.c_str(), o.superapp_bin.c_str(), "run", "--data-dir", data_dir.c_str(),
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    auto deadline = steady::now() + std::chrono::seconds{60};
    while (!std::filesystem::exists(data_dir + "/node.json")) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return failure = "superapp run exited; see " + data_dir + "/node.log", false;
      }
      if (steady::now() > deadline) return failure = "node.json did not appear", false;
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{500});  // node.json is written whole
    return true;
  }

  ~node_process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
    if (!data_dir.empty()) std::filesystem::remove_all(data_dir);
  }
};

struct user {
  std::string device_id;
  tokens::signing_key key = tokens::signing_key::generate("device");
};

constexpr auto mpin = "2468";

// A call that must succeed; nullopt with `failure` naming the op and the reply.
std::optional<boost::json::object> must(app::client_session& s, const std::string& op,
                                        const boost::json::object& body, std::string& failure) {
  std::string reply;
  if (!s.call(op, boost::json::serialize(body), "", reply, failure)) return std::nullopt;
  auto out = app::ok_body(reply);
  if (!out) failure = op + ": " + reply;
  return out;
}

bool enrol(const app::endpoint_url& url, const std::string& data_dir, int n, user& u,
           std::string& failure) {
  app::client_session s;
  s.on_push = nullptr;
  if (!s.connect(url, "", failure)) return false;
  char phone[32];
  std::snprintf(phone, sizeof phone, "+4477009%05d", n);
  if (!must(s, "identity.register", {{"phone", phone}}, failure)) return false;
  auto code = app::code_from_simulator(data_dir, phone);
  auto verified = must(s, "identity.verify_otp", {{"phone", phone}, {"code", code}}, failure);
  if (!verified) return false;
  auto bound = must(s, "identity.bind_device",
                    {{"enrolment_token", app::text_of(*verified, "enrolment_token")},
                     {"public_key", tokens::device_public_key_b64url(u.key)},
                     {"device_name", "bench phone"},
                     {"mpin", mpin}},
                    failure);
  if (!bound) return false;
  u.device_id = app::text_of(*bound, "device_id");
  return true;
}

struct storm_figures {
  std::uint64_t logins = 0;
  std::uint64_t failures = 0;
  std::string first_failure;
  bench::latency_histogram latency_ns{5};
};

// One storm client: logs users in back to back on its own connection until `stop`.
void storm_client(const app::endpoint_url& url, const std::vector<user>& users, int first,
                  int step, bool challenges_only, const std::atomic<bool>& stop,
                  storm_figures& out) {
  app::client_session s;
  s.on_push = nullptr;
  std::string failure;
  if (!s.connect(url, "", failure)) {
    ++out.failures;
    out.first_failure = failure;
    return;
  }
  for (std::size_t i = static_cast<std::size_t>(first); !stop.load(); i += static_cast<std::size_t>(step)) {
    const auto& u = users[i % users.size()];
    auto began = steady::now();
    auto challenge = must(s, "identity.challenge", {{"device_id", u.device_id}}, failure);
    std::optional<boost::json::object> login;
    if (challenge && challenges_only)
      login = challenge;
    else if (challenge)
      login = must(s, "identity.login",
                   {{"device_id", u.device_id},
                    {"challenge_id", app::text_of(*challenge, "challenge_id")},
                    {"signature",
                     tokens::sign_message_es256(u.key, app::text_of(*challenge, "challenge"))},
                    {"mpin", mpin}},
                   failure);
    if (!login) {
      if (out.failures++ == 0) out.first_failure = failure;
      continue;
    }
    ++out.logins;
    out.latency_ns.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - began).count()));
  }
}

struct phase_figures {
  double ping_p50_ms = 0;
  double ping_p99_ms = 0;
  std::uint64_t ping_errors = 0;
  double logins_per_s = 0;
  double login_p50_ms = 0;
  double login_p99_ms = 0;
  std::uint64_t login_failures = 0;
  std::string first_login_failure;
};

phase_figures run_phase(const options& o, const app::endpoint_url& url, const std::string& token,
                        const std::vector<user>& users, bool storm) {
  phase_figures f;
  std::atomic<bool> stop{false};
  std::vector<storm_figures> per_client(storm ? static_cast<std::size_t>(o.storm_clients) : 0);
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < per_client.size(); ++c)
    clients.emplace_back(storm_client, std::cref(url), std::cref(users), static_cast<int>(c),
                         o.storm_clients, o.challenges_only, std::cref(stop),
                         std::ref(per_client[c]));
  if (storm) std::this_thread::sleep_for(std::chrono::seconds{1});  // the storm is under way
  bench::load_plan plan;
  plan.target = bench::ws_target{url.host, static_cast<std::uint16_t>(std::stoi(url.port)), url.path};
  plan.mode = bench::load_mode::open_loop;
  plan.rate_per_s = o.echo_rate;
  plan.duration = std::chrono::seconds{o.duration_s};
  plan.sessions = o.echo_sessions;
  plan.ops = {bench::op_mix_entry{"system.ping", 1, "{}"}};
  plan.headers = [token](std::size_t) { return bench::upgrade_headers{token, {}}; };
  auto storm_began = steady::now();
  const auto run = bench::run_load(plan);
  stop = true;
  for (auto& t : clients) t.join();
  const double storm_s =
      std::chrono::duration<double>(steady::now() - storm_began).count() + (storm ? 1.0 : 0.0);
  const auto& latency = run.book.latency_ns();
  f.ping_p50_ms = static_cast<double>(latency.value_at(0.50)) / 1e6;
  f.ping_p99_ms = static_cast<double>(latency.value_at(0.99)) / 1e6;
  f.ping_errors = run.book.error_count() + run.connect_failures;
  bench::latency_histogram logins{5};
  std::uint64_t count = 0;
  for (auto& c : per_client) {
    logins.merge(c.latency_ns);
    count += c.logins;
    f.login_failures += c.failures;
    if (f.first_login_failure.empty()) f.first_login_failure = c.first_failure;
  }
  f.logins_per_s = storm ? static_cast<double>(count) / storm_s : 0;
  f.login_p50_ms = static_cast<double>(logins.value_at(0.50)) / 1e6;
  f.login_p99_ms = static_cast<double>(logins.value_at(0.99)) / 1e6;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  node_process node;
  std::string failure;
  if (!node.start(o, failure)) {
    std::fprintf(stderr, "login_storm: %s\n", failure.c_str());
    return 1;
  }
  auto url = app::parse_url(app::node_file_field(node.data_dir, "ws_url"), "ws://", "/ws");
  if (!url) {
    std::fprintf(stderr, "login_storm: no ws_url in node.json\n");
    return 1;
  }
  superapp::system_clock clock;
  auto token = app::dev_token(node.data_dir, "bench-pinger", clock, failure);
  if (token.empty()) {
    std::fprintf(stderr, "login_storm: %s\n", failure.c_str());
    return 1;
  }
  std::vector<user> users(static_cast<std::size_t>(o.users));
  auto enrol_began = steady::now();
  for (int i = 0; i < o.users; ++i) {
    if (!enrol(*url, node.data_dir, i, users[static_cast<std::size_t>(i)], failure)) {
      std::fprintf(stderr, "login_storm: enrolling user %d: %s\n", i, failure.c_str());
      return 1;
    }
  }
  std::printf("login storm: %d users enrolled in %.1f s; %u ping sessions at %.0f/s for %d s per "
              "phase; %d storm clients (%s); hashing priority %s on CPUs %s; %u cores\n\n",
              o.users, std::chrono::duration<double>(steady::now() - enrol_began).count(),
              o.echo_sessions, o.echo_rate, o.duration_s, o.storm_clients,
              o.challenges_only ? "challenges only" : "logins",
              o.hashing_priority.empty() ? "the node's default" : o.hashing_priority.c_str(),
              o.hashing_cpus.empty() ? "any" : o.hashing_cpus.c_str(), std::thread::hardware_concurrency());
  std::printf("| round | ping p50 alone | ping p99 alone | ping p50 storm | ping p99 storm | "
              "p99 ratio | logins/s | login p50 | login p99 | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<double> ratios;
  for (int r = 1; r <= o.rounds; ++r) {
    auto alone = run_phase(o, *url, token, users, false);
    auto storm = run_phase(o, *url, token, users, true);
    double ratio = alone.ping_p99_ms > 0 ? storm.ping_p99_ms / alone.ping_p99_ms : 0;
    ratios.push_back(ratio);
    std::printf("| %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2fx | %.1f | %.0f ms | %.0f ms | "
                "%llu |\n",
                r, alone.ping_p50_ms, alone.ping_p99_ms, storm.ping_p50_ms, storm.ping_p99_ms, ratio,
                storm.logins_per_s, storm.login_p50_ms, storm.login_p99_ms,
                static_cast<unsigned long long>(alone.ping_errors + storm.ping_errors +
                                                storm.login_failures));
    if (!storm.first_login_failure.empty())
      std::printf("  first login failure: %s\n", storm.first_login_failure.c_str());
    std::fflush(stdout);
  }
  std::sort(ratios.begin(), ratios.end());
  double median = ratios[ratios.size() / 2];
  std::printf("\nmedian p99 ratio (storm / alone): %.2fx (goal: at most 1.20x) -> %s\n", median,
              median <= 1.2 ? "met" : "not met");
  return 0;
}
