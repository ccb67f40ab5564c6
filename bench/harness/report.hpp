// A bench run's results: the JSON result file (format superapp-bench-result/1), the Markdown
// summary, the SVG plot, and the comparison of two result files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "bench/harness/load_engine.hpp"
#include "bench/harness/node_metrics.hpp"

namespace superapp::bench {

inline constexpr std::string_view result_format = "superapp-bench-result/1";

struct latency_figures_us {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

struct timeline_point {
  double t_s = 0;  // the slot's start, by intended send time
  std::uint64_t count = 0;
  std::uint64_t errors = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
};

// One measured run: the target, or a baseline beside it.
struct run_summary {
  std::string name;  // "target" or the baseline's kind
  std::string role;  // "target" | "baseline"
  std::string url;
  std::string description;
  std::string mode;  // "open" | "closed"
  double rate_per_s = 0;  // asked for (open loop)
  double duration_s = 0;  // asked for
  double elapsed_s = 0;   // measured
  std::uint32_t sessions = 0;
  std::uint32_t connected = 0;
  std::uint32_t connect_failures = 0;
  std::uint64_t sent = 0;
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> errors_by_code;
  std::map<std::string, std::uint64_t> ok_by_op;
  double throughput_per_s = 0;  // ok replies per second
  latency_figures_us latency;
  double send_lag_p99_us = 0;
  double histogram_relative_error = 0;
  std::vector<std::pair<double, double>> percentile_curve_us;  // (quantile, latency)
  std::vector<timeline_point> timeline;
  bool stopped_early = false;
  std::optional<double> server_rss_kib;  // a baseline in its own process, sessions still open
};

struct server_figures {
  bool scraped = false;
  std::string note;  // why not, when not
  node_snapshot before;
  node_snapshot loaded;  // at the end of the load, sessions still open
  node_snapshot after;
  // The node's CPU from the start of the measured load to its end (process_cpu_seconds_total
  // read at both): cores used, and CPU per answered request.
  std::optional<double> load_cpu_cores;
  std::optional<double> load_cpu_us_per_ok;
};

struct machine_info {
  std::string hostname;
  std::string cpu_model;
  unsigned cpus = 0;
  std::string kernel;
};
machine_info this_machine();

struct bench_result {
  std::string scenario;
  std::string scenario_file;
  std::string description;
  std::string started_at;  // UTC, ISO 8601
  bool partial = false;    // stopped by Ctrl-C (or a run did not finish)
  std::string command;
  machine_info machine;
  std::vector<run_summary> runs;
  server_figures server;
};

run_summary summarize(std::string name, std::string role, std::string url,
                      std::string description, const scenario& s, const load_figures& figures);

std::string to_json(const bench_result& result);
std::variant<bench_result, std::string> from_json(const std::string& text);
std::string to_markdown(const bench_result& result);
std::string to_svg(const bench_result& result);

// The ratio table of two result files: each run of A beside the run of B with the same name.
std::string compare(const bench_result& a, const std::string& a_name, const bench_result& b,
                    const std::string& b_name);

}  // namespace superapp::bench
