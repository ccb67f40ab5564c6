// `superapp bench run`: preflight, data set, baseline and target runs, result files.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "bench/harness/load_engine.hpp"
#include "bench/harness/scenario.hpp"
#include "bench/harness/ws_connector.hpp"

namespace superapp::bench {

// What the composition root gives the harness: where to send load, how sessions get a token,
// and how to read the node's /metrics. Kept as functions so that the harness does not know
// about key files or the admin listener, and the login-storm scenario can switch from dev
// tokens to real logins by swapping one function.
struct bench_environment {
  ws_target target;
  // A bearer token for `subject` on `device`; empty with `failure` set when none can be had.
  std::function<std::string(const std::string& subject, const std::string& device,
                            std::string& failure)>
      token_for;
  // ${approval}: what identity would approve (unset: the placeholder stays, and the node refuses).
  approval_minter approve;
  // The node's /metrics text; nullopt with `failure` set. Unset: not scraped (see note).
  std::function<std::optional<std::string>(std::string& failure)> fetch_metrics;
  std::string metrics_note;  // why there is no fetch_metrics
  std::string out_dir = "bench-results";
  std::string command;  // as typed, for the report
  const std::atomic<bool>* stop_requested = nullptr;
  std::FILE* progress = stderr;
  std::FILE* out = stdout;
};

struct bench_outcome {
  int exit_status = 0;  // 0 done, 1 the target failed, 130 stopped by Ctrl-C (partial report)
  std::string failure;  // one line when exit_status == 1
  std::string result_dir;
};

// Starts the scenario's baseline first (it forks: call before the process starts threads).
bench_outcome run_bench(const scenario& s, const bench_environment& env);

// Session i's user and device ids: sessions are spread over users, then over their devices.
// The next user of a session's is the user after its own, the last user's the first.
std::string user_of_session(const scenario& s, std::size_t session);
std::string next_user_of_session(const scenario& s, std::size_t session);
std::string device_of_session(const scenario& s, std::size_t session);

}  // namespace superapp::bench
