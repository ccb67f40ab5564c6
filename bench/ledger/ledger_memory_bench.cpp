// The ledger's memory per transfer (issue 7): the ledger writer knows every accepted transfer's
// id (ADR 0015, ADR 0018: uniqueness of ids is the writer's), with what tells a retry from a
// conflicting reuse of the id. Beside it, the baseline: a bare hash set of the same ids, the
// least an in-memory uniqueness check holds that keeps every id. Two ledger runs: every id in
// memory with its digest, and the writer's default (ADR 0020: the newest `recent` ids so, older
// ones as a 64-bit hash, forgotten as a writer does after each commit of `batch` transfers).
// Each runs in a child process of its own, so one's freed memory does not hide another's growth.
//
//   bench_ledger_memory [transfers = 1000000] [accounts = 10000] [recent = 262144]
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "actors/banking/ledger_core.hpp"

namespace {

using superapp::banking::account;
using superapp::banking::ledger_core;
using superapp::banking::transfer;
using superapp::banking::transfer_result;

std::int64_t rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// "tr_" + 32 hex digits: the shape of a client transfer's id (banking_service.cpp).
std::vector<std::string> make_ids(std::int64_t n) {
  std::mt19937_64 rng{42};
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(n));
  char buf[40];
  for (std::int64_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "tr_%016" PRIx64 "%016" PRIx64, rng(), rng());
    ids.emplace_back(buf);
  }
  return ids;
}

std::string wallet(std::int64_t i) { return "wallet:u-" + std::to_string(100000 + i) + ":GBP"; }

// Runs `measure` in a child; the child writes one number (bytes per item) to the pipe.
double in_child(const std::function<double()>& measure) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  auto pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    double v = measure();
    if (::write(fds[1], &v, sizeof v) != sizeof v) ::_exit(1);
    ::_exit(0);
  }
  ::close(fds[1]);
  double v = -1;
  if (::read(fds[0], &v, sizeof v) != sizeof v) v = -1;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  const std::int64_t accounts = argc > 2 ? std::atoll(argv[2]) : 10'000;
  const std::int64_t recent = argc > 3 ? std::atoll(argv[3]) : 262'144;
  if (n <= 0 || accounts < 2 || recent < 0) {
    std::fprintf(stderr,
                 "usage: bench_ledger_memory [transfers > 0] [accounts >= 2] [recent >= 0]\n");
    return 2;
  }

  auto baseline = in_child([n] {
    auto ids = make_ids(n);  // made before the measurement, as the ledger's transfers are
    auto before = rss_bytes();
    std::unordered_set<std::string> seen;
    for (const auto& id : ids) seen.insert(id);  // a copy each, as the ledger keeps its own
    return static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
  });

  // keep < 0: every id in memory; else the newest `keep`, forgotten every 4,000 transfers (the
  // writer's max_batch_transfers: it forgets after each commit).
  auto ledger_run = [n, accounts](std::int64_t keep) {
    return in_child([n, accounts, keep] {
      auto ids = make_ids(n);
      ledger_core core;
      if (keep >= 0) core.keep_recent(static_cast<std::size_t>(keep), {});
      for (std::int64_t i = 0; i < accounts; ++i) core.add_account(account{wallet(i), "GBP", 0});
      std::mt19937_64 rng{7};
      std::vector<transfer> transfers;
      transfers.reserve(static_cast<std::size_t>(n));
      for (auto& id : ids) {
        transfer t;
        t.id = std::move(id);
        auto from = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(accounts));
        t.debit_account = wallet(from);
        t.credit_account = wallet((from + 1) % accounts);
        t.amount = 1;
        t.currency = "GBP";
        transfers.push_back(std::move(t));
      }
      auto none_unsettled = [](const std::string&) { return false; };
      auto before = rss_bytes();
      std::int64_t applied = 0;
      for (const auto& t : transfers) {
        if (core.apply(t, 0) != transfer_result::ok) std::abort();
        if (keep >= 0 && ++applied % 4'000 == 0) core.forget_settled(none_unsettled);
      }
      if (keep >= 0) core.forget_settled(none_unsettled);
      return static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
    });
  };
  auto ledger = ledger_run(-1);
  auto windowed = ledger_run(recent);

  std::printf("ledger memory per accepted transfer, %" PRId64 " transfers between %" PRId64
              " accounts (RSS growth / transfers, each in its own process)\n",
              n, accounts);
  std::printf("| run | bytes per transfer | ratio |\n|---|---|---|\n");
  std::printf("| baseline: unordered_set<std::string> of the ids | %.1f | 1.00x |\n", baseline);
  std::printf("| ledger_core, every id with what tells a retry from a conflict | %.1f | %.2fx |\n",
              ledger, baseline > 0 ? ledger / baseline : 0.0);
  std::printf("| ledger_core, the newest %" PRId64
              " so, older ids as 64-bit hashes | %.1f | %.2fx |\n",
              recent, windowed, baseline > 0 ? windowed / baseline : 0.0);
  return baseline > 0 && ledger > 0 && windowed > 0 ? 0 : 1;
}
