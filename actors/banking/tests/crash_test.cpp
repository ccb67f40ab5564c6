// The fault test of issue 7: the banking node is killed with SIGKILL, again and again, while
// sessions send transfers; after each restart every transfer it acknowledged is in the ledger,
// no wallet is overdrawn, and the books balance (per currency, all posted balances sum to zero).
// Each node is a child process (the same tree and database as the other suites: SQLite, or
// PostgreSQL under SUPERAPP_TEST_ENGINE=postgres); this process only kills and checks.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "actors/banking/tests/banking_node.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace superapp::testing;
using namespace std::chrono_literals;

namespace {

constexpr int users = 8;
constexpr int senders = 4;
constexpr std::int64_t funding = 100'000;

// Few transfer ids in memory (ADR 0020): after the first round every restart loads most ids as
// hashes, and each round's funding transfers are retries answered from the database.
void few_ids_in_memory(banking_settings& s) { s.ledger.recent_transfer_ids = 16; }

caller user(int i) { return caller{"u-" + std::to_string(i), "d-" + std::to_string(i), {"user"}}; }

// Appends one line with a single write(2): the line is whole in the file even if the process is
// killed right after (the kernel has it; no buffer of ours holds it).
void append_line(int fd, const std::string& line) {
  auto text = line + "\n";
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

// A node's life in a child process: open and fund the wallets (idempotent: the same ids each
// time), mark the file "ready", then send transfers from `senders` threads until killed,
// appending the id of every acknowledged one to the file.
[[noreturn]] void node_until_killed(const node_place& place, const std::string& acks, int round) {
  int fd = ::open(acks.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0) std::_Exit(3);
  {
    banking_node n{few_ids_in_memory, place};
    // A commit the killed node had sent may land after this node's ledger loaded (PostgreSQL
    // finishes it): the ledger's fence finds the books moved and it loads again (ADR 0021), and
    // what it was asked meanwhile fails. A client asks again, and so does this one.
    auto again = [](auto attempt) {
      for (int tries = 0; tries < 100; ++tries) {
        if (attempt()) return true;
        std::this_thread::sleep_for(50ms);
      }
      return false;
    };
    for (int i = 0; i < users; ++i) {
      if (!again([&] { return n.open(user(i)).ok; })) std::_Exit(4);
      caf::scoped_actor self{*n.sys};
      const bool opened = again([&] {
        bool ok = false;
        self->request(caf::actor_cast<ledger_actor>(n.slot->get()), 20s, open_account_atom::value,
                      account{"funding:GBP", "GBP", 0})
            .receive([&](bool x) { ok = x; }, [](caf::error&) {});
        return ok;
      });
      if (!opened) std::_Exit(5);
      transfer t;
      t.id = "fund-" + std::to_string(i);
      t.debit_account = "funding:GBP";
      t.credit_account = wallet_id(user(i).subject, "GBP");
      t.amount = funding;
      t.currency = "GBP";
      auto r = transfer_result::overflows;
      const bool answered = again([&] {
        bool got = false;
        self->request(caf::actor_cast<ledger_actor>(n.slot->get()), 20s, transfer_atom::value, t)
            .receive(
                [&](transfer_result x) {
                  r = x;
                  got = true;
                },
                [](caf::error&) {});
        return got;
      });
      if (!answered || (r != transfer_result::ok && r != transfer_result::exists)) std::_Exit(6);
      if (round > 0 && r != transfer_result::exists) std::_Exit(8);  // funded twice
    }
    append_line(fd, "ready " + std::to_string(round));
    std::vector<std::thread> threads;
    for (int s = 0; s < senders; ++s)
      threads.emplace_back([&n, fd, s, round] {
        std::mt19937 rng{static_cast<unsigned>(round * 100 + s)};
        for (int i = 0;; ++i) {
          int from = static_cast<int>(rng() % users), to = static_cast<int>(rng() % (users - 1));
          if (to >= from) ++to;
          std::int64_t amount = 1 + static_cast<std::int64_t>(rng() % 5'000);
          auto key = "r" + std::to_string(round) + "-s" + std::to_string(s) + "-" + std::to_string(i);
          auto r = n.call("banking.transfer",
                          {{"to_user", user(to).subject},
                           {"amount", banking_node::money(amount)},
                           {"approval", n.approve(user(from), "banking.transfer", amount, "GBP", user(to).subject)}},
                          user(from), key);
          if (r.ok) append_line(fd, json::serialize(r.body.at("transfer_id")));
        }
      });
    for (auto& t : threads) t.join();  // never: the parent kills the process
  }
  std::_Exit(7);
}

bool file_has(const std::string& path, const std::string& text) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line == text) return true;
  return false;
}

}  // namespace

