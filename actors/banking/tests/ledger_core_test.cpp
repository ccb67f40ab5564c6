// The ledger core: every rule of a transfer, two-phase transfers, batches that apply whole or
// not at all, idempotency, and double entry under a random load.
#include "actors/banking/ledger_core.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <random>

using namespace superapp::banking;

namespace {

constexpr std::int64_t now = 1'800'000'000;

transfer immediate(std::string id, std::string from, std::string to, std::int64_t amount,
                   std::string currency = "GBP") {
  transfer t;
  t.id = std::move(id);
  t.debit_account = std::move(from);
  t.credit_account = std::move(to);
  t.amount = amount;
  t.currency = std::move(currency);
  return t;
}

transfer pending(std::string id, std::string from, std::string to, std::int64_t amount,
                 std::int64_t expires_at_s = 0) {
  auto t = immediate(std::move(id), std::move(from), std::move(to), amount);
  t.kind = transfer_kind::pending;
  t.expires_at_s = expires_at_s;
  return t;
}

transfer settle(std::string id, transfer_kind kind, std::string pending_id, std::int64_t amount = 0) {
  transfer t;
  t.id = std::move(id);
  t.kind = kind;
  t.pending_id = std::move(pending_id);
  t.amount = amount;
  t.currency = "GBP";
  return t;
}

// A bank funding account (may go negative: it is where money enters the books) and three
// no-overdraft wallets, alice funded with 10,000.
struct books {
  ledger_core core;
  books() {
    REQUIRE(core.add_account({"funding:GBP", "GBP", 0}));
    for (const char* w : {"wallet:alice", "wallet:bob", "wallet:carol"})
      REQUIRE(core.add_account({w, "GBP", debits_must_not_exceed_credits}));
    REQUIRE(core.add_account({"wallet:eve-eur", "EUR", debits_must_not_exceed_credits}));
    REQUIRE(core.apply(immediate("fund-1", "funding:GBP", "wallet:alice", 10'000), now) ==
            transfer_result::ok);
  }
  std::int64_t available(const std::string& id) const {
    const auto* b = core.balance_of(id);
    REQUIRE(b != nullptr);
    return b->credits_posted - b->debits_posted - b->debits_pending;
  }
};

}  // namespace

TEST_CASE("an immediate transfer moves money between accounts of one currency, double entry") {
  books b;
  CHECK(b.core.apply(immediate("t1", "wallet:alice", "wallet:bob", 2'500), now) == transfer_result::ok);
  CHECK(b.available("wallet:alice") == 7'500);
  CHECK(b.available("wallet:bob") == 2'500);
  CHECK(b.core.net_posted("GBP") == 0);
  CHECK(b.core.balance_of("funding:GBP")->debits_posted == 10'000);
}

TEST_CASE("bad transfers are refused, each with its reason, and change nothing") {
  books b;
  CHECK(b.core.apply(immediate("a", "wallet:alice", "wallet:bob", 0), now) ==
        transfer_result::amount_must_be_positive);
  CHECK(b.core.apply(immediate("b", "wallet:alice", "wallet:bob", -5), now) ==
        transfer_result::amount_must_be_positive);
  CHECK(b.core.apply(immediate("c", "wallet:alice", "wallet:alice", 5), now) ==
        transfer_result::accounts_must_differ);
  CHECK(b.core.apply(immediate("d", "wallet:nobody", "wallet:bob", 5), now) ==
        transfer_result::debit_account_not_found);
  CHECK(b.core.apply(immediate("e", "wallet:alice", "wallet:nobody", 5), now) ==
        transfer_result::credit_account_not_found);
  CHECK(b.core.apply(immediate("f", "wallet:alice", "wallet:eve-eur", 5), now) ==
        transfer_result::currency_mismatch);
  CHECK(b.core.apply(immediate("g", "wallet:alice", "wallet:bob", 5, "EUR"), now) ==
        transfer_result::currency_mismatch);
  CHECK(b.core.apply(immediate("h", "wallet:alice", "wallet:bob", 10'001), now) ==
        transfer_result::exceeds_credits);
  CHECK(b.core.apply(immediate("i", "wallet:bob", "wallet:alice", 1), now) ==
        transfer_result::exceeds_credits);
  CHECK(b.available("wallet:alice") == 10'000);
  CHECK(b.available("wallet:bob") == 0);
  // A refused id is not used up: the same id may carry a good transfer later.
  CHECK(b.core.apply(immediate("h", "wallet:alice", "wallet:bob", 10'000), now) == transfer_result::ok);
}

TEST_CASE("a transfer id is an idempotency key: the same transfer again is not applied twice") {
  books b;
  auto t = immediate("key-1", "wallet:alice", "wallet:bob", 1'000);
  CHECK(b.core.apply(t, now) == transfer_result::ok);
  CHECK(b.core.apply(t, now) == transfer_result::exists);
  CHECK(b.available("wallet:bob") == 1'000);
  auto other = immediate("key-1", "wallet:alice", "wallet:bob", 1'001);
  CHECK(b.core.apply(other, now) == transfer_result::idempotency_conflict);
  other = immediate("key-1", "wallet:alice", "wallet:carol", 1'000);
  CHECK(b.core.apply(other, now) == transfer_result::idempotency_conflict);
  CHECK(b.available("wallet:alice") == 9'000);
}

TEST_CASE("each transfer is checked against the balances the previous one left, never netted") {
  books b;
  // alice pays bob 6,000, then tries 6,000 to carol: refused although bob could pay her back.
  CHECK(b.core.apply(immediate("1", "wallet:alice", "wallet:bob", 6'000), now) == transfer_result::ok);
  CHECK(b.core.apply(immediate("2", "wallet:alice", "wallet:carol", 6'000), now) ==
        transfer_result::exceeds_credits);
  CHECK(b.core.apply(immediate("3", "wallet:bob", "wallet:alice", 6'000), now) == transfer_result::ok);
  CHECK(b.core.apply(immediate("4", "wallet:alice", "wallet:carol", 6'000), now) == transfer_result::ok);
  // As one batch, an overdraft inside it fails the batch even if the batch nets to zero.
  std::vector<transfer> round_trip{immediate("5", "wallet:carol", "wallet:bob", 7'000),
                                   immediate("6", "wallet:bob", "wallet:carol", 7'000)};
  auto results = b.core.apply_linked(round_trip, now);
  CHECK(results[0] == transfer_result::exceeds_credits);
  CHECK(results[1] == transfer_result::linked_transfer_failed);
  CHECK(b.available("wallet:carol") == 6'000);
}

TEST_CASE("a pending transfer reserves the amount until it is posted, in whole or in part") {
  books b;
  CHECK(b.core.apply(pending("hold-1", "wallet:alice", "wallet:bob", 4'000), now) == transfer_result::ok);
  CHECK(b.available("wallet:alice") == 6'000);
  CHECK(b.available("wallet:bob") == 0);  // not yet received
  CHECK(b.core.balance_of("wallet:bob")->credits_pending == 4'000);
  CHECK(b.core.apply(immediate("x", "wallet:alice", "wallet:carol", 6'001), now) ==
        transfer_result::exceeds_credits);
  CHECK(b.core.apply(settle("cap-1", transfer_kind::post_pending, "hold-1", 4'001), now) ==
        transfer_result::exceeds_pending_amount);
  applied_transfer a;
  CHECK(b.core.apply(settle("cap-1", transfer_kind::post_pending, "hold-1", 2'500), now, &a) ==
        transfer_result::ok);
  CHECK(a.amount == 2'500);
  CHECK(a.debit_account == "wallet:alice");
  CHECK(b.available("wallet:alice") == 7'500);  // the other 1,500 is released
  CHECK(b.available("wallet:bob") == 2'500);
  CHECK(b.core.balance_of("wallet:bob")->credits_pending == 0);
  CHECK(b.core.apply(settle("cap-2", transfer_kind::post_pending, "hold-1"), now) ==
        transfer_result::pending_already_posted);
  CHECK(b.core.apply(settle("void-1", transfer_kind::void_pending, "hold-1"), now) ==
        transfer_result::pending_already_posted);
  CHECK(b.core.apply(settle("cap-3", transfer_kind::post_pending, "no-such-hold"), now) ==
        transfer_result::pending_not_found);
  CHECK(b.core.net_posted("GBP") == 0);
}

TEST_CASE("a void releases a reservation; an expired one can no longer be posted") {
  books b;
  CHECK(b.core.apply(pending("hold-1", "wallet:alice", "wallet:bob", 4'000), now) == transfer_result::ok);
  CHECK(b.core.apply(settle("v", transfer_kind::void_pending, "hold-1"), now) == transfer_result::ok);
  CHECK(b.available("wallet:alice") == 10'000);
  CHECK(b.core.apply(settle("p", transfer_kind::post_pending, "hold-1"), now) ==
        transfer_result::pending_already_voided);

  CHECK(b.core.apply(pending("hold-2", "wallet:alice", "wallet:bob", 3'000, now + 60), now) ==
        transfer_result::ok);
  CHECK(b.core.expire(now + 59).empty());
  CHECK(b.core.apply(settle("p2", transfer_kind::post_pending, "hold-2"), now + 60) ==
        transfer_result::pending_expired);
  auto released = b.core.expire(now + 60);
  REQUIRE(released.size() == 1);
  CHECK(released[0].amount == 3'000);
  CHECK(released[0].t.pending_id == "hold-2");
  CHECK(b.available("wallet:alice") == 10'000);
  CHECK(b.core.expire(now + 120).empty());
  CHECK(b.core.apply(settle("p3", transfer_kind::post_pending, "hold-2"), now + 61) ==
        transfer_result::pending_already_voided);
}

TEST_CASE("a linked batch applies whole or not at all") {
  books b;
  std::vector<transfer> good{immediate("b1", "wallet:alice", "wallet:bob", 1'000),
                             pending("b2", "wallet:bob", "wallet:carol", 600),
                             settle("b3", transfer_kind::post_pending, "b2")};
  std::vector<applied_transfer> applied;
  auto results = b.core.apply_linked(good, now, &applied);
  CHECK(results == std::vector<transfer_result>(3, transfer_result::ok));
  CHECK(applied.size() == 3);
  CHECK(b.available("wallet:carol") == 600);

  std::vector<transfer> bad{immediate("c1", "wallet:alice", "wallet:bob", 1'000),
                            pending("c2", "wallet:bob", "wallet:carol", 1'000),
                            immediate("c3", "wallet:carol", "wallet:alice", 5'000)};
  applied.clear();
  results = b.core.apply_linked(bad, now, &applied);
  CHECK(results[0] == transfer_result::linked_transfer_failed);
  CHECK(results[1] == transfer_result::linked_transfer_failed);
  CHECK(results[2] == transfer_result::exceeds_credits);
  CHECK(applied.empty());
  CHECK(b.available("wallet:alice") == 9'000);
  CHECK(b.available("wallet:bob") == 400);
  CHECK(b.core.balance_of("wallet:carol")->credits_pending == 0);
  // Nothing of the failed batch is remembered: its ids and its pending transfer are gone.
  CHECK(b.core.apply(settle("c4", transfer_kind::post_pending, "c2"), now) ==
        transfer_result::pending_not_found);
  CHECK(b.core.apply(immediate("c1", "wallet:alice", "wallet:bob", 1'000), now) == transfer_result::ok);
  CHECK(b.core.net_posted("GBP") == 0);
}

TEST_CASE("balances never leave int64, and a funding-only account never receives more than it paid") {
  ledger_core core;
  REQUIRE(core.add_account({"a", "GBP", 0}));
  REQUIRE(core.add_account({"b", "GBP", 0}));
  REQUIRE(core.add_account({"c", "GBP", 0}));
  REQUIRE(core.add_account({"sink", "GBP", credits_must_not_exceed_debits}));
  const auto max = std::numeric_limits<std::int64_t>::max();
  CHECK(core.apply(immediate("1", "a", "b", max), now) == transfer_result::ok);
  CHECK(core.apply(immediate("2", "a", "b", 1), now) == transfer_result::overflows);
  CHECK(core.balance_of("b")->credits_posted == max);
  CHECK(core.apply(immediate("3", "c", "sink", 1), now) == transfer_result::exceeds_debits);
  CHECK(core.apply(immediate("5", "sink", "c", 10), now) == transfer_result::ok);
  CHECK(core.apply(immediate("6", "c", "sink", 10), now) == transfer_result::ok);
  CHECK(core.apply(immediate("4", "sink", "b", 0), now) == transfer_result::amount_must_be_positive);
  // An account id may be declared again only as it is.
  CHECK(core.add_account({"a", "GBP", 0}));
  CHECK_FALSE(core.add_account({"a", "EUR", 0}));
  CHECK_FALSE(core.add_account({"a", "GBP", debits_must_not_exceed_credits}));
}

TEST_CASE("under a random load no wallet goes negative and every currency nets to zero") {
  books b;
  std::mt19937_64 rng{42};
  const std::vector<std::string> wallets{"wallet:alice", "wallet:bob", "wallet:carol"};
  std::vector<std::string> holds;
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    const auto& from = wallets[rng() % 3];
    const auto& to = wallets[rng() % 3];
    const auto amount = static_cast<std::int64_t>(rng() % 4'000);
    const auto id = "r" + std::to_string(i);
    transfer_result r;
    switch (rng() % 4) {
      case 0:
        r = b.core.apply(pending(id, from, to, amount), now);
        if (r == transfer_result::ok) holds.push_back(id);
        break;
      case 1:
        r = holds.empty() ? transfer_result::pending_not_found
                          : b.core.apply(settle(id, rng() % 2 ? transfer_kind::post_pending
                                                              : transfer_kind::void_pending,
                                                holds[rng() % holds.size()]),
                                         now);
        break;
      default:
        r = b.core.apply(immediate(id, from, to, amount), now);
    }
    accepted += r == transfer_result::ok;
    for (const auto& w : wallets) {
      const auto* bal = b.core.balance_of(w);
      REQUIRE(bal->debits_posted + bal->debits_pending <= bal->credits_posted);
    }
  }
  CHECK(accepted > 1'000);
  CHECK(b.core.net_posted("GBP") == 0);
  std::int64_t pending_out = 0, pending_in = 0;
  for (const auto& w : wallets) {
    pending_out += b.core.balance_of(w)->debits_pending;
    pending_in += b.core.balance_of(w)->credits_pending;
  }
  CHECK(pending_out == pending_in);
}

TEST_CASE("a post or void naming a debit account acts only on a pending transfer of that account") {
  ledger_core core;
  REQUIRE(core.add_account({"funding", "GBP", 0}));
  REQUIRE(core.add_account({"alice", "GBP", debits_must_not_exceed_credits}));
  REQUIRE(core.add_account({"bob", "GBP", debits_must_not_exceed_credits}));
  REQUIRE(core.apply(immediate("fund", "funding", "alice", 1'000), 0) == transfer_result::ok);
  REQUIRE(core.apply(pending("hold", "alice", "bob", 400, 100), 0) == transfer_result::ok);
  auto by_bob = settle("post-bob", transfer_kind::post_pending, "hold");
  by_bob.debit_account = "bob";
  CHECK(core.apply(by_bob, 1) == transfer_result::pending_not_found);
  auto by_alice = settle("post-alice", transfer_kind::post_pending, "hold");
  by_alice.debit_account = "alice";
  CHECK(core.apply(by_alice, 1) == transfer_result::ok);
  CHECK(core.balance_of("bob")->credits_posted == 400);
}

TEST_CASE("a retried pending transfer is the same one whatever expiry it computed") {
  ledger_core core;
  REQUIRE(core.add_account({"funding", "GBP", 0}));
  REQUIRE(core.add_account({"alice", "GBP", 0}));
  auto hold = pending("hold", "funding", "alice", 400, 100);
  REQUIRE(core.apply(hold, 0) == transfer_result::ok);
  hold.expires_at_s = 105;  // the retry's "now + expires_in" is later
  CHECK(core.apply(hold, 5) == transfer_result::exists);
  hold.amount = 401;
  CHECK(core.apply(hold, 5) == transfer_result::idempotency_conflict);
}

namespace {

// The database as the core's id lookup sees it: what was recorded, and how often it was asked.
struct fake_store {
  std::map<std::string, transfer> recorded;
  bool readable = true;
  int asked = 0;
  id_lookup lookup() {
    return [this](const std::string& id) {
      ++asked;
      if (!readable) return stored_id{stored_id::state::unreadable};
      auto it = recorded.find(id);
      if (it == recorded.end()) return stored_id{stored_id::state::absent};
      return stored_id{stored_id::state::present, ledger_core::digest_of(it->second)};
    };
  }
};

}  // namespace

TEST_CASE("only the newest transfer ids stay in memory; an older one's retry asks the database") {
  books b;
  fake_store db;
  b.core.keep_recent(2, db.lookup());
  std::vector<transfer> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(immediate("t" + std::to_string(i), "wallet:alice", "wallet:bob", 10));
    REQUIRE(b.core.apply(sent.back(), now) == transfer_result::ok);
    db.recorded[sent.back().id] = sent.back();
  }
  db.recorded["fund-1"] = immediate("fund-1", "funding:GBP", "wallet:alice", 10'000);
  // t2 is not durable yet: nothing from it on may leave memory.
  b.core.forget_settled([](const std::string& id) { return id == "t2"; });
  CHECK(b.core.ids_in_memory() == 3);  // t2..t4
  CHECK(b.core.ids_as_hashes() == 3);  // fund-1, t0, t1
  CHECK(db.asked == 0);

  // A new id (no hash matches) is not looked up; a recent retry neither.
  CHECK(b.core.apply(immediate("t5", "wallet:alice", "wallet:bob", 10), now) ==
        transfer_result::ok);
  CHECK(b.core.apply(sent[3], now) == transfer_result::exists);
  CHECK(db.asked == 0);

  // The oldest: the database answers, and it is not applied twice.
  CHECK(b.core.apply(sent[0], now) == transfer_result::exists);
  CHECK(db.asked == 1);
  auto changed = sent[1];
  changed.amount = 11;
  CHECK(b.core.apply(changed, now) == transfer_result::idempotency_conflict);
  CHECK(b.available("wallet:alice") == 10'000 - 60);
  CHECK(b.core.knows("t2"));

  // A database that cannot answer refuses the transfer rather than guess.
  db.readable = false;
  CHECK(b.core.apply(sent[1], now) == transfer_result::storage_failure);
  CHECK(b.core.knows("t1"));
  CHECK(b.available("wallet:alice") == 10'000 - 60);
}

TEST_CASE("an id whose hash matches an older id's, but which the database lacks, is new") {
  books b;
  fake_store db;
  b.core.keep_recent(0, db.lookup());
  b.core.remember_hash(ledger_core::id_hash("collides"));
  CHECK_FALSE(b.core.knows("collides"));
  CHECK(b.core.apply(immediate("collides", "wallet:alice", "wallet:bob", 10), now) ==
        transfer_result::ok);
  CHECK(db.asked == 2);
}

TEST_CASE("a linked batch that fails forgets its ids also when the memory holds few") {
  books b;
  fake_store db;
  b.core.keep_recent(1, db.lookup());
  std::vector<transfer> batch{immediate("l1", "wallet:alice", "wallet:bob", 10),
                              immediate("l2", "wallet:alice", "wallet:bob", 20'000)};
  auto results = b.core.apply_linked(batch, now);
  CHECK(results[1] == transfer_result::exceeds_credits);
  CHECK_FALSE(b.core.knows("l1"));
  CHECK(b.core.ids_in_memory() == 1);  // fund-1
  batch[1].amount = 20;
  results = b.core.apply_linked(batch, now);
  CHECK(results[0] == transfer_result::ok);
  CHECK(results[1] == transfer_result::ok);
  b.core.forget_settled([](const std::string&) { return false; });
  CHECK(b.core.ids_in_memory() == 1);
  CHECK(b.core.ids_as_hashes() == 2);
}

TEST_CASE("a post's retry is the same one whether or not it names the owner's account") {
  // The database keeps a post's accounts as the pending transfer's, not as the caller sent them.
  books b;
  REQUIRE(b.core.apply(pending("hold", "wallet:alice", "wallet:bob", 400), now) ==
          transfer_result::ok);
  auto post = settle("post", transfer_kind::post_pending, "hold", 100);
  post.debit_account = "wallet:alice";
  auto recorded = settle("post", transfer_kind::post_pending, "hold", 100);
  CHECK(ledger_core::digest_of(post) == ledger_core::digest_of(recorded));
  recorded.amount = 0;
  CHECK(ledger_core::digest_of(post) != ledger_core::digest_of(recorded));
}

TEST_CASE("a settled pending transfer can leave memory; posting it again is then not found") {
  books b;
  REQUIRE(b.core.apply(pending("hold", "wallet:alice", "wallet:bob", 400), now) ==
          transfer_result::ok);
  b.core.forget_settled_pending("hold");  // still pending: kept
  CHECK(b.core.pending_in_memory() == 1);
  REQUIRE(b.core.apply(settle("post", transfer_kind::post_pending, "hold"), now) ==
          transfer_result::ok);
  CHECK(b.core.apply(settle("post-2", transfer_kind::post_pending, "hold"), now) ==
        transfer_result::pending_already_posted);
  b.core.forget_settled_pending("hold");
  CHECK(b.core.pending_in_memory() == 0);
  CHECK(b.core.apply(settle("post-3", transfer_kind::post_pending, "hold"), now) ==
        transfer_result::pending_not_found);
  CHECK(b.core.apply(settle("post", transfer_kind::post_pending, "hold"), now) ==
        transfer_result::exists);
  CHECK(b.available("wallet:bob") == 400);
}
