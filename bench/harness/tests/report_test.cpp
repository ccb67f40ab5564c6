// Result files: JSON round trip, Markdown and SVG content, compare, and /metrics parsing.
#include "bench/harness/report.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <variant>

using namespace superapp::bench;

namespace {

run_summary run(std::string name, std::string role, double throughput, double p99) {
  run_summary r;
  r.name = std::move(name);
  r.role = std::move(role);
  r.mode = "open";
  r.rate_per_s = 1000;
  r.connected = 10;
  r.ok = 5000;
  r.throughput_per_s = throughput;
  r.latency = {100, 150, p99, p99 * 2, p99 * 3, 120};
  r.percentile_curve_us = {{0.0, 50}, {0.5, 100}, {0.99, p99}};
  r.timeline = {{0, 1000, 0, 100, p99, p99 * 3}, {1, 1000, 2, 110, p99, p99 * 2}};
  r.histogram_relative_error = 1.0 / 128;
  return r;
}

bench_result sample() {
  bench_result r;
  r.scenario = "balance-reads";
  r.scenario_file = "bench/scenarios/balance-reads.toml";
  r.started_at = "2026-12-02T09:00:00Z";
  r.command = "superapp bench run bench/scenarios/balance-reads.toml";
  r.machine = this_machine();
  r.runs = {run("ws_echo", "baseline", 20000, 400), run("target", "target", 10000, 1000)};
  r.runs[1].errors = 3;
  r.runs[1].errors_by_code = {{"rate_limited", 2}, {"client_timeout", 1}};
  r.server.scraped = true;
  r.server.before.restarts_total = 1;
  r.server.after.restarts_total = 4;
  r.server.after.rss_bytes = 64 * 1024 * 1024;
  r.server.before.rss_bytes = 32 * 1024 * 1024;
  r.server.loaded.rss_bytes = 42 * 1024 * 1024;
  r.server.load_cpu_cores = 1.5;
  r.server.load_cpu_us_per_ok = 250.4;
  return r;
}

}  // namespace

TEST_CASE("the JSON result file names its format and reads back for compare") {
  const auto text = to_json(sample());
  auto doc = boost::json::parse(text).as_object();
  CHECK(doc.at("format").as_string() == "superapp-bench-result/1");
  CHECK(doc.at("partial").as_bool() == false);
  CHECK(doc.at("server").at("restarts_during_run").as_int64() == 3);
  CHECK(doc.at("server").at("load_cpu_cores").as_double() == 1.5);
  CHECK(doc.at("server").at("load_cpu_us_per_ok").as_double() == 250.4);
  const auto& target = doc.at("runs").as_array()[1].as_object();
  CHECK(target.at("errors_by_code").at("rate_limited").to_number<std::int64_t>() == 2);
  CHECK(target.at("latency_us").at("p99").as_double() == 1000);
  auto back = from_json(text);
  REQUIRE(std::holds_alternative<bench_result>(back));
  const auto& r = std::get<bench_result>(back);
  REQUIRE(r.runs.size() == 2);
  CHECK(r.runs[1].name == "target");
  CHECK(r.runs[1].latency.p999 == 2000);
  CHECK(r.runs[0].throughput_per_s == 20000);
}

TEST_CASE("a file that is not a result is refused with the reason") {
  auto a = from_json("{\"format\":\"other\"}");
  REQUIRE(std::holds_alternative<std::string>(a));
  CHECK(std::get<std::string>(a).find("format") != std::string::npos);
  CHECK(std::holds_alternative<std::string>(from_json("[1,2")));
}

TEST_CASE("the Markdown summary has the table, the ratio to the baseline and the server figures") {
  auto md = to_markdown(sample());
  CHECK(md.find("# Bench: balance-reads") != std::string::npos);
  CHECK(md.find("| target | open 1,000/s |") != std::string::npos);
  CHECK(md.find("Target / ws_echo: throughput 0.50x, p50 1.00x, p99 2.50x") != std::string::npos);
  CHECK(md.find("`rate_limited` × 2") != std::string::npos);
  CHECK(md.find("restarts: 1 → 4 (+3)") != std::string::npos);
  CHECK(md.find("32.0 MiB → 42.0 MiB → 64.0 MiB") != std::string::npos);
  CHECK(md.find("per open session: 1024.00 KiB (10 sessions)") != std::string::npos);
  CHECK(md.find("CPU over the measured load: 1.50 cores, 250 µs per answered request") !=
        std::string::npos);
  auto partial = sample();
  partial.partial = true;
  CHECK(to_markdown(partial).find("PARTIAL") != std::string::npos);
}

TEST_CASE("the SVG plot is one svg element with a curve and a timeline per run") {
  auto svg = to_svg(sample());
  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(svg.find("</svg>") == svg.size() - 7);
  std::size_t polylines = 0;
  for (auto at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1))
    ++polylines;
  CHECK(polylines == 6);  // p50, p99 and the percentile curve, for each of two runs
  CHECK(svg.find("NaN") == std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
}

TEST_CASE("compare prints B/A for each run both files have") {
  auto a = sample();
  auto b = sample();
  b.runs[1].throughput_per_s = 15000;
  b.runs[1].latency.p99 = 500;
  b.runs.erase(b.runs.begin());
  const auto table = compare(a, "a.json", b, "b.json");
  auto line_with = [&](std::string_view run_name, std::string_view figure) {
    std::size_t from = 0;
    while (from < table.size()) {
      const auto to = table.find('\n', from);
      const auto line = table.substr(from, to - from);
      if (line.starts_with(run_name) && line.find(figure) != std::string::npos) return line;
      from = to == std::string::npos ? table.size() : to + 1;
    }
    return std::string{};
  };
  const auto throughput = line_with("target", "throughput/s");
  CHECK(throughput.find("10,000") != std::string::npos);
  CHECK(throughput.find("15,000") != std::string::npos);
  CHECK(throughput.ends_with(" 1.50"));
  CHECK(line_with("target", "p99 us").ends_with(" 0.50"));
  CHECK(line_with("ws_echo", "only in A").size() > 0);
}

TEST_CASE("server figures are read from the node's Prometheus text") {
  const auto text = R"(# HELP superapp_actor_restarts_total restarts
# TYPE superapp_actor_restarts_total counter
superapp_actor_restarts_total{path="root/banking/front_door"} 2
superapp_actor_restarts_total{path="root/rewards/store"} 5
superapp_actor_mailbox_depth{path="root/banking/front_door"} 3
superapp_actor_mailbox_depth{path="root/gateway/sessions_sup"} 17
process_resident_memory_bytes 123456789
process_cpu_seconds_total 12.345678
superapp_other 1
)";
  const auto s = parse_node_metrics(text);
  CHECK(s.restarts_total == 7);
  CHECK(s.restarts_by_path.at("root/rewards/store") == 5);
  CHECK(s.mailbox_depth_max == 17);
  CHECK(s.mailbox_depth_max_path == "root/gateway/sessions_sup");
  REQUIRE(s.rss_bytes.has_value());
  CHECK(*s.rss_bytes == 123456789);
  CHECK_FALSE(parse_node_metrics("superapp_actor_restarts_total 1\n").rss_bytes.has_value());
  REQUIRE(s.cpu_seconds.has_value());
  CHECK(*s.cpu_seconds == doctest::Approx(12.345678));
  CHECK_FALSE(parse_node_metrics("process_cpu_seconds_total nan\n").cpu_seconds.has_value());
}
