// bench/isolation: the healthy domain's latency with and without a crash loop next door.
//
// Two domain trees under one root, as `superapp run` builds them (SQLite stores, front doors
// with admission). An open-loop driver sends ping requests to the banking front door at a fixed
// rate and measures each from its intended send time, so a stall cannot hide by delaying later
// sends (no coordinated omission). Each round runs the baseline (rewards idle) and the crash
// loop (a rewards worker crashing every few milliseconds, restarted by its supervisors) back to
// back; the report puts them side by side.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "supervisors/chaos.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/supervisor.hpp"

using namespace superapp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

struct run_result {
  std::vector<std::int64_t> latencies_us;
  std::int64_t errors = 0;
  std::int64_t sent = 0;
  double seconds = 0;  // wall time of the run, for the achieved rate only
  std::int64_t neighbour_restarts = 0;
};

struct driver_state {
  std::shared_ptr<run_result> result;
  steady::time_point start;
  std::int64_t total = 0;
  std::int64_t answered = 0;
  caf::actor reply_to;
};

// Sends `total` requests at `rate_per_s`, each stamped with its intended send time.
caf::behavior open_loop_driver(caf::stateful_actor<driver_state>* self,
                               sup::front_door_directory::entry door, std::int64_t rate_per_s,
                               std::int64_t total, std::shared_ptr<run_result> result,
                               caf::actor reply_to) {
  self->state.result = result;
  self->state.total = total;
  self->state.reply_to = reply_to;
  self->state.start = steady::now();
  self->state.result->latencies_us.reserve(static_cast<std::size_t>(total));
  self->send(self, tick_atom::value);
  auto finish_one = [self] {
    if (++self->state.answered == self->state.total) {
      self->state.result->seconds =
          std::chrono::duration<double>(steady::now() - self->state.start).count();
      self->send(self->state.reply_to, done_atom::value);
      self->quit();
    }
  };
  return {
      [=](tick_atom) {
        auto& st = self->state;
        auto elapsed_ns = (steady::now() - st.start).count();
        auto due = std::min<std::int64_t>(st.total, elapsed_ns * rate_per_s / 1'000'000'000 + 1);
        for (; st.result->sent < due; ++st.result->sent) {
          auto intended = st.start + std::chrono::nanoseconds{st.result->sent * 1'000'000'000 / rate_per_s};
          sup::admitted_request(
              self, door.gate, door.front_door, 5s,
              [self, intended, finish_one](std::string&) {
                auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() -
                                                                                intended);
                self->state.result->latencies_us.push_back(us.count());
                finish_one();
              },
              [self, finish_one](caf::error&) {
                ++self->state.result->errors;
                finish_one();
              },
              sup::ping_atom::value);
        }
        if (st.result->sent < st.total) self->delayed_send(self, 200us, tick_atom::value);
      },
  };
}

std::int64_t percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

std::int64_t restarts_of(caf::scoped_actor& self, const caf::actor& root,
                         const std::string& domain) {
  std::int64_t total = 0;
  self->request(root, 5s, sup::report_atom::value)
      .receive(
          [&](sup::tree_node& tree) {
            for (auto& d : tree.children) {
              if (d.name != domain) continue;
              total += d.restarts;
              for (auto& c : d.children) total += c.restarts;
            }
          },
          [](caf::error&) {});
  return total;
}

run_result run_once(bool crash_loop, std::int64_t rate_per_s, std::int64_t total,
                    const std::filesystem::path& dir) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  sup::domain_settings settings;
  settings.database.sqlite_directory = dir.string();
  settings.database.reader_connections = 1;
  settings.directory = std::make_shared<sup::front_door_directory>();
  settings.front_door_credits = 4096;
  // The crash loop is absorbed by the rewards supervisor itself: a high intensity with a short
  // backoff restarts the crashing worker hundreds of times a second without escalating.
  auto rewards_settings = settings;
  rewards_settings.intensity = {100'000, 1s};
  rewards_settings.backoff = {1ms, 4ms, 20};
  sup::domain_definition banking;
  banking.name = "banking";
  sup::domain_definition rewards;
  rewards.name = "rewards";
  if (crash_loop) {
    sup::domain_worker crasher;
    crasher.spec = sup::crash_loop_child("campaign", 2ms);
    crasher.start = [proto = crasher.spec](caf::local_actor& parent, const caf::message& args,
                                           sup::domain_context_ptr) {
      return proto.start(parent, args);
    };
    rewards.workers.push_back(crasher);
  }
  auto root_spec = sup::node_root_supervisor(
      "root",
      {sup::domain_supervisor(banking, settings), sup::domain_supervisor(rewards, rewards_settings)});
  auto root = sup::spawn_supervisor(sys, root_spec);
  if (auto err = sup::await_ready(self, root, 30s)) {
    std::fprintf(stderr, "bench/isolation: the tree did not start\n");
    std::exit(1);
  }
  auto door = settings.directory->lookup("banking");
  auto result = std::make_shared<run_result>();
  sys.spawn(open_loop_driver, *door, rate_per_s, total, result, caf::actor{self});
  self->receive([](done_atom) {}, caf::after(std::chrono::seconds{120}) >> [] {
    std::fprintf(stderr, "bench/isolation: the run did not finish in 120 s\n");
    std::exit(1);
  });
  result->neighbour_restarts = restarts_of(self, root, "rewards");
  sup::shutdown(self, root, 30s);
  return std::move(*result);
}

struct summary {
  std::int64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::int64_t errors = 0, restarts = 0, count = 0;
  double rate = 0;
};

summary summarise(std::vector<run_result>& runs) {
  std::vector<std::int64_t> all;
  summary s;
  double seconds = 0;
  for (auto& r : runs) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    s.errors += r.errors;
    s.restarts += r.neighbour_restarts;
    seconds += r.seconds;
  }
  std::sort(all.begin(), all.end());
  s.count = static_cast<std::int64_t>(all.size());
  s.p50 = percentile(all, 0.50);
  s.p90 = percentile(all, 0.90);
  s.p99 = percentile(all, 0.99);
  s.p999 = percentile(all, 0.999);
  s.max = all.empty() ? 0 : all.back();
  s.rate = seconds > 0 ? static_cast<double>(s.count + s.errors) / seconds : 0;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rate_per_s = argc > 1 ? std::atoll(argv[1]) : 20'000;
  std::int64_t per_run = argc > 2 ? std::atoll(argv[2]) : 100'000;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (rate_per_s <= 0 || per_run <= 0 || rounds <= 0 || rounds > 20 || per_run > 5'000'000) {
    std::fprintf(stderr, "usage: bench_isolation [rate_per_s] [requests_per_run<=5e6] [rounds<=20]\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::off);  // the crash loop logs every restart
  std::string pattern = (std::filesystem::temp_directory_path() / "superapp-bench-XXXXXX").string();
  std::filesystem::path dir = ::mkdtemp(pattern.data());
  std::vector<run_result> baseline, crashing;
  for (int round = 0; round < rounds; ++round) {
    baseline.push_back(run_once(false, rate_per_s, per_run, dir));
    crashing.push_back(run_once(true, rate_per_s, per_run, dir));
  }
  std::filesystem::remove_all(dir);
  auto b = summarise(baseline);
  auto c = summarise(crashing);
  auto ratio = [](std::int64_t x, std::int64_t y) { return y > 0 ? static_cast<double>(x) / static_cast<double>(y) : 0.0; };
  std::printf("bench/isolation: banking ping, open loop at %lld req/s, %d rounds x %lld requests, "
              "2 scheduler threads\n\n",
              static_cast<long long>(rate_per_s), rounds, static_cast<long long>(per_run));
  std::printf("| run | requests | errors | rate/s | p50 us | p90 us | p99 us | p99.9 us | max us | rewards restarts |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  auto row = [](const char* name, const summary& s) {
    std::printf("| %s | %lld | %lld | %.0f | %lld | %lld | %lld | %lld | %lld | %lld |\n", name,
                static_cast<long long>(s.count), static_cast<long long>(s.errors), s.rate,
                static_cast<long long>(s.p50), static_cast<long long>(s.p90),
                static_cast<long long>(s.p99), static_cast<long long>(s.p999),
                static_cast<long long>(s.max), static_cast<long long>(s.restarts));
  };
  row("baseline (rewards idle)", b);
  row("rewards crash loop", c);
  std::printf("\nratio crash/baseline: p50 %.2f, p99 %.2f (goal: p99 <= 1.10), errors %lld\n",
              ratio(c.p50, b.p50), ratio(c.p99, b.p99), static_cast<long long>(c.errors));
  return 0;
}
