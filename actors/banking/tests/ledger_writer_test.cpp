// The ledger writer over a real database (SQLite, then PostgreSQL): answers only what is
// durable, batches concurrent transfers, survives restarts with balances, reservations and
// idempotency intact, and restarts from the database when a commit fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <latch>
#include <thread>

#include "actors/banking/banking_domain.hpp"
#include "actors/banking/ledger_store.hpp"
#include "persistence/db_errc.hpp"
#include "persistence/migrations.hpp"
#include "tests/support/domain_node.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace superapp::testing;
using namespace std::chrono_literals;

namespace {

struct ledger_node : domain_node {
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<sup::service_slot> slot = std::make_shared<sup::service_slot>();
  banking_settings settings;

  explicit ledger_node(std::function<void(ledger_settings&)> tweak = {},
                       std::optional<node_place> place = std::nullopt)
      : domain_node(
            "banking",
            [this](const std::string& db_name) { return banking_domain(settings, db_name); },
            std::move(place)) {
    settings.ledger.clock = clock;
    settings.ledger.expire_every = 20ms;
    settings.ledger_slot = slot;
    if (tweak) tweak(settings.ledger);
    start();
  }
  ~ledger_node() { stop(); }

  // Waits until the supervisor has put a new ledger in the slot in place of `before`.
  void await_restart(const caf::actor& before) {
    for (int i = 0; i < 500 && slot->get() == before; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(slot->get() != before);
  }

  // A writer connection of the test's own, beside the store's: to hold locks, or to write
  // what something else (another ledger) would have.
  persistence::connection& other_writer() {
    auto db = persistence::open_database(database(), name);
    REQUIRE(db);
    auto w = (*db)->connect(persistence::connection_role::writer);
    REQUIRE(w);
    others.emplace_back(std::move(*db), std::move(*w));
    return *others.back().second;
  }
  std::vector<
      std::pair<std::unique_ptr<persistence::database>, std::unique_ptr<persistence::connection>>>
      others;

  ledger_actor ledger() {
    // The slot holds the running writer (or the one before a restart for a moment).
    for (int i = 0; i < 500; ++i) {
      auto a = slot->get();
      if (a) return caf::actor_cast<ledger_actor>(a);
      std::this_thread::sleep_for(10ms);
    }
    FAIL("no ledger");
    return {};
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<Reply> out = make_error(platform_errc::timeout);
    self->request(ledger(), 20s, std::forward<Ts>(xs)...)
        .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  bool opened(const account& a) {
    auto r = ask<bool>(open_account_atom::value, a);
    REQUIRE_MESSAGE(r, describe(r.error()).wire_code);
    return *r;
  }

  transfer_result pay(const transfer& t) {
    auto r = ask<transfer_result>(transfer_atom::value, t);
    REQUIRE_MESSAGE(r, describe(r.error()).wire_code);
    return *r;
  }

  std::int64_t db_int(const std::string& sql, std::vector<persistence::value> params = {}) {
    auto r = reader()->execute({sql, std::move(params)});
    REQUIRE(r);
    REQUIRE(!r->rows.empty());
    return persistence::as_int(r->rows[0][0]).value_or(0);
  }

  // Waits until the database's index covers the transfers through `seq` (ADR 0018).
  void await_indexed(std::int64_t seq) {
    const auto indexed = "SELECT indexed_through FROM index_progress";
    for (int i = 0; i < 500 && db_int(indexed) != seq; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(db_int(indexed) == seq);
  }

  // Available to spend, as the database has it.
  std::int64_t db_available(const std::string& id) {
    return db_int("SELECT credits_posted - debits_posted - debits_pending FROM accounts WHERE account_id = $1",
                  {id});
  }

  void open_books() {
    REQUIRE(opened(account{"funding:GBP", "GBP", 0}));
    for (const char* w : {"wallet:alice", "wallet:bob"})
      REQUIRE(opened(account{w, "GBP", debits_must_not_exceed_credits}));
    REQUIRE(pay(immediate("fund", "funding:GBP", "wallet:alice", 10'000)) == transfer_result::ok);
  }

  static transfer immediate(std::string id, std::string from, std::string to, std::int64_t amount) {
    transfer t;
    t.id = std::move(id);
    t.debit_account = std::move(from);
    t.credit_account = std::move(to);
    t.amount = amount;
    t.currency = "GBP";
    return t;
  }
};

}  // namespace

TEST_CASE("an answered transfer is in the database with its balances") {
  ledger_node n;
  n.open_books();
  CHECK(n.pay(ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 2'500)) == transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 7'500);
  CHECK(n.db_available("wallet:bob") == 2'500);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers") == 2);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
  CHECK(n.pay(ledger_node::immediate("t2", "wallet:bob", "wallet:alice", 2'501)) ==
        transfer_result::exceeds_credits);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers") == 2);
  // An account id is taken by what it was opened as.
  CHECK_FALSE(n.opened(account{"wallet:bob", "EUR", 0}));
  CHECK(n.opened(account{"wallet:bob", "GBP", debits_must_not_exceed_credits}));
}

TEST_CASE("concurrent transfers from one wallet never overdraw it, and are committed in batches") {
  ledger_node n;
  n.open_books();
  // 400 transfers of 100 from a wallet holding 10,000, from 8 senders at once: exactly 100 fit.
  std::atomic<int> accepted{0}, refused{0};
  std::latch answered{400};
  auto ledger = n.ledger();
  for (int s = 0; s < 8; ++s)
    n.sys->spawn([&, s](caf::event_based_actor* self) {
      for (int i = 0; i < 50; ++i)
        self->request(ledger, 20s, transfer_atom::value,
                      ledger_node::immediate("c" + std::to_string(s) + "-" + std::to_string(i),
                                             "wallet:alice", "wallet:bob", 100))
            .then(
                [&](transfer_result r) {
                  (r == transfer_result::ok ? accepted : refused)++;
                  answered.count_down();
                },
                [&](caf::error&) {
                  refused++;
                  answered.count_down();
                });
    });
  answered.wait();
  CHECK(accepted == 100);
  CHECK(refused == 300);
  CHECK(n.db_available("wallet:alice") == 0);
  CHECK(n.db_available("wallet:bob") == 10'000);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers") == 101);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
}

TEST_CASE("the ledger's batches write every touched balance, small batches and large") {
  // On PostgreSQL a batch touching 1,000 stored accounts or more sets them by one UPDATE joined
  // to arrays of them, and a smaller one upserts them (ADR 0023); SQLite always upserts. The
  // store may also commit two of the ledger's units in one transaction (ADR 0021).
  ledger_node n;
  auto& w = n.other_writer();
  ledger_core core;
  std::vector<account> opened{{"test:funding", "GBP", 0}};
  for (int i = 0; i < 1'200; ++i)  // odd ids, to check the array literal's escapes
    opened.push_back({"test:w\"" + std::to_string(i) + "\\,{}", "GBP", 0});
  for (const auto& a : opened) REQUIRE(core.add_account(a));
  std::int64_t seq = 1000;
  auto applied = [&](std::vector<transfer> ts) {
    std::vector<store::recorded_transfer> out;
    for (const auto& t : ts) {
      applied_transfer a;
      REQUIRE(core.apply(t, 0, &a) == transfer_result::ok);
      out.push_back({a, ++seq, 0, 0});
    }
    return out;
  };
  auto pay = [](const std::string& prefix, std::size_t from, std::size_t to, std::size_t step,
                const std::vector<account>& accounts, std::int64_t amount, bool from_funding) {
    std::vector<transfer> ts;
    for (std::size_t i = from; i < to; i += step)
      ts.push_back(ledger_node::immediate(
          prefix + std::to_string(i), from_funding ? "test:funding" : accounts[i].id,
          from_funding ? accounts[i].id : accounts[i + 1].id, amount));
    return ts;
  };
  auto check_books = [&] {
    for (const auto& a : opened) {
      const auto& b = *core.balance_of(a.id);
      CAPTURE(a.id);
      CHECK(n.db_available(a.id) == b.credits_posted - b.debits_posted - b.debits_pending);
    }
  };
  persistence::unit_of_work first, second, third;
  store::add_batch(first, w.kind(), opened, applied(pay("f", 1, 1'201, 1, opened, 500, true)),
                   core);
  REQUIRE(w.commit_batch({&first}).commits == 1);
  check_books();
  // Two units in one transaction, both touching every wallet: 1,200 and 600 transfers.
  store::add_batch(second, w.kind(), {}, applied(pay("a", 1, 1'200, 1, opened, 200, false)), core);
  store::add_batch(third, w.kind(), {}, applied(pay("b", 1, 1'200, 2, opened, 50, false)), core);
  auto out = w.commit_batch({&second, &third});
  REQUIRE(out.units.size() == 2);
  CHECK(out.units[0]);
  CHECK(out.units[1]);
  CHECK(out.commits == 1);
  CHECK_FALSE(out.used_fallback);
  check_books();
  // Small batches: a few accounts each, two in one transaction.
  persistence::unit_of_work fourth, fifth;
  store::add_batch(fourth, w.kind(), {}, applied(pay("c", 1, 4, 1, opened, 7, false)), core);
  store::add_batch(fifth, w.kind(), {}, applied(pay("d", 2, 5, 1, opened, 3, false)), core);
  out = w.commit_batch({&fourth, &fifth});
  REQUIRE(out.units.size() == 2);
  CHECK(out.units[0]);
  CHECK(out.units[1]);
  check_books();
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE seq > 1000") == seq - 1000);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
  // On PostgreSQL the large form also checks that every account it sets is stored: one that
  // has gone fails the unit (the upsert would have put it back).
  REQUIRE(w.execute({"DELETE FROM accounts WHERE account_id = $1", {opened[7].id}}));
  persistence::unit_of_work sixth;
  store::add_batch(sixth, w.kind(), {}, applied(pay("e", 1, 1'200, 1, opened, 1, false)), core);
  out = w.commit_batch({&sixth});
  REQUIRE(out.units.size() == 1);
  if (w.kind() == persistence::engine::postgres) {
    REQUIRE_FALSE(out.units[0]);
    CHECK(out.units[0].error() == persistence::db_errc::unexpected_rows_affected);
  } else {
    CHECK(out.units[0]);
  }
}

TEST_CASE("balances, reservations and transfer ids survive a restart") {
  ledger_node n;
  n.open_books();
  auto hold = ledger_node::immediate("hold-1", "wallet:alice", "wallet:bob", 3'000);
  hold.kind = transfer_kind::pending;
  CHECK(n.pay(hold) == transfer_result::ok);
  auto t1 = ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000);
  CHECK(n.pay(t1) == transfer_result::ok);
  n.stop();
  n.slot->set(caf::actor{});
  n.start();
  CHECK(n.pay(t1) == transfer_result::exists);
  auto changed = t1;
  changed.amount = 999;
  CHECK(n.pay(changed) == transfer_result::idempotency_conflict);
  auto b = n.ask<balances>(balance_atom::value, std::string{"wallet:alice"});
  REQUIRE(b);
  CHECK(b->debits_pending == 3'000);
  CHECK(b->debits_posted == 1'000);
  transfer capture;
  capture.id = "cap-1";
  capture.kind = transfer_kind::post_pending;
  capture.pending_id = "hold-1";
  capture.currency = "GBP";
  CHECK(n.pay(capture) == transfer_result::ok);
  CHECK(n.db_available("wallet:bob") == 4'000);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE pending_state = 'posted'") == 1);
  CHECK(n.pay(ledger_node::immediate("t3", "wallet:alice", "wallet:bob", 6'001)) ==
        transfer_result::exceeds_credits);
}

TEST_CASE("retries of transfers older than the recent ids are answered from the database") {
  // Two ids in memory; the rest as hashes. Indexed every 6, no idle pass: the older ids up to
  // seq 6 are found through transfer_ids, hold-1 and cap-1 (7, 8) in the unindexed tail.
  metrics::registry registry;
  ledger_node n{[&registry](ledger_settings& s) {
    s.metrics = &registry;
    s.recent_transfer_ids = 2;
    s.index_every = 6;
    s.index_pass = index_pass_mode::in_commit;  // indexed through 6 once t4 is answered
    s.expire_every = 1h;
  }};
  n.open_books();  // "fund", seq 1
  std::vector<transfer> sent;
  for (int i = 0; i < 5; ++i) {  // seqs 2..6: indexed through 6
    sent.push_back(
        ledger_node::immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob", 100));
    REQUIRE(n.pay(sent.back()) == transfer_result::ok);
  }
  auto hold = ledger_node::immediate("hold-1", "wallet:alice", "wallet:bob", 1'000);
  hold.kind = transfer_kind::pending;
  REQUIRE(n.pay(hold) == transfer_result::ok);
  transfer capture;  // as the service sends it: naming the owner's account
  capture.id = "cap-1";
  capture.kind = transfer_kind::post_pending;
  capture.pending_id = "hold-1";
  capture.debit_account = "wallet:alice";
  capture.currency = "GBP";
  REQUIRE(n.pay(capture) == transfer_result::ok);
  for (const char* id : {"t5", "t6"})  // cap-1 leaves the memory too
    REQUIRE(n.pay(ledger_node::immediate(id, "wallet:alice", "wallet:bob", 1)) ==
            transfer_result::ok);
  CHECK(n.db_int("SELECT indexed_through FROM index_progress") == 6);
  auto check_retries = [&] {
    for (const auto& t : sent) CHECK_MESSAGE(n.pay(t) == transfer_result::exists, t.id);
    auto changed = sent[0];
    changed.amount = 99;
    CHECK(n.pay(changed) == transfer_result::idempotency_conflict);
    changed = sent[4];
    changed.credit_account = "funding:GBP";
    CHECK(n.pay(changed) == transfer_result::idempotency_conflict);
    CHECK(n.pay(capture) == transfer_result::exists);
    CHECK(n.pay(hold) == transfer_result::exists);
    CHECK(n.db_available("wallet:alice") == 10'000 - 500 - 1'000 - 2);
    CHECK(n.db_int("SELECT COUNT(*) FROM transfers") == 10);
  };
  check_retries();
  // What operators see: 2 ids in memory, 8 as hashes (fund, t0-t4, hold-1, cap-1), the hold
  // captured so not in memory, and one lookup per retry or conflict of an older id.
  const auto text = registry.render();
  auto shows = [&](const std::string& name, const std::string& labels, int value) {
    auto line = name + "{domain=\"" + n.name + "\"" + labels + "} " + std::to_string(value) + "\n";
    return text.find(line) != std::string::npos;
  };
  CHECK(shows("superapp_ledger_transfer_ids", ",kept=\"memory\"", 2));
  CHECK(shows("superapp_ledger_transfer_ids", ",kept=\"hash\"", 8));
  CHECK(shows("superapp_ledger_holds_in_memory", "", 0));
  CHECK(shows("superapp_ledger_older_id_lookups_total", "", 9));
  CHECK(shows("superapp_ledger_unindexed_transfers", "", 4));  // seqs 7-10
  // A start reads the older ids a range of sequence numbers at a time: every one, once.
  auto loaded = store::load(*n.reader(), 2, 3);
  REQUIRE(loaded);
  CHECK(loaded->transfers.size() == 2);
  CHECK(loaded->transfers.back().id == "t6");
  std::vector<std::uint64_t> expected;
  for (const char* id : {"fund", "t0", "t1", "t2", "t3", "t4", "hold-1", "cap-1"})
    expected.push_back(ledger_core::id_hash(id));
  auto got = loaded->older_id_hashes;
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
  CHECK(loaded->next_seq == 11);
  // A restart loads only the newest ids with their fields; the older ones as hashes.
  n.stop();
  n.slot->set(caf::actor{});
  n.start();
  check_retries();
  CHECK(n.pay(ledger_node::immediate("t7", "wallet:alice", "wallet:bob", 1)) ==
        transfer_result::ok);
}

TEST_CASE("an expired reservation is voided by the ledger and the money is free again") {
  ledger_node n;
  n.open_books();
  auto hold = ledger_node::immediate("hold-1", "wallet:alice", "wallet:bob", 3'000);
  hold.kind = transfer_kind::pending;
  hold.expires_at_s = std::chrono::duration_cast<std::chrono::seconds>(
                          n.clock->now().time_since_epoch()).count() + 60;
  CHECK(n.pay(hold) == transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 7'000);
  n.clock->advance(61s);
  for (int i = 0; i < 500 && n.db_available("wallet:alice") != 10'000; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(n.db_available("wallet:alice") == 10'000);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE pending_state = 'voided'") == 1);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE kind = 'void_pending'") == 1);
}

TEST_CASE("a commit that fails restarts the ledger from the database; nothing half-done remains") {
  ledger_node n;
  n.open_books();
  // Something else took the sequence number the next transfer gets: its commit fails.
  {
    auto& w = n.other_writer();
    REQUIRE(
        w.execute({"INSERT INTO transfers (seq, transfer_id, kind, debit_account, credit_account,"
                   " amount, moved, currency, pending_id, expires_at_s, pending_state, at_ms)"
                   " VALUES (2, 'intruder', 'immediate', 'x', 'y', 0, 0, 'GBP', '', 0, '', 0)",
                   {}}));
  }
  auto before = n.slot->get();
  auto r = n.ask<transfer_result>(transfer_atom::value,
                                  ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000));
  REQUIRE_FALSE(r);
  CHECK(describe(r.error()).wire_code == "storage_failure");
  // The supervisor starts a new ledger, which reads the books as they are.
  n.await_restart(before);
  CHECK(n.db_available("wallet:alice") == 10'000);
  CHECK(n.pay(ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000)) == transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 9'000);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
}

namespace {

// Two commits in flight on both engines, and no expiry ticks: an idle index commit would race
// the test's own writes.
void two_in_flight(ledger_settings& s) {
  s.commits_in_flight = 2;
  s.expire_every = std::chrono::hours{1};
}

}  // namespace

TEST_CASE("a commit sent behind one that fails does not land (the commits are chained)") {
  ledger_node n{two_in_flight};
  n.open_books();
  auto before = n.slot->get();
  auto& w = n.other_writer();
  // Hold the ledger's commits back: SQLite's write lock, PostgreSQL's lock on the chain's row.
  REQUIRE_FALSE(w.begin());
  REQUIRE(w.execute({"UPDATE ledger_index SET last_commit = last_commit", {}}));
  auto pay_async = [&n](const char* id, std::int64_t amount) {
    return std::async(std::launch::async, [&n, id, amount] {
      return n.ask<transfer_result>(
          transfer_atom::value, ledger_node::immediate(id, "wallet:alice", "wallet:bob", amount));
    });
  };
  // t1's commit is sent and waits; t2 is accepted on the balances t1 leaves, and its commit is
  // sent behind t1's.
  auto t1 = pay_async("t1", 1'000);
  auto applied = [&n](std::int64_t debited) {
    for (int i = 0; i < 500; ++i) {
      auto b = n.ask<balances>(balance_atom::value, std::string{"wallet:alice"});
      REQUIRE(b);
      if (b->debits_posted == debited) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  REQUIRE(applied(1'000));
  auto t2 = pay_async("t2", 500);
  REQUIRE(applied(1'500));
  // Behind that answer: the ledger has handled its own flush, so t2's commit is at the store.
  REQUIRE(applied(1'500));
  // t1's sequence number is taken meanwhile, so t1's commit fails when the lock goes.
  REQUIRE(
      w.execute({"INSERT INTO transfers (seq, transfer_id, kind, debit_account, credit_account,"
                 " amount, moved, currency, pending_id, expires_at_s, pending_state, at_ms)"
                 " VALUES (2, 'intruder', 'immediate', 'x', 'y', 0, 0, 'GBP', '', 0, '', 0)",
                 {}}));
  REQUIRE_FALSE(w.commit());
  for (auto* f : {&t1, &t2}) {
    auto r = f->get();
    REQUIRE_FALSE(r);
    CHECK(describe(r.error()).wire_code == "storage_failure");
  }
  // t2 did not land without t1: the books are as before both.
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE transfer_id IN ('t1', 't2')") == 0);
  CHECK(n.db_available("wallet:alice") == 10'000);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
  // The restarted ledger takes both again.
  n.await_restart(before);
  CHECK(n.pay(ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000)) ==
        transfer_result::ok);
  CHECK(n.pay(ledger_node::immediate("t2", "wallet:alice", "wallet:bob", 500)) ==
        transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 8'500);
  CHECK(n.db_int("SELECT SUM(credits_posted - debits_posted) FROM accounts") == 0);
}

TEST_CASE("a ledger restarted while an old commit was still in flight reloads once it lands") {
  ledger_node n{two_in_flight};
  n.open_books();
  auto& w = n.other_writer();
  // A ledger that is gone left a commit that lands after the running one loaded: the chain's
  // head moves under it (as that commit's guard would move it).
  REQUIRE(w.execute({"UPDATE ledger_index SET last_commit = last_commit + 1", {}}));
  auto before = n.slot->get();
  auto r = n.ask<transfer_result>(
      transfer_atom::value, ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000));
  REQUIRE_FALSE(r);
  CHECK(describe(r.error()).wire_code == "storage_failure");
  n.await_restart(before);
  CHECK(n.pay(ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 1'000)) ==
        transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 9'000);
}

TEST_CASE("a ledger restarted while its old commit waits answers nothing from the old books") {
  // Time enough for the restarted ledger's fence, short enough for the old commit to time out.
  ledger_node n{[](ledger_settings& s) { s.store_timeout = 1500ms; }};
  n.open_books();
  // Another connection holds the database's write lock (SQLite) or the chain's row
  // (PostgreSQL), so the store's writer waits with the ledger's next commit.
  auto& w = n.other_writer();
  REQUIRE_FALSE(w.begin());
  REQUIRE(w.execute({"UPDATE ledger_index SET last_commit = last_commit", {}}));
  auto first = n.slot->get();
  // t1's commit outlives its request: the ledger gives up on it and is restarted, and the new
  // one loads books without t1.
  auto t1 = ledger_node::immediate("t1", "wallet:alice", "wallet:bob", 4'000);
  auto r = n.ask<transfer_result>(transfer_atom::value, t1);
  REQUIRE_FALSE(r);
  CHECK(describe(r.error()).wire_code == "storage_failure");
  n.await_restart(first);
  auto second = n.slot->get();
  auto bob = std::async(std::launch::async, [&n] {
    return n.ask<balances>(balance_atom::value, std::string{"wallet:bob"});
  });
  // No answer from the old books while t1 waits.
  CHECK(bob.wait_for(300ms) == std::future_status::timeout);
  // The lock goes, and t1 lands after the new ledger loaded. Its fence, behind t1 at the store,
  // finds the chain moved: the request it held fails, and the ledger loads again, with t1.
  REQUIRE_FALSE(w.rollback());
  auto stale = bob.get();
  REQUIRE_FALSE(stale);
  CHECK(describe(stale.error()).wire_code == "unavailable");  // retried by the client
  n.await_restart(second);
  auto b = n.ask<balances>(balance_atom::value, std::string{"wallet:bob"});
  REQUIRE(b);
  CHECK(b->credits_posted == 4'000);
  CHECK(n.pay(t1) == transfer_result::exists);
  CHECK(n.pay(ledger_node::immediate("t2", "wallet:alice", "wallet:bob", 6'001)) ==
        transfer_result::exceeds_credits);
  CHECK(n.pay(ledger_node::immediate("t3", "wallet:alice", "wallet:bob", 6'000)) ==
        transfer_result::ok);
  CHECK(n.db_available("wallet:alice") == 0);
}

namespace {

std::vector<std::string> statement_ids(ledger_node& n, const std::string& account,
                                       std::int64_t after, std::int64_t limit) {
  auto page = store::statement_page(*n.reader(), account, after, limit);
  REQUIRE(page);
  std::vector<std::string> ids;
  for (const auto& line : *page) ids.push_back(line.transfer_id);
  return ids;
}

using ids = std::vector<std::string>;

// A writer of `place`'s new database with the banking migrations up to `version`: books as
// the code of that version left them, for an upgrade to start from.
struct old_books {
  std::unique_ptr<persistence::database> db;
  std::unique_ptr<persistence::connection> w;
};
old_books books_of_version(const domain_node& place, std::int64_t version) {
  auto db = persistence::open_database(place.database(), place.name);
  REQUIRE(db);
  auto w = (*db)->connect(persistence::connection_role::writer);
  REQUIRE(w);
  std::vector<persistence::migration> up_to;
  for (auto& m : store::migrations())
    if (m.version <= version) up_to.push_back(std::move(m));
  REQUIRE(persistence::apply_migrations(**w, up_to) == version);
  return {std::move(*db), std::move(*w)};
}

// Whether `registry` shows `name` at `value` for the ledger's domain, within five seconds.
bool shows(metrics::registry& registry, const ledger_node& n, const std::string& name,
           std::int64_t value) {
  auto line = name + "{domain=\"" + n.name + "\"} " + std::to_string(value) + "\n";
  for (int i = 0; i < 500 && registry.render().find(line) == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  return registry.render().find(line) != std::string::npos;
}

// Index every `every` transfers, the pass where `mode` says, and no idle pass.
std::function<void(ledger_settings&)> indexing(std::size_t every, index_pass_mode mode) {
  return [every, mode](ledger_settings& s) {
    s.index_every = every;
    s.index_pass = mode;
    s.expire_every = 1h;
  };
}

}  // namespace

TEST_CASE("transfers are indexed behind the commits; reads find the indexed part and the tail") {
  // Index every 4 transfers, and no idle pass in this test.
  ledger_node n{indexing(4, index_pass_mode::in_commit)};
  n.open_books();  // "fund" is seq 1
  for (const char* id : {"t1", "t2"})
    REQUIRE(n.pay(ledger_node::immediate(id, "wallet:alice", "wallet:bob", 100)) ==
            transfer_result::ok);
  const auto indexed = "SELECT indexed_through FROM index_progress";
  CHECK(n.db_int(indexed) == 0);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 0);
  // All three in the tail.
  CHECK(statement_ids(n, "wallet:alice", 0, 10) == ids{"fund", "t1", "t2"});
  auto t1 = store::find_transfer(*n.reader(), "t1");
  REQUIRE(t1);
  REQUIRE(t1->has_value());
  CHECK((*t1)->seq == 2);
  CHECK((*t1)->credit_account == "wallet:bob");

  // The fourth brings the tail to index_every: its commit indexes all four.
  REQUIRE(n.pay(ledger_node::immediate("t3", "wallet:alice", "wallet:bob", 100)) ==
          transfer_result::ok);
  CHECK(n.db_int(indexed) == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 8);
  REQUIRE(n.pay(ledger_node::immediate("t4", "wallet:bob", "wallet:alice", 50)) ==
          transfer_result::ok);
  CHECK(n.db_int(indexed) == 4);
  // Seqs: fund 1, t1 2, t2 3, t3 4 (indexed); t4 5 (tail). Pages across the boundary.
  CHECK(statement_ids(n, "wallet:alice", 0, 10) == ids{"fund", "t1", "t2", "t3", "t4"});
  CHECK(statement_ids(n, "wallet:alice", 2, 2) == ids{"t2", "t3"});
  CHECK(statement_ids(n, "wallet:alice", 3, 10) == ids{"t3", "t4"});
  CHECK(statement_ids(n, "wallet:alice", 4, 10) == ids{"t4"});
  CHECK(statement_ids(n, "wallet:alice", 5, 10) == ids{});
  CHECK(statement_ids(n, "wallet:bob", 0, 3) == ids{"t1", "t2", "t3"});
  CHECK(statement_ids(n, "funding:GBP", 0, 10) == ids{"fund"});
  for (const char* id : {"fund", "t3", "t4"}) {
    auto found = store::find_transfer(*n.reader(), id);
    REQUIRE(found);
    CHECK_MESSAGE(found->has_value(), id);
  }
  auto missing = store::find_transfer(*n.reader(), "nope");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());

  // A restart reads where the index stands and goes on from there; a hold placed in the tail
  // is captured by its seq after the restart.
  auto hold = ledger_node::immediate("hold-1", "wallet:alice", "wallet:bob", 500);
  hold.kind = transfer_kind::pending;
  REQUIRE(n.pay(hold) == transfer_result::ok);  // seq 6
  n.stop();
  n.slot->set(caf::actor{});
  n.start();
  transfer capture;
  capture.id = "cap-1";
  capture.kind = transfer_kind::post_pending;
  capture.pending_id = "hold-1";
  capture.currency = "GBP";
  REQUIRE(n.pay(capture) == transfer_result::ok);  // seq 7
  CHECK(n.db_int("SELECT COUNT(*) FROM transfers WHERE transfer_id = 'hold-1'"
                 " AND pending_state = 'posted'") == 1);
  REQUIRE(n.pay(ledger_node::immediate("t5", "wallet:alice", "wallet:bob", 1)) ==
          transfer_result::ok);  // seq 8: the tail reaches 4 again
  CHECK(n.db_int(indexed) == 8);
  CHECK(statement_ids(n, "wallet:bob", 4, 10) == ids{"t4", "cap-1", "t5"});
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 8);

  // Each pass wrote a run of its own, named by its last seq (ADR 0025); a lookup finds an id in
  // either, and the tail is empty now.
  CHECK(n.db_int("SELECT COUNT(*) FROM index_runs") == 2);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE run = 4") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE run = 8") == 4);
  for (auto [id, seq] : std::vector<std::pair<const char*, std::int64_t>>{
           {"fund", 1}, {"t3", 4}, {"t4", 5}, {"cap-1", 7}, {"t5", 8}}) {
    auto found = store::find_transfer(*n.reader(), id);
    REQUIRE(found);
    REQUIRE_MESSAGE(found->has_value(), id);
    CHECK((*found)->seq == seq);
  }
  if (!on_postgres()) {
    // One descent of the primary key per run, not a scan of the ids.
    auto plan = n.reader()->execute(
        {"EXPLAIN QUERY PLAN SELECT seq FROM transfers WHERE seq = (SELECT MAX(s) FROM"
         " (SELECT (SELECT i.seq FROM transfer_ids i WHERE i.run = r.run"
         " AND i.transfer_id = 'x') AS s FROM index_runs r) AS probes)",
         {}});
    REQUIRE(plan);
    std::string text;
    for (const auto& row : plan->rows) text += persistence::as_text(row.back()).value_or("") + "\n";
    CHECK_MESSAGE(
        text.find("SEARCH i USING PRIMARY KEY (run=? AND transfer_id=?)") != std::string::npos,
        text);
  }
}

TEST_CASE("an account's transfers of one pass are paged in order across its lists") {
  // On PostgreSQL a pass writes an account's statement lines in lists of at most
  // account_list_seqs (ADR 0026), holds and voids left out; pages cross the lists' edges.
  ledger_node n{indexing(300, index_pass_mode::in_commit)};
  n.open_books();  // "fund" is seq 1
  // Seqs 2-151: holds, which no statement shows; 152-321: t1-t170, the tail from 301.
  for (int i = 1; i <= 150; ++i) {
    auto hold = ledger_node::immediate("h" + std::to_string(i), "wallet:alice", "wallet:bob", 1);
    hold.kind = transfer_kind::pending;
    REQUIRE(n.pay(hold) == transfer_result::ok);
  }
  std::vector<std::pair<std::int64_t, std::string>> lines{{1, "fund"}};
  for (int i = 1; i <= 170; ++i) {
    lines.emplace_back(151 + i, "t" + std::to_string(i));
    REQUIRE(n.pay(ledger_node::immediate(lines.back().second, "wallet:alice", "wallet:bob", 1)) ==
            transfer_result::ok);
  }
  n.await_indexed(300);
  if (on_postgres()) {
    // alice: seqs 1 and 152-278, then 279-300; bob: 152-279, then 280-300.
    CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 1 + 2 * 149 + 1);
    CHECK(n.db_int("SELECT COUNT(*) FROM account_transfer_lists") == 5);  // and funding's
    CHECK(n.db_int("SELECT COUNT(*) FROM account_transfer_lists WHERE account_id = 'wallet:alice'"
                   " AND last_seq IN (278, 300) AND seqs[1] IN (1, 279)") == 2);
    CHECK(n.db_int("SELECT COUNT(*) FROM account_transfer_lists WHERE account_id = 'wallet:bob'"
                   " AND last_seq IN (279, 300) AND seqs[1] IN (152, 280)") == 2);
    CHECK(n.db_int("SELECT MAX(cardinality(seqs)) FROM account_transfer_lists") ==
          store::account_list_seqs);
  } else {
    CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 2 * 300);
  }
  const auto page_after = [&](std::int64_t after, std::size_t limit) {
    ids out;
    for (const auto& [seq, id] : lines)
      if (seq > after && out.size() < limit) out.push_back(id);
    return out;
  };
  CHECK(statement_ids(n, "wallet:alice", 0, 1000) == page_after(0, 1000));
  for (std::int64_t after :
       {0, 1, 2, 100, 151, 152, 200, 270, 277, 278, 279, 290, 299, 300, 310, 321})
    for (std::size_t limit : {1, 2, 20}) {
      const auto page = statement_ids(n, "wallet:alice", after, static_cast<std::int64_t>(limit));
      CHECK_MESSAGE(page == page_after(after, limit), "after " << after << ", limit " << limit);
    }
  CHECK(statement_ids(n, "wallet:bob", 1, 3) == ids{"t1", "t2", "t3"});
  CHECK(statement_ids(n, "wallet:bob", 278, 3) == ids{"t128", "t129", "t130"});
}

TEST_CASE("a commit's index pass takes at most index_every transfers") {
  // As a pass beside the commits does: a backlog is indexed a run at a time.
  ledger_node n{indexing(4, index_pass_mode::in_commit)};
  n.open_books();  // "fund" is seq 1
  std::vector<transfer> six;
  for (int i = 1; i <= 6; ++i)
    six.push_back(
        ledger_node::immediate("b" + std::to_string(i), "wallet:alice", "wallet:bob", 10));
  // One commit brings the tail from 1 to 7: its pass takes seqs 1 to 4, and leaves 5 to 7.
  auto batch = n.ask<std::vector<transfer_result>>(linked_atom::value, six);
  REQUIRE(batch);
  CHECK(*batch == std::vector<transfer_result>(6, transfer_result::ok));
  const auto indexed = "SELECT indexed_through FROM index_progress";
  CHECK(n.db_int(indexed) == 4);
  CHECK(n.db_int("SELECT MAX(ids) FROM index_runs") == 4);
  // The next commit brings the tail to 4 again (seqs 5 to 8): its pass takes them.
  REQUIRE(n.pay(ledger_node::immediate("t2", "wallet:bob", "wallet:alice", 5)) ==
          transfer_result::ok);
  CHECK(n.db_int(indexed) == 8);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 8);
  CHECK(statement_ids(n, "wallet:alice", 0, 100) ==
        ids{"fund", "b1", "b2", "b3", "b4", "b5", "b6", "t2"});
}

TEST_CASE("a commit that carries a long index pass is waited for, not taken for a dead store") {
  // A pass grows with the books (ADR 0025): here the store is held up longer than the ledger
  // waits for an ordinary commit, only for the commit that carries the pass.
  ledger_node n{[](ledger_settings& s) {
    s.index_every = 4;
    s.index_pass = index_pass_mode::in_commit;
    s.expire_every = 1h;
    s.store_timeout = 300ms;
  }};
  n.open_books();  // "fund" is seq 1
  for (const char* id : {"t1", "t2"})
    REQUIRE(n.pay(ledger_node::immediate(id, "wallet:alice", "wallet:bob", 100)) ==
            transfer_result::ok);
  auto& w = n.other_writer();
  REQUIRE_FALSE(w.begin());
  REQUIRE(w.execute({"UPDATE ledger_index SET last_commit = last_commit", {}}));
  const auto ledger = n.slot->get();
  // t3 brings the tail to index_every: its commit carries the pass, and waits for the lock.
  auto t3 = std::async(std::launch::async, [&n] {
    return n.ask<transfer_result>(transfer_atom::value,
                                  ledger_node::immediate("t3", "wallet:alice", "wallet:bob", 100));
  });
  CHECK(t3.wait_for(1200ms) == std::future_status::timeout);
  CHECK(n.slot->get() == ledger);  // four times store_timeout: no restart
  REQUIRE_FALSE(w.rollback());
  auto r = t3.get();
  REQUIRE_MESSAGE(r, describe(r.error()).wire_code);
  CHECK(*r == transfer_result::ok);
  CHECK(n.slot->get() == ledger);
  CHECK(n.db_int("SELECT indexed_through FROM index_progress") == 4);
  CHECK(n.db_available("wallet:alice") == 9'700);
}

TEST_CASE("an index pass beside the commits: they go on while it runs, and it catches up") {
  // Index every 4, in a transaction of its own (the default on both engines, forced here),
  // and no idle pass.
  metrics::registry registry;
  ledger_node n{[&registry](ledger_settings& s) {
    s.metrics = &registry;
    s.index_every = 4;
    s.index_pass = index_pass_mode::beside;
    s.expire_every = 1h;
  }};
  const auto indexed = "SELECT indexed_through FROM index_progress";
  n.open_books();  // "fund" is seq 1
  for (const char* id : {"t1", "t2", "t3"})
    REQUIRE(n.pay(ledger_node::immediate(id, "wallet:alice", "wallet:bob", 100)) ==
            transfer_result::ok);
  // t3's commit made four durable: the pass indexes them after it, in its own transaction.
  n.await_indexed(4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 8);

  // Another transaction holds an id the next pass will index: the pass waits on it, and the
  // commits go on meanwhile. On PostgreSQL it holds the row; on SQLite the index file's write
  // lock (a deferred transaction locks only the file it writes: the index file, ADR 0025).
  auto& holder = n.other_writer();
  if (n.database().engine_kind == persistence::engine::postgres)
    REQUIRE_FALSE(holder.begin());
  else
    REQUIRE_FALSE(holder.execute_script("BEGIN DEFERRED"));
  // The pass of seqs 5..8 writes run 8 (ADR 0025).
  REQUIRE(holder.execute(
      {"INSERT INTO transfer_ids (run, transfer_id, seq) VALUES (8, 't5', -1)", {}}));
  for (const char* id : {"t4", "t5", "t6", "t7", "t8"})
    REQUIRE(n.pay(ledger_node::immediate(id, "wallet:alice", "wallet:bob", 100)) ==
            transfer_result::ok);
  CHECK(n.db_int(indexed) == 4);
  CHECK(statement_ids(n, "wallet:bob", 0, 10) ==
        ids{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"});
  REQUIRE_FALSE(holder.rollback());
  n.await_indexed(8);  // seqs 5..8: t4-t7; t8 waits for the next pass

  // A pass of an earlier ledger lands behind this one's back: t8 (seq 9) indexed, where this
  // ledger still counts 8. Its next pass, from 8, fails and learns where the index stands; a
  // later one goes on from there, with nothing indexed twice or left out.
  {
    auto& w = n.other_writer();
    persistence::unit_of_work unit;
    store::add_index_pass(unit, w.kind(), 8, 9, 4);
    auto outcome = w.commit_batch({&unit});
    REQUIRE(outcome.commits == 1);
  }
  REQUIRE(n.db_int(indexed) == 9);
  std::vector<std::string> paid{"fund", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
  for (int i = 9; i < 60 && n.db_int(indexed) == 9; ++i) {
    paid.push_back("t" + std::to_string(i));
    REQUIRE(n.pay(ledger_node::immediate(paid.back(), "wallet:alice", "wallet:bob", 1)) ==
            transfer_result::ok);
    std::this_thread::sleep_for(5ms);
  }
  const auto through = n.db_int(indexed);
  CHECK(through > 12);  // the failed pass (8 to 12), then one from 9
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == through);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 2 * through);
  CHECK(statement_ids(n, "wallet:alice", 0, 100) == paid);
  // Operators see the one pass that did not land, and the tail reads still scan (once the
  // ledger has the pass's answer).
  CHECK(shows(registry, n, "superapp_ledger_unindexed_transfers",
              static_cast<std::int64_t>(paid.size()) - through));
  CHECK(shows(registry, n, "superapp_ledger_index_passes_failed_total", 1));
  auto found = store::find_transfer(*n.reader(), "t10");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->seq == 11);
}

TEST_CASE("an idle ledger indexes what a busy spell left unindexed") {
  ledger_node n{[](ledger_settings& s) { s.index_every = 1'000; }};
  n.open_books();
  for (int i = 0; i < 5; ++i)
    REQUIRE(n.pay(ledger_node::immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob",
                                         10)) == transfer_result::ok);
  // The expiry tick (every 20 ms here) finds the writer idle and indexes all six.
  n.await_indexed(6);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 12);
  CHECK(statement_ids(n, "wallet:bob", 0, 10) == ids{"t0", "t1", "t2", "t3", "t4"});
}

TEST_CASE("an idle ledger's small passes fill the newest run before they start another") {
  // Runs of 4 ids (ADR 0025). Each idle pass here indexes one transfer: a run each would make
  // every lookup probe as many runs as a quiet node had idle moments.
  // On SQLite the passes ride in commits, on PostgreSQL they run beside them.
  metrics::registry registry;
  ledger_node n{[&registry](ledger_settings& s) {
    s.index_every = 4;
    s.metrics = &registry;
  }};
  CHECK(shows(registry, n, "superapp_ledger_index_runs", 0));
  n.open_books();  // "fund" is seq 1
  n.await_indexed(1);
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(n.pay(ledger_node::immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob",
                                         10)) == transfer_result::ok);
    n.await_indexed(i + 1);
  }
  // Seqs 1-4 in the run the first pass named (1), 5-6 in the run the fifth started (5).
  auto runs = n.reader()->execute({"SELECT run, ids FROM index_runs ORDER BY run", {}});
  REQUIRE(runs);
  REQUIRE(runs->rows.size() == 2);
  CHECK(persistence::as_int(runs->rows[0][0]) == 1);
  CHECK(persistence::as_int(runs->rows[0][1]) == 4);
  CHECK(persistence::as_int(runs->rows[1][0]) == 5);
  CHECK(persistence::as_int(runs->rows[1][1]) == 2);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE run = 1") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE run = 5") == 2);
  CHECK(shows(registry, n, "superapp_ledger_index_runs", 2));
  for (const char* id : {"fund", "t1", "t3", "t4", "t5"}) {
    auto found = store::find_transfer(*n.reader(), id);
    REQUIRE(found);
    CHECK_MESSAGE(found->has_value(), id);
  }
}

TEST_CASE("index runs are merged by size class, the newest left to fill") {
  using store::index_run;
  auto runs = [](std::initializer_list<std::int64_t> sizes) {
    std::vector<index_run> out;
    std::int64_t run = 0;
    for (auto ids : sizes) out.push_back({run += 10, ids});
    return out;
  };
  auto names = [](const std::vector<index_run>& v) {
    std::vector<std::int64_t> out;
    for (const auto& r : v) out.push_back(r.run);
    return out;
  };
  using v = std::vector<std::int64_t>;
  // Three full runs and the newest: fan-in 3 takes the oldest three.
  CHECK(names(store::runs_to_merge(runs({4, 4, 4, 1}), 4, 3)) == v{10, 20, 30});
  // The newest is never taken, however full.
  CHECK(store::runs_to_merge(runs({4, 4, 4}), 4, 3).empty());
  // Smaller runs count as class 0 too (an idle pass's run that a restart left short).
  CHECK(names(store::runs_to_merge(runs({12, 2, 4, 4, 4}), 4, 3)) == v{20, 30, 40});
  // The smallest class with enough goes first; a larger class waits for its own.
  CHECK(names(store::runs_to_merge(runs({12, 12, 12, 4, 4, 9}), 4, 3)) == v{10, 20, 30});
  CHECK(names(store::runs_to_merge(runs({12, 12, 4, 4, 4, 9}), 4, 3)) == v{30, 40, 50});
  CHECK(store::runs_to_merge(runs({}), 4, 3).empty());
  CHECK(store::runs_to_merge(runs({1'000'000'000'000, 1'000'000'000'000, 5, 1}), 4, 2).size() == 2);
}

TEST_CASE("merging runs writes their ids as one run after every other, and drops them") {
  // The store's statements alone, on both engines, with passes of exactly four.
  ledger_node n{indexing(1'000, index_pass_mode::in_commit)};
  n.open_books();  // "fund" is seq 1
  for (int i = 1; i <= 11; ++i)
    REQUIRE(n.pay(ledger_node::immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob",
                                         1)) == transfer_result::ok);
  auto& w = n.other_writer();
  for (std::int64_t after : {0, 4, 8}) {
    persistence::unit_of_work pass;
    store::add_index_pass(pass, w.kind(), after, after + 4, 4);
    REQUIRE(w.commit_batch({&pass}).commits == 1);
  }
  auto runs = store::index_runs(w);
  REQUIRE(runs);
  REQUIRE(runs->size() == 3);
  auto pick = store::runs_to_merge(*runs, 4, 2);
  REQUIRE(pick.size() == 2);  // runs 4 and 8; 12, the newest, is left
  persistence::unit_of_work merge;
  store::add_merge_runs(merge, pick, 13);
  auto landed = w.commit_batch({&merge});
  REQUIRE(landed.commits == 1);
  REQUIRE(landed.units.at(0));
  auto after = store::index_runs(w);
  REQUIRE(after);
  REQUIRE(after->size() == 2);
  CHECK(after->at(0).run == 12);
  CHECK(after->at(0).ids == 4);
  CHECK(after->at(1).run == 13);
  CHECK(after->at(1).ids == 8);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 12);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE run = 13") == 8);
  for (const char* id : {"fund", "t3", "t7", "t11"}) {
    auto found = store::find_transfer(*n.reader(), id);
    REQUIRE(found);
    CHECK_MESSAGE(found->has_value(), id);
  }
  // The same merge again finds its runs gone: it fails and changes nothing.
  persistence::unit_of_work again;
  store::add_merge_runs(again, pick, 14);
  auto refused = w.commit_batch({&again});
  CHECK_FALSE((refused.commits == 1 && refused.units.at(0)));
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 12);
  CHECK(n.db_int("SELECT COUNT(*) FROM index_runs") == 2);
}

TEST_CASE("the indexer beside the commits merges full runs into one, every id still found") {
  metrics::registry registry;
  ledger_node n{[&registry](ledger_settings& s) {
    indexing(4, index_pass_mode::beside)(s);
    s.metrics = &registry;
  }};
  n.open_books();  // "fund" is seq 1
  // Seqs 2-36 in rounds that each end when the pass of the round's four has landed, so every
  // pass indexes exactly four: nine runs. After the ninth, eight of them (the newest left out)
  // are merged into one.
  int next = 1;
  for (std::int64_t through = 4; through <= 36; through += 4) {
    while (next + 1 <= through)
      REQUIRE(n.pay(ledger_node::immediate("t" + std::to_string(next++), "wallet:alice",
                                           "wallet:bob", 1)) == transfer_result::ok);
    n.await_indexed(through);
  }
  n.await_indexed(36);
  for (int i = 0; i < 500 && n.db_int("SELECT COUNT(*) FROM index_runs") != 2; ++i)
    std::this_thread::sleep_for(10ms);
  auto runs = n.reader()->execute({"SELECT run, ids FROM index_runs ORDER BY run", {}});
  REQUIRE(runs);
  std::string shown;
  for (const auto& r : runs->rows)
    shown += std::to_string(persistence::as_int(r[0]).value_or(-1)) + ":" +
             std::to_string(persistence::as_int(r[1]).value_or(-1)) + " ";
  REQUIRE_MESSAGE(runs->rows.size() == 2, shown);
  CHECK(persistence::as_int(runs->rows[0][0]) == 36);  // the newest pass's, 33-36
  CHECK(persistence::as_int(runs->rows[0][1]) == 4);
  CHECK(persistence::as_int(runs->rows[1][0]) == 37);  // the merge, after every run
  CHECK(persistence::as_int(runs->rows[1][1]) == 32);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 36);
  CHECK(n.db_int("SELECT COUNT(DISTINCT transfer_id) FROM transfer_ids") == 36);
  CHECK(shows(registry, n, "superapp_ledger_index_runs", 2));
  for (const char* id : {"fund", "t1", "t17", "t31", "t32", "t35"}) {
    auto found = store::find_transfer(*n.reader(), id);
    REQUIRE(found);
    CHECK_MESSAGE(found->has_value(), id);
  }
  CHECK(statement_ids(n, "wallet:alice", 34, 10) == ids{"t34", "t35"});
}

TEST_CASE("a database of schema 6 is upgraded to the newest with every row kept and indexed") {
  // A database made by the previous code (migrations 1-6), with books in it.
  domain_node place("banking_mig", [](const std::string&) { return sup::domain_definition{}; });
  auto books = books_of_version(place, 6);
  auto& w = *books.w;
  const auto all = store::migrations();
  REQUIRE(w.execute_script(
              "INSERT INTO accounts VALUES ('wallet:alice:GBP', 'GBP', 1, 0, 300, 0, 1000);"
              "INSERT INTO accounts VALUES ('wallet:bob:GBP', 'GBP', 1, 0, 0, 0, 300);"
              "INSERT INTO accounts VALUES ('funding', 'GBP', 0, 0, 1000, 0, 0);"
              "INSERT INTO transfers VALUES (1, 'fund', 'immediate', 'funding', "
              "'wallet:alice:GBP', 1000,"
              " 1000, 'GBP', '', 0, '', 10);"
              "INSERT INTO transfers VALUES (2, 'tr_1', 'immediate', 'wallet:alice:GBP', "
              "'wallet:bob:GBP',"
              " 300, 300, 'GBP', '', 0, '', 20);") == caf::error{});

  REQUIRE(persistence::apply_migrations(w, all) == all.back().version);
  auto count = w.execute({"SELECT COUNT(*), CAST(SUM(moved) AS BIGINT) FROM transfers", {}});
  REQUIRE(count);
  CHECK(persistence::as_int(count->rows[0][0]) == 2);
  CHECK(persistence::as_int(count->rows[0][1]) == 1300);
  auto bob = w.execute({"SELECT credits_posted FROM accounts WHERE account_id = $1",
                        {std::string{"wallet:bob:GBP"}}});
  REQUIRE(bob);
  CHECK(persistence::as_int(bob->rows.at(0)[0]) == 300);
  if (on_postgres()) {
    // Migration 8 indexed what was there (ADR 0018), and migration 11 kept it as run 0
    // (ADR 0025), beside the books.
    auto indexed = w.execute({"SELECT indexed_through FROM index_progress", {}});
    REQUIRE(indexed);
    CHECK(persistence::as_int(indexed->rows.at(0)[0]) == 2);
    auto by_account = w.execute({"SELECT COUNT(*) FROM account_transfers", {}});
    REQUIRE(by_account);
    CHECK(persistence::as_int(by_account->rows.at(0)[0]) == 4);
    auto runs =
        w.execute({"SELECT r.run, COUNT(*) FROM index_runs r JOIN transfer_ids t ON t.run = r.run"
                   " GROUP BY r.run",
                   {}});
    REQUIRE(runs);
    REQUIRE(runs->rows.size() == 1);
    CHECK(persistence::as_int(runs->rows[0][0]) == 0);
    CHECK(persistence::as_int(runs->rows[0][1]) == 2);
  } else {
    // Migration 12 took the lookups out of the main file: the index file has them (ADR 0025).
    auto left =
        w.execute({"SELECT COUNT(*) FROM sqlite_master WHERE name IN ('transfer_ids',"
                   " 'account_transfers', 'index_runs', 'index_progress')",
                   {}});
    REQUIRE(left);
    CHECK(persistence::as_int(left->rows.at(0)[0]) == 0);
    auto ddl = w.execute({"SELECT sql FROM sqlite_master WHERE name = 'accounts'", {}});
    REQUIRE(ddl);
    CHECK(persistence::as_text(ddl->rows.at(0)[0]).value_or("").find("WITHOUT ROWID") != std::string::npos);
  }
  // A new transfer's sequence follows on.
  auto dup =
      w.execute({"INSERT INTO transfers VALUES (2, 'tr_dup', 'immediate', 'a', 'b', 1, 1,"
                 " 'GBP', '', 0, '', 30)",
                 {}});
  CHECK_FALSE(dup);  // seq is still the key
  books.w.reset();   // the connection before its database
  books.db.reset();

  // A ledger on the upgraded books: its statements and lookups find both transfers, and the
  // index covers them once the idle ledger has run a pass (on SQLite, into a new index file).
  ledger_node n{{}, node_place{place.name, place.dir}};
  n.await_indexed(2);
  auto page = store::statement_page(*n.reader(), "wallet:alice:GBP", 0, 10);
  REQUIRE(page);
  REQUIRE(page->size() == 2);
  CHECK((*page)[0].transfer_id == "fund");
  CHECK((*page)[1].transfer_id == "tr_1");
  auto found = store::find_transfer(*n.reader(), "tr_1");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->seq == 2);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 2);
}

TEST_CASE("PostgreSQL: indexed entries by account are upgraded into lists and paged") {
  // SQLite keeps an entry a transfer and account (ADR 0026).
  if (!on_postgres()) return;
  domain_node place("banking_lists", [](const std::string&) { return sup::domain_definition{}; });
  auto books = books_of_version(place, 12);
  auto& w = *books.w;
  const auto all = store::migrations();
  // Books of 300 transfers from alice to bob (seqs 1-300) and a hold (301), indexed by the
  // code before: an entry each in account_transfers.
  REQUIRE(w.execute_script(
              "INSERT INTO transfers SELECT s, 'tr_' || s, 'immediate', 'wallet:alice:GBP',"
              " 'wallet:bob:GBP', 1, 1, 'GBP', '', 0, '', s FROM generate_series(1, 300) s;"
              "INSERT INTO transfers VALUES (301, 'hold_1', 'pending', 'wallet:alice:GBP',"
              " 'wallet:bob:GBP', 1, 1, 'GBP', '', 0, 'pending', 301);"
              "INSERT INTO account_transfers SELECT 'wallet:alice:GBP', s"
              " FROM generate_series(1, 301) s"
              " UNION ALL SELECT 'wallet:bob:GBP', s FROM generate_series(1, 301) s;"
              "UPDATE index_progress SET indexed_through = 301, last_id = 'hold_1';") ==
          caf::error{});

  REQUIRE(persistence::apply_migrations(w, all) == all.back().version);
  auto lists = w.execute(
      {"SELECT account_id, last_seq, cardinality(seqs), seqs[1] FROM account_transfer_lists"
       " ORDER BY account_id, last_seq",
       {}});
  REQUIRE(lists);
  REQUIRE(lists->rows.size() == 6);
  // The hold is no statement's line: left out.
  const std::int64_t expected[3][3] = {{128, 128, 1}, {256, 128, 129}, {300, 44, 257}};
  for (std::size_t i = 0; i < 6; ++i) {
    const auto& row = lists->rows[i];
    CHECK(persistence::as_text(row[0]) == (i < 3 ? "wallet:alice:GBP" : "wallet:bob:GBP"));
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(persistence::as_int(row[c + 1]) == expected[i % 3][c]);
  }
  auto entries =
      w.execute({"SELECT COUNT(*), CAST(SUM(seq) AS BIGINT) FROM account_transfers", {}});
  REQUIRE(entries);
  CHECK(persistence::as_int(entries->rows.at(0)[0]) == 600);
  CHECK(persistence::as_int(entries->rows.at(0)[1]) == 2 * 300 * 301 / 2);
  auto after = store::statement_page(w, "wallet:bob:GBP", 100, 50);
  REQUIRE(after);
  REQUIRE(after->size() == 50);
  for (std::size_t i = 0; i < after->size(); ++i)
    CHECK((*after)[i].transfer_id == "tr_" + std::to_string(101 + i));
}

TEST_CASE("an index file that is not of the books beside it is emptied and built again") {
  // SQLite only: on PostgreSQL the index is in the books' own database, and moves with them.
  if (on_postgres()) return;
  ledger_node n{[](ledger_settings& s) { s.index_every = 4; }};
  n.open_books();  // "fund" is seq 1
  std::vector<std::string> paid{"fund"};
  for (int i = 1; i <= 8; ++i) {
    paid.push_back("t" + std::to_string(i));
    REQUIRE(n.pay(ledger_node::immediate(paid.back(), "wallet:alice", "wallet:bob", 10)) ==
            transfer_result::ok);
  }
  n.await_indexed(9);
  // The index now claims another transfer at seq 9 than the books have there: as after the
  // main file was put back from a backup of other books, or of these before seq 9 was reused.
  n.stop();
  {
    auto& w = n.other_writer();
    REQUIRE(w.execute({"UPDATE index_progress SET last_id = 'not-t8'", {}}));
    REQUIRE(w.execute(
        {"INSERT INTO transfer_ids (run, transfer_id, seq) VALUES (99, 'ghost', 5)", {}}));
  }
  n.start();
  // Emptied at start (the ghost is gone), then filled again from the books, in passes of at
  // most index_every: runs of 4, 4 and 1 ids, not one pass of the whole backlog.
  n.await_indexed(9);
  CHECK(n.db_int("SELECT COUNT(*) FROM index_runs") == 3);
  CHECK(n.db_int("SELECT MAX(ids) FROM index_runs") == 4);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 9);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids WHERE transfer_id = 'ghost'", {}) == 0);
  CHECK(n.db_int("SELECT COUNT(*) FROM account_transfers") == 18);
  CHECK(statement_ids(n, "wallet:alice", 0, 100) == paid);
  auto found = store::find_transfer(*n.reader(), "t8");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->seq == 9);
}

TEST_CASE("a lost index file is built again from the books") {
  if (on_postgres()) return;  // SQLite's index file (ADR 0025)
  ledger_node n{[](ledger_settings& s) { s.index_every = 4; }};
  n.open_books();
  for (int i = 1; i <= 6; ++i)
    REQUIRE(n.pay(ledger_node::immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob",
                                         10)) == transfer_result::ok);
  n.await_indexed(7);
  n.stop();
  const auto file = persistence::sqlite_companion_path(n.database(), n.name, index_file);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file + suffix);
  n.start();
  // Meanwhile the reads scan the books; then the idle ledger has indexed them all again.
  CHECK(statement_ids(n, "wallet:bob", 0, 10) == ids{"t1", "t2", "t3", "t4", "t5", "t6"});
  n.await_indexed(7);
  CHECK(n.db_int("SELECT COUNT(*) FROM transfer_ids") == 7);
  CHECK(statement_ids(n, "wallet:bob", 0, 10) == ids{"t1", "t2", "t3", "t4", "t5", "t6"});
  // And the ledger still refuses an id it has seen, from its memory of the books.
  CHECK(n.pay(ledger_node::immediate("t6", "wallet:alice", "wallet:bob", 10)) ==
        transfer_result::exists);
}
