// `superapp bench run|compare`: wires the harness to this machine's node (its node file,
// development key and operator token) and to Ctrl-C.
#include "app/bench_cli.hpp"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <variant>

#include "app/cli_common.hpp"
#include "app/gateway_wiring.hpp"
#include "bench/harness/bench_run.hpp"
#include "bench/harness/report.hpp"
#include "bench/harness/scenario.hpp"
#include "protocols/clock.hpp"

namespace superapp::app {
namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_interrupt(int) { stop_requested.store(true); }

int usage() {
  std::fprintf(stderr,
               "usage: superapp bench run SCENARIO.toml [--target ws://HOST:PORT/ws] [--out OUT]\n"
               "                          [--data-dir DIR]\n"
               "       superapp bench compare A.json B.json\n"
               "`run` loads the node of DIR/node.json (DIR: ./data) or the --target you name, with\n"
               "the scenario's op mix, beside its baseline; it writes result.json, summary.md and\n"
               "latency.svg under OUT/<scenario>-<time>/ (OUT: ./bench-results).\n"
               "Ctrl-C stops it and writes a partial report (exit status 130).\n");
  return 2;
}

// Scenario sessions authenticate with development tokens (a login per session would make every
// scenario a login storm; that one is measured by bench/login_storm with real logins).
// Each is bound to its session's device, as identity's are (banking's money ops need one).
std::function<std::string(const std::string&, const std::string&, std::string&)> token_source(
    std::string data_dir) {
  return [data_dir](const std::string& subject, const std::string& device, std::string& failure) {
    superapp::system_clock clock;
    return dev_token(data_dir, subject, clock, failure, device);
  };
}

int run(const std::vector<std::string>& args) {
  std::string scenario_path, target_url, out_dir = "bench-results", data_dir = "./data";
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if ((args[i] == "--target" && value(target_url)) || (args[i] == "--out" && value(out_dir)) ||
        (args[i] == "--data-dir" && value(data_dir)))
      continue;
    if (scenario_path.empty() && !args[i].starts_with("--")) {
      scenario_path = args[i];
      continue;
    }
    return usage();
  }
  if (scenario_path.empty()) return usage();
  auto loaded = bench::load_scenario(scenario_path);
  if (auto* e = std::get_if<bench::scenario_error>(&loaded)) {
    std::fprintf(stderr, "%s\n", e->message.c_str());
    return 2;
  }
  const auto& scenario = std::get<bench::scenario>(loaded);

  // Load goes to the node of this machine's node file, or to the host the user names.
  const auto node_ws_url = node_file_field(data_dir, "ws_url");
  if (target_url.empty()) target_url = node_ws_url;
  if (target_url.empty()) {
    std::fprintf(stderr,
                 "superapp bench: no target: no running node in %s (no node.json); start one with "
                 "`superapp run` or pass --target ws://HOST:PORT/ws\n",
                 data_dir.c_str());
    return 2;
  }
  auto target = bench::parse_ws_target(target_url);
  if (!target) {
    std::fprintf(stderr, "superapp bench: --target must look like ws://127.0.0.1:8080/ws, got %s\n",
                 target_url.c_str());
    return 2;
  }

  bench::bench_environment env;
  env.target = *target;
  env.token_for = token_source(data_dir);
  // ${approval} in a scenario: approvals signed with the same development key as the tokens
  // (an identity.authorise with the mPIN per transfer would measure Argon2id, not the ledger).
  std::string no_minter;
  env.approve = dev_approval_minter(data_dir, no_minter);
  env.out_dir = out_dir;
  env.command = "superapp bench run";
  for (const auto& a : args) env.command += " " + a;
  env.stop_requested = &stop_requested;
  const auto admin_url = node_file_field(data_dir, "admin_url");
  auto admin = parse_url(admin_url, "http://", "/");
  if (target_url == node_ws_url && admin) {
    const auto token = operator_token(data_dir);
    env.fetch_metrics = [admin = *admin, token](std::string& failure) -> std::optional<std::string> {
      http_answer answer;
      if (!http_get(admin, token, "/metrics", answer, failure)) return std::nullopt;
      if (answer.status != 200) {
        failure = "status " + std::to_string(answer.status);
        return std::nullopt;
      }
      return answer.body;
    };
  } else {
    env.metrics_note = "the target is not the node of " + data_dir +
                       "/node.json, whose admin listener and operator token the bench reads";
  }

  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const auto outcome = bench::run_bench(scenario, env);
  if (outcome.exit_status == 1)
    std::fprintf(stderr, "superapp bench: %s\n", outcome.failure.c_str());
  if (outcome.exit_status == 130)
    std::fprintf(stderr, "superapp bench: stopped by Ctrl-C; the report above is partial\n");
  return outcome.exit_status;
}

int compare(const std::vector<std::string>& args) {
  if (args.size() != 2) return usage();
  bench::bench_result results[2];
  for (int i = 0; i < 2; ++i) {
    const auto text = read_text_file(args[i]);
    if (text.empty()) {
      std::fprintf(stderr, "superapp bench compare: cannot read %s\n", args[i].c_str());
      return 2;
    }
    auto parsed = bench::from_json(text);
    if (auto* why = std::get_if<std::string>(&parsed)) {
      std::fprintf(stderr, "superapp bench compare: %s: %s\n", args[i].c_str(), why->c_str());
      return 2;
    }
    results[i] = std::get<bench::bench_result>(std::move(parsed));
  }
  std::printf("%s", bench::compare(results[0], args[0], results[1], args[1]).c_str());
  return 0;
}

}  // namespace

int run_bench_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  const std::vector<std::string> rest{args.begin() + 1, args.end()};
  if (args[0] == "run") return run(rest);
  if (args[0] == "compare") return compare(rest);
  return usage();
}

}  // namespace superapp::app