TEST_CASE("kill -9 during a transfer load: every acknowledged transfer survives and the books balance") {
  node_place place{unique_name("banking_crash"), {}};
  std::string pattern = (std::filesystem::temp_directory_path() / "superapp-crash-XXXXXX").string();
  place.dir = ::mkdtemp(pattern.data());
  const auto acks = (place.dir / "acknowledged.txt").string();
  std::mt19937 rng{42};
  constexpr int rounds = 6;
  for (int round = 0; round < rounds; ++round) {
    std::cout.flush();  // nothing of ours buffered for the child to print again
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) node_until_killed(place, acks, round);
    // Up, then under load for a random while, then killed without warning.
    for (int i = 0; i < 600 && !file_has(acks, "ready " + std::to_string(round)); ++i) std::this_thread::sleep_for(50ms);
    int status = 0;
    REQUIRE_MESSAGE(::waitpid(pid, &status, WNOHANG) == 0, "the node died before it was killed: " << status);
    std::this_thread::sleep_for(std::chrono::milliseconds{300 + rng() % 700});
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
  }

  // After the last kill: the database as the last node left it, read from this process.
  std::set<std::string> acknowledged;
  {
    std::ifstream in{acks};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("\"", 0) == 0) acknowledged.insert(line.substr(1, line.size() - 2));
  }
  MESSAGE("transfers acknowledged over " << rounds << " kills: " << acknowledged.size());
  CHECK(acknowledged.size() >= 50);
  banking_node checker{few_ids_in_memory, place};
  auto conn = checker.reader();
  auto rows = conn->execute({"SELECT transfer_id FROM transfers", {}});
  REQUIRE(rows);
  std::set<std::string> stored;
  for (const auto& r : rows->rows) stored.insert(persistence::text_at(r, 0));
  std::size_t missing = 0;
  for (const auto& id : acknowledged) missing += stored.count(id) == 0 ? 1 : 0;
  CHECK_MESSAGE(missing == 0, missing << " acknowledged transfers are not in the ledger");
  CHECK(checker.books() == 0);
  auto overdrawn = conn->execute({"SELECT COUNT(*) FROM accounts WHERE account_id LIKE 'wallet:%'"
                                  " AND credits_posted - debits_posted - debits_pending < 0",
                                  {}});
  REQUIRE(overdrawn);
  CHECK(persistence::int_at(overdrawn->rows[0], 0) == 0);
  // What the wallets hold is what was funded: money moved, none was made or lost.
  // (SUMs cast back to BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC.)
  auto held = conn->execute(
      {"SELECT CAST(SUM(credits_posted - debits_posted) AS BIGINT) FROM accounts WHERE account_id LIKE 'wallet:%'", {}});
  REQUIRE(held);
  CHECK(persistence::int_at(held->rows[0], 0) == users * funding);
  // The balances in `accounts` are the sum of the transfers in `transfers` (no lost update).
  auto sums = conn->execute({"SELECT a.account_id, a.credits_posted - a.debits_posted,"
                             " COALESCE((SELECT CAST(SUM(moved) AS BIGINT) FROM transfers t WHERE t.credit_account = a.account_id"
                             "   AND t.kind IN ('immediate', 'post_pending')), 0)"
                             " - COALESCE((SELECT CAST(SUM(moved) AS BIGINT) FROM transfers t WHERE t.debit_account = a.account_id"
                             "   AND t.kind IN ('immediate', 'post_pending')), 0)"
                             " FROM accounts a",
                             {}});
  REQUIRE(sums);
  for (const auto& r : sums->rows) {
    CAPTURE(persistence::text_at(r, 0));
    CHECK(persistence::int_at(r, 1) == persistence::int_at(r, 2));
  }
  checker.stop();
  std::filesystem::remove_all(place.dir);
}
