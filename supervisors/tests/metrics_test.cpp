// The metrics registry: values, exact Prometheus text, buckets, escaping, concurrency, the tree.
#include "supervisors/metrics.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "protocols/assert.hpp"
#include "supervisors/tree.hpp"

using namespace superapp;

TEST_CASE("a counter, a gauge and a histogram render as exact Prometheus text") {
  metrics::registry registry;
  auto transfers = registry.add_counter("superapp_transfers_total", "Transfers by outcome",
                                        {{"domain", "banking"}, {"code", "ok"}});
  auto sessions = registry.add_gauge("superapp_sessions", "Open sessions");
  const std::int64_t bounds_us[] = {100, 1'000, 1'000'000};
  auto latency = registry.add_histogram("superapp_op_duration_seconds", "Op latency",
                                        {{"op", "pay"}}, bounds_us);

  transfers.increment();
  transfers.increment(2);
  sessions.set(7);
  sessions.sub(2);
  latency.observe_us(50);
  latency.observe_us(100);
  latency.observe_us(2'500);
  latency.observe(std::chrono::seconds(3));

  CHECK(transfers.value() == 3);
  CHECK(sessions.value() == 5);
  CHECK(latency.count() == 4);
  CHECK(latency.sum_us() == 3'002'650);
  CHECK(registry.render() ==
        "# HELP superapp_transfers_total Transfers by outcome\n"
        "# TYPE superapp_transfers_total counter\n"
        "superapp_transfers_total{domain=\"banking\",code=\"ok\"} 3\n"
        "# HELP superapp_sessions Open sessions\n"
        "# TYPE superapp_sessions gauge\n"
        "superapp_sessions 5\n"
        "# HELP superapp_op_duration_seconds Op latency\n"
        "# TYPE superapp_op_duration_seconds histogram\n"
        "superapp_op_duration_seconds_bucket{op=\"pay\",le=\"0.0001\"} 2\n"
        "superapp_op_duration_seconds_bucket{op=\"pay\",le=\"0.001\"} 2\n"
        "superapp_op_duration_seconds_bucket{op=\"pay\",le=\"1\"} 3\n"
        "superapp_op_duration_seconds_bucket{op=\"pay\",le=\"+Inf\"} 4\n"
        "superapp_op_duration_seconds_sum{op=\"pay\"} 3.00265\n"
        "superapp_op_duration_seconds_count{op=\"pay\"} 4\n");
}

TEST_CASE("a value on a bucket bound counts in that bucket and one microsecond more in the next") {
  metrics::registry registry;
  const std::int64_t bounds_us[] = {100, 1'000};
  auto h = registry.add_histogram("superapp_bound_seconds", "bounds", {}, bounds_us);
  h.observe_us(100);
  h.observe_us(101);
  h.observe_us(1'000);
  h.observe_us(1'001);
  h.observe_us(-5);  // a clock stepping back counts as zero, not as a negative sum
  CHECK(h.bucket_count(0) == 2);
  CHECK(h.bucket_count(1) == 2);
  CHECK(h.bucket_count(2) == 1);
  CHECK(h.count() == 5);
  CHECK(h.sum_us() == 2'202);
}

TEST_CASE("the default latency buckets run from 50 microseconds to 10 seconds in ascending order") {
  metrics::registry registry;
  auto h = registry.add_histogram("superapp_default_seconds", "defaults");
  auto bounds = h.bounds_us();
  REQUIRE(bounds.size() > 10);
  CHECK(bounds.front() == 50);
  CHECK(bounds.back() == 10'000'000);
  for (std::size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i - 1] < bounds[i]);
  auto text = registry.render();
  CHECK(text.find("le=\"0.00005\"} 0\n") != std::string::npos);
  CHECK(text.find("le=\"10\"} 0\n") != std::string::npos);
}

TEST_CASE(
    "label values escape backslash, quote and newline, and help escapes backslash and newline") {
  metrics::registry registry;
  auto c = registry.add_counter("superapp_odd_total", "line one\nback\\slash \"quoted\"",
                                {{"path", "C:\\dir \"x\"\nnext"}});
  c.increment();
  CHECK(registry.render() ==
        "# HELP superapp_odd_total line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE superapp_odd_total counter\n"
        "superapp_odd_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n");
}

TEST_CASE("seconds are rendered exactly from microseconds") {
  CHECK(metrics::format_seconds(0) == "0");
  CHECK(metrics::format_seconds(50) == "0.00005");
  CHECK(metrics::format_seconds(2'500'000) == "2.5");
  CHECK(metrics::format_seconds(10'000'000) == "10");
  CHECK(metrics::format_seconds(-1'500) == "-0.0015");
}

TEST_CASE("registering the same name and labels twice shares one series") {
  metrics::registry registry;
  auto a = registry.add_counter("superapp_shared_total", "shared", {{"op", "x"}});
  auto b = registry.add_counter("superapp_shared_total", "shared", {{"op", "x"}});
  auto other = registry.add_counter("superapp_shared_total", "shared", {{"op", "y"}});
  a.increment();
  b.increment();
  CHECK(a.value() == 2);
  CHECK(other.value() == 0);
  auto text = registry.render();
  // One family header, two series.
  CHECK(text.find("# TYPE superapp_shared_total") == text.rfind("# TYPE superapp_shared_total"));
  CHECK(text.find("superapp_shared_total{op=\"y\"} 0\n") != std::string::npos);
}

TEST_CASE("a sampled gauge renders the value its sampler returns at each scrape") {
  metrics::registry registry;
  std::int64_t value = 7;
  registry.add_sampled_gauge("superapp_sampled", "sampled", [&value] { return value; });
  CHECK(registry.render().find("superapp_sampled 7\n") != std::string::npos);
  value = 9;
  CHECK(registry.render().find("superapp_sampled 9\n") != std::string::npos);
  CHECK_THROWS_AS(registry.add_sampled_gauge("superapp_sampled", "sampled", [] { return 1; }),
                  assertion_failure);
}

TEST_CASE("the process' resident memory is read from /proc and grows when pages are touched") {
  const auto before = metrics::process_resident_memory_bytes();
  REQUIRE(before > 0);
  std::vector<char> block(64 * 1024 * 1024, 1);  // 64 MiB, every page written
  const auto after = metrics::process_resident_memory_bytes();
  CHECK(after - before >= 32 * 1024 * 1024);
  CHECK(block[block.size() - 1] == 1);
}

TEST_CASE("a sampled counter of seconds renders its microseconds as seconds; the CPU time grows") {
  metrics::registry registry;
  std::int64_t us = 1'500'250;
  registry.add_sampled_counter_us("superapp_busy_seconds_total", "busy", [&] { return us; });
  CHECK(registry.render().find("# TYPE superapp_busy_seconds_total counter\n") !=
        std::string::npos);
  CHECK(registry.render().find("superapp_busy_seconds_total 1.50025\n") != std::string::npos);
  us = 2'000'000;
  CHECK(registry.render().find("superapp_busy_seconds_total 2\n") != std::string::npos);
  REQUIRE(registry.read("superapp_busy_seconds_total").size() == 1);
  CHECK(registry.read("superapp_busy_seconds_total")[0].value == 2'000'000);
  CHECK_THROWS_AS(
      registry.add_sampled_counter_us("superapp_busy_total", "no unit", [] { return 1; }),
      assertion_failure);

  const auto before = metrics::process_cpu_microseconds();
  REQUIRE(before >= 0);
  volatile std::uint64_t spin = 0;  // spins until 20 ms of CPU show (or 10 s pass)
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (metrics::process_cpu_microseconds() - before < 20'000 &&
         std::chrono::steady_clock::now() < until)
    for (int i = 0; i < 100'000; ++i) spin = spin + 1;
  CHECK(metrics::process_cpu_microseconds() - before >= 20'000);
}

TEST_CASE("a name reused with another type, a bad name or a reserved label is a bug") {
  metrics::registry registry;
  registry.add_counter("superapp_things_total", "things");
  CHECK_THROWS_AS(registry.add_gauge("superapp_things_total", "things"), assertion_failure);
  CHECK_THROWS_AS(registry.add_counter("superapp_things_total", "other help"), assertion_failure);
  CHECK_THROWS_AS(registry.add_counter("superapp_no_suffix", "x"), assertion_failure);
  CHECK_THROWS_AS(registry.add_gauge("9starts_with_digit", "x"), assertion_failure);
  CHECK_THROWS_AS(registry.add_gauge("superapp_g", "x", {{"bad-label", "v"}}), assertion_failure);
  CHECK_THROWS_AS(registry.add_histogram("superapp_h_seconds", "x", {{"le", "1"}}),
                  assertion_failure);
  CHECK_THROWS_AS(registry.add_histogram("superapp_h_ms", "x"), assertion_failure);
  const std::int64_t unsorted_us[] = {10, 5};
  CHECK_THROWS_AS(registry.add_histogram("superapp_u_seconds", "x", {}, unsorted_us),
                  assertion_failure);
}

TEST_CASE("increments from several threads sum exactly") {
  metrics::registry registry;
  auto c = registry.add_counter("superapp_hits_total", "hits");
  auto g = registry.add_gauge("superapp_level", "level");
  auto h = registry.add_histogram("superapp_work_seconds", "work");
  constexpr int threads = 4;
  constexpr int per_thread = 50'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        c.increment();
        g.add(t % 2 == 0 ? 2 : -1);
        h.observe_us(i % 1'000);
      }
    });
  // Scraping while writers run must be safe (and is exercised under the sanitizers).
  auto during = registry.render();
  for (auto& w : workers) w.join();
  CHECK(!during.empty());
  CHECK(c.value() == std::uint64_t{threads} * per_thread);
  CHECK(g.value() == (2 - 1) * 2 * per_thread);
  CHECK(h.count() == std::uint64_t{threads} * per_thread);
  // Each thread observes 0..999 fifty times: 50 * 499500 microseconds.
  CHECK(h.sum_us() == std::int64_t{threads} * 50 * 499'500);
}

namespace {

// Designated initializers would warn (-Wmissing-field-initializers) for every string left out.
sup::tree_node make_node(std::string name, std::string kind, std::string state) {
  sup::tree_node node;
  node.name = std::move(name);
  node.kind = std::move(kind);
  node.state = std::move(state);
  node.restart = "permanent";
  return node;
}

sup::tree_node sample_tree() {
  auto store = make_node("store", "worker", "running");
  store.restarts = 1;
  store.mailbox_depth = 3;
  store.uptime_ms = 1'500;
  auto payment = make_node("payment-17", "worker", "running");
  payment.mailbox_depth = 0;
  auto payments = make_node("payments_sup", "supervisor", "running");
  payments.strategy = "simple_one_for_one";
  payments.dynamic_children = 12;
  payments.children = {payment};
  auto banking = make_node("banking", "supervisor", "restarting");
  banking.strategy = "rest_for_one";
  banking.restarts = 2;
  banking.intensity_used = 2;
  banking.intensity_max = 5;
  banking.intensity_period_ms = 10'000;
  banking.children = {store, payments};
  auto root = make_node("root", "supervisor", "running");
  root.strategy = "one_for_one";
  root.children = {banking};
  return root;
}

}  // namespace

TEST_CASE("the supervision tree renders as metric families keyed by slash-joined paths") {
  std::string out;
  metrics::append_tree(sample_tree(), out);
  auto has = [&](const std::string& line) { return out.find(line + "\n") != std::string::npos; };
  CHECK(has("superapp_actor_mailbox_depth{path=\"root/banking/store\"} 3"));
  CHECK(has("superapp_actor_restarts_total{path=\"root/banking\"} 2"));
  CHECK(has("superapp_actor_restarts_total{path=\"root/banking/store\"} 1"));
  CHECK(has("superapp_actor_up{path=\"root/banking\"} 0"));
  CHECK(has("superapp_actor_up{path=\"root\"} 1"));
  CHECK(has("superapp_actor_uptime_seconds{path=\"root/banking/store\"} 1.5"));
  CHECK(has("superapp_supervisor_intensity_used{path=\"root/banking\"} 2"));
  CHECK(has("superapp_supervisor_intensity_max{path=\"root/banking\"} 5"));
  CHECK(has("superapp_supervisor_dynamic_children{path=\"root/banking/payments_sup\"} 12"));
  // Workers have no intensity, and an unprobed mailbox (-1) is left out rather than faked.
  CHECK(!has("superapp_supervisor_intensity_used{path=\"root/banking/store\"} 0"));
  CHECK(out.find("superapp_actor_mailbox_depth{path=\"root\"}") == std::string::npos);
  // Dynamic children churn; a series per payment would grow without bound.
  CHECK(out.find("payment-17") == std::string::npos);
  // Families are contiguous: each header appears once.
  CHECK(out.find("# TYPE superapp_actor_up gauge") == out.rfind("# TYPE superapp_actor_up gauge"));
}

TEST_CASE("read gives the current values of one counter or gauge family by label set") {
  metrics::registry r;
  auto a = r.add_counter("jobs_total", "Jobs", {{"domain", "a"}});
  auto b = r.add_counter("jobs_total", "Jobs", {{"domain", "b"}});
  r.add_sampled_gauge("depth", "Depth", [] { return std::int64_t{7}; });
  r.add_histogram("wait_seconds", "Wait");
  a.increment(3);
  b.increment();
  auto jobs = r.read("jobs_total");
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].labels == metrics::label_set{{"domain", "a"}});
  CHECK(jobs[0].value == 3);
  CHECK(jobs[1].value == 1);
  auto depth = r.read("depth");
  REQUIRE(depth.size() == 1);
  CHECK(depth[0].value == 7);
  CHECK(r.read("wait_seconds").empty());
  CHECK(r.read("nothing").empty());
}
