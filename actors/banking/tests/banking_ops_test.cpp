// The banking client ops over a real database (SQLite, then PostgreSQL), called as the gateway
// calls the front door: wallets, balances, statements with cursors, transfers and holds
// approved by identity's signed approvals, and every refusal the issue lists.
#include <doctest/doctest.h>

#include <latch>
#include <thread>

#include "actors/banking/tests/banking_node.hpp"
#include "protocols/ws/banking_ops.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/bus_messages.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace superapp::testing;
using namespace std::chrono_literals;


TEST_CASE("wallets open once per currency and list their balances") {
  banking_node n;
  auto opened = n.open(alice);
  REQUIRE(opened.ok);
  CHECK(str(opened.body, "currency") == "GBP");
  CHECK(opened.body.at("available_minor").as_int64() == 0);
  CHECK(n.open(alice).ok);  // again: the same wallet
  REQUIRE(n.open(alice, "EUR").ok);
  auto list = n.call("banking.accounts", {}, alice);
  REQUIRE(list.ok);
  CHECK(list.body.at("accounts").as_array().size() == 2);
  CHECK(n.call("banking.accounts", {}, bob).body.at("accounts").as_array().empty());
  CHECK(n.open(alice, "gbp").code == "invalid_currency");
  CHECK(n.open(alice, "G1P").code == "invalid_currency");
  CHECK(n.call("banking.open_account", {{"currency", "USD"}}, alice).code == "idempotency_key_required");
  CHECK(n.call("banking.statement", {{"currency", "USD"}}, alice).code == "account_not_found");
  // Partners' tokens carry no "user" scope; no caller at all is unauthorized.
  CHECK(n.call("banking.accounts", {}, caller{"partner-1", "", {"billers"}}).code == "forbidden");
  CHECK(n.call("banking.accounts", {}).code == "unauthorized");
}

TEST_CASE("a user pays another; both see it in balances, statements and its status") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  n.fund(alice, 10'000);
  auto paid = n.transfer(alice, bob, 2'500, "pay-1");
  REQUIRE_MESSAGE(paid.ok, paid.code);
  CHECK(str(paid.body, "state") == "posted");
  auto id = str(paid.body, "transfer_id");
  CHECK(id == client_transfer_id(alice.subject, "pay-1"));
  CHECK(n.available(alice) == 7'500);
  CHECK(n.available(bob) == 2'500);
  CHECK(n.books() == 0);

  auto bob_lines = n.call("banking.statement", {{"currency", "GBP"}}, bob);
  REQUIRE(bob_lines.ok);
  REQUIRE(bob_lines.body.at("lines").as_array().size() == 1);
  const auto& line = bob_lines.body.at("lines").as_array()[0].as_object();
  CHECK(str(line, "counterparty") == "user:u-alice");
  CHECK(line.at("amount_minor").as_int64() == 2'500);
  CHECK(str(line, "transfer_id") == id);

  auto status = n.call("banking.transfer_status", {{"transfer_id", id}}, bob);
  REQUIRE(status.ok);
  CHECK(str(status.body, "state") == "posted");
  CHECK(str(status.body, "from") == "user:u-alice");
  CHECK(str(status.body, "to") == "user:u-bob");
  CHECK(n.call("banking.transfer_status", {{"transfer_id", id}}, carol).code == "transfer_not_found");
  CHECK(n.call("banking.transfer_status", {{"transfer_id", "tr_nope"}}, alice).code == "transfer_not_found");

  // Bob is told, through the outbox, in the transfer's own commit; the funding tells no one.
  auto told = n.outbox("superapp.banking.events");
  REQUIRE(told.size() == 1);
  CHECK(told[0].type == "banking.transfer.received");
  CHECK(told[0].aggregate_id == id);
  CHECK(told[0].audience == std::vector<std::string>{bob.subject});
  auto body = json::parse(told[0].body_json).as_object();
  CHECK(str(body, "from") == "user:u-alice");
  CHECK(body.at("amount").at("minor").as_int64() == 2'500);
}

TEST_CASE("a statement pages with its cursor, oldest first, and ends") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  n.fund(alice, 100'000);
  for (int i = 1; i <= 7; ++i) REQUIRE(n.transfer(alice, bob, i, "p" + std::to_string(i)).ok);
  std::vector<std::int64_t> seen;
  json::object body{{"currency", "GBP"}, {"limit", 3}};
  for (int page = 0; page < 5; ++page) {
    auto r = n.call("banking.statement", body, bob);
    REQUIRE(r.ok);
    for (const auto& l : r.body.at("lines").as_array()) seen.push_back(l.at("amount_minor").as_int64());
    if (!r.body.contains("next_after")) break;
    body["after"] = r.body.at("next_after");
  }
  CHECK(seen == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7});
  // Alice's: the funding, then seven payments out.
  auto a = n.call("banking.statement", {{"currency", "GBP"}, {"limit", 200}}, alice);
  REQUIRE(a.ok);
  CHECK(a.body.at("lines").as_array().size() == 8);
  CHECK(a.body.at("lines").as_array()[1].at("amount_minor").as_int64() == -1);
  CHECK_FALSE(a.body.contains("next_after"));
}

TEST_CASE("bad amounts, accounts and payees are refused with their codes and move nothing") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  n.fund(alice, 1'000);
  CHECK(n.transfer(alice, bob, 0, "zero").code == "amount_must_be_positive");
  // A negative amount never reaches the domain as a number the schema allows.
  CHECK(n.call("banking.transfer", {{"to_user", bob.subject}, {"amount", n.money(-5)}, {"approval", "x"}},
               alice, "neg")
            .code == "bad_request");
  CHECK(n.transfer(alice, bob, 10, "eur", "EUR").code == "account_not_found");
  REQUIRE(n.open(alice, "EUR").ok);
  n.fund(alice, 1'000, "EUR");
  CHECK(n.transfer(alice, bob, 10, "eur2", "EUR").code == "payee_account_not_found");
  CHECK(n.transfer(alice, carol, 10, "nobody").code == "payee_account_not_found");
  CHECK(n.transfer(alice, alice, 10, "self").code == "same_account");
  CHECK(n.transfer(alice, bob, 1'001, "too-much").code == "insufficient_funds");
  CHECK(n.call("banking.transfer",
               {{"to_user", bob.subject}, {"amount", n.money(5, "gb1")}, {"approval", "x"}}, alice, "cur")
            .code == "invalid_currency");
  // A balance that would leave int64 is refused, not wrapped.
  n.fund(bob, std::numeric_limits<std::int64_t>::max() - 10);
  CHECK(n.transfer(alice, bob, 11, "overflow").code == "balance_overflow");
  CHECK(n.available(alice) == 1'000);
  CHECK(n.books() == 0);
  CHECK(n.books("EUR") == 0);
}

TEST_CASE("only identity's approval for exactly this payment, once, moves money") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  REQUIRE(n.open(carol).ok);
  n.fund(alice, 10'000);
  auto send = [&](const std::string& approval, std::int64_t minor, const caller& to, const std::string& key) {
    return n.call("banking.transfer",
                  {{"to_user", to.subject}, {"amount", n.money(minor)}, {"approval", approval}}, alice, key);
  };
  // For another amount, another payee, another operation, another device, or forged.
  CHECK(send(n.approve(alice, "banking.transfer", 99, "GBP", bob.subject), 100, bob, "a1").code ==
        "approval_invalid");
  CHECK(send(n.approve(alice, "banking.transfer", 100, "GBP", carol.subject), 100, bob, "a2").code ==
        "approval_invalid");
  CHECK(send(n.approve(alice, "banking.hold", 100, "GBP", bob.subject), 100, bob, "a3").code ==
        "approval_invalid");
  CHECK(send(n.approve(alice, "banking.transfer", 100, "GBP", bob.subject, nullptr, "d-stolen"), 100, bob,
             "a4")
            .code == "approval_invalid");
  auto forger = tokens::signing_key::generate("k-identity");
  CHECK(send(n.approve(alice, "banking.transfer", 100, "GBP", bob.subject, &forger), 100, bob, "a5").code ==
        "approval_invalid");
  CHECK(send("not-a-token", 100, bob, "a6").code == "approval_invalid");
  // Bob cannot spend an approval made out to alice.
  CHECK(n.call("banking.transfer",
               {{"to_user", carol.subject},
                {"amount", n.money(100)},
                {"approval", n.approve(alice, "banking.transfer", 100, "GBP", carol.subject)}},
               bob, "a7")
            .code == "approval_invalid");
  CHECK(n.available(alice) == 10'000);

  // Spent once: the same approval on another transfer (another key) is refused, also after a
  // restart of the node.
  auto approval = n.approve(alice, "banking.transfer", 100, "GBP", bob.subject);
  REQUIRE(send(approval, 100, bob, "b1").ok);
  CHECK(send(approval, 100, bob, "b2").code == "approval_already_used");
  n.stop();
  n.start();
  CHECK(send(approval, 100, bob, "b3").code == "approval_already_used");
  // An expired one is refused.
  auto late = n.approve(alice, "banking.transfer", 100, "GBP", bob.subject);
  n.clock->advance(130s);  // past its expiry and the verifier's few seconds of skew
  CHECK(send(late, 100, bob, "b4").code == "approval_invalid");
  CHECK(n.available(alice) == 9'900);
}

TEST_CASE("a retried transfer answers its first result; the same key for another one is refused") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  REQUIRE(n.open(carol).ok);
  n.fund(alice, 10'000);
  auto approval = n.approve(alice, "banking.transfer", 700, "GBP", bob.subject);
  json::object body{{"to_user", bob.subject}, {"amount", n.money(700)}, {"approval", approval}};
  auto first = n.call("banking.transfer", body, alice, "k-1");
  REQUIRE(first.ok);
  auto again = n.call("banking.transfer", body, alice, "k-1");
  REQUIRE(again.ok);
  CHECK(again.body == first.body);
  // Long after, with the approval expired: still the first result, not a refusal or a second payment.
  n.clock->advance(10min);
  auto late = n.call("banking.transfer", body, alice, "k-1");
  REQUIRE_MESSAGE(late.ok, late.code);
  CHECK(late.body == first.body);
  CHECK(n.available(alice) == 9'300);
  // The key again for another payment: refused, with or without a fresh approval.
  CHECK(n.transfer(alice, bob, 701, "k-1").code == "idempotency_key_reused");
  CHECK(n.transfer(alice, carol, 700, "k-1").code == "idempotency_key_reused");
  CHECK(n.call("banking.transfer",
               {{"to_user", bob.subject}, {"amount", n.money(800)}, {"approval", approval}}, alice, "k-1")
            .code == "idempotency_key_reused");
  // Keys are per user: bob's "k-1" is his own.
  CHECK(n.transfer(bob, alice, 100, "k-1").ok);
  CHECK(n.available(alice) == 9'400);
  CHECK(n.books() == 0);
}

TEST_CASE("a hold reserves, captures all or part, releases, and expires") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  n.fund(alice, 10'000);
  auto hold = [&](std::int64_t minor, const std::string& key, json::object extra = {}) {
    json::object body{{"to_user", bob.subject},
                      {"amount", n.money(minor)},
                      {"approval", n.approve(alice, "banking.hold", minor, "GBP", bob.subject)}};
    for (auto& [k, v] : extra) body[k] = v;
    return n.call("banking.hold", body, alice, key);
  };
  auto h1 = hold(4'000, "h1");
  REQUIRE_MESSAGE(h1.ok, h1.code);
  auto id1 = str(h1.body, "hold_id");
  CHECK(str(h1.body, "state") == "held");
  auto w = n.wallet(alice);
  CHECK(w.at("available_minor").as_int64() == 6'000);
  CHECK(w.at("held_minor").as_int64() == 4'000);
  CHECK(n.wallet(bob).at("incoming_minor").as_int64() == 4'000);
  CHECK(hold(6'001, "h-too-much").code == "insufficient_funds");
  // A hold's approval is for a hold: a transfer's is refused.
  CHECK(n.call("banking.hold",
               {{"to_user", bob.subject},
                {"amount", n.money(10)},
                {"approval", n.approve(alice, "banking.transfer", 10, "GBP", bob.subject)}},
               alice, "h-wrong-op")
            .code == "approval_invalid");

  // Only its owner settles it; more than held is refused; part is captured, the rest released.
  CHECK(n.call("banking.capture", {{"hold_id", id1}}, bob, "c0").code == "hold_not_found");
  CHECK(n.call("banking.capture", {{"hold_id", id1}, {"amount_minor", 4'001}}, alice, "c1").code ==
        "exceeds_hold");
  CHECK(n.call("banking.capture", {{"hold_id", id1}, {"amount_minor", 0}}, alice, "c1b").code ==
        "amount_must_be_positive");
  auto cap = n.call("banking.capture", {{"hold_id", id1}, {"amount_minor", 3'000}}, alice, "c2");
  REQUIRE_MESSAGE(cap.ok, cap.code);
  CHECK(str(cap.body, "state") == "captured");
  CHECK(cap.body.at("amount_minor").as_int64() == 3'000);
  // A hold tells no one; its capture tells the payee what it received.
  auto told = n.outbox("superapp.banking.events");
  REQUIRE(told.size() == 1);
  CHECK(told[0].type == "banking.transfer.received");
  CHECK(told[0].aggregate_id == str(cap.body, "transfer_id"));
  CHECK(json::parse(told[0].body_json).at("hold_id").as_string() == id1);
  CHECK(json::parse(told[0].body_json).at("amount").at("minor").as_int64() == 3'000);
  CHECK(n.call("banking.capture", {{"hold_id", id1}, {"amount_minor", 3'000}}, alice, "c2").body == cap.body);
  CHECK(n.call("banking.capture", {{"hold_id", id1}}, alice, "c3").code == "hold_already_captured");
  CHECK(n.call("banking.release", {{"hold_id", id1}}, alice, "r0").code == "hold_already_captured");
  CHECK(n.available(alice) == 7'000);
  CHECK(n.available(bob) == 3'000);
  CHECK(str(n.call("banking.transfer_status", {{"transfer_id", id1}}, bob).body, "state") == "captured");

  auto h2 = hold(1'000, "h2");
  REQUIRE(h2.ok);
  auto id2 = str(h2.body, "hold_id");
  auto rel = n.call("banking.release", {{"hold_id", id2}}, alice, "r1");
  REQUIRE(rel.ok);
  CHECK(str(rel.body, "state") == "released");
  CHECK(rel.body.at("amount_minor").as_int64() == 1'000);
  CHECK(n.call("banking.capture", {{"hold_id", id2}}, alice, "c4").code == "hold_already_released");
  CHECK(n.available(alice) == 7'000);

  auto h3 = hold(500, "h3", {{"expires_in_s", 60}});
  REQUIRE(h3.ok);
  n.clock->advance(61s);
  CHECK(n.call("banking.capture", {{"hold_id", str(h3.body, "hold_id")}}, alice, "c5").code == "hold_expired");
  CHECK(n.call("banking.capture", {{"hold_id", "tr_unknown"}}, alice, "c6").code == "hold_not_found");
  CHECK(n.books() == 0);

  // The ledger keeps only open holds; a settled one's row answers, also after a restart, and a
  // retried capture is still the first one.
  const auto available = n.available(alice);
  n.stop();
  n.start();
  CHECK(n.call("banking.capture", {{"hold_id", id1}}, alice, "c7").code == "hold_already_captured");
  CHECK(n.call("banking.capture", {{"hold_id", id2}}, alice, "c8").code == "hold_already_released");
  CHECK(n.call("banking.capture", {{"hold_id", id1}, {"amount_minor", 3'000}}, alice, "c2").body ==
        cap.body);
  CHECK(n.call("banking.release", {{"hold_id", id2}}, alice, "r1").body == rel.body);
  CHECK(n.available(alice) == available);
  CHECK(n.books() == 0);
}

TEST_CASE("a batch pays several users all or nothing, under one approval for exactly its items") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  REQUIRE(n.open(carol).ok);
  n.fund(alice, 10'000);
  auto item = [&](const caller& to, std::int64_t minor) {
    return json::object{{"to_user", to.subject}, {"amount_minor", minor}};
  };
  auto payee_of = [](const json::array& items, const char* currency = "GBP") {
    std::vector<superapp::ws::banking_batch_item> list;
    for (const auto& i : items)
      list.push_back({std::string{i.at("to_user").as_string()}, i.at("amount_minor").as_int64()});
    return superapp::ws::batch_payee(currency, list);
  };
  auto total_of = [](const json::array& items) {
    std::int64_t t = 0;
    for (const auto& i : items) t += i.at("amount_minor").as_int64();
    return t;
  };
  // `approved_for`: the items the approval is for (default: the same).
  auto batch = [&](const json::array& items, const std::string& key,
                   std::optional<json::array> approved_for = std::nullopt,
                   const char* currency = "GBP") {
    const auto& a = approved_for ? *approved_for : items;
    return n.call("banking.batch",
                  {{"currency", currency},
                   {"items", items},
                   {"approval", n.approve(alice, "banking.batch", total_of(a), currency,
                                          payee_of(a, currency))}},
                  alice, key);
  };

  json::array split{item(bob, 1'500), item(carol, 2'500), item(bob, 500)};
  auto paid = batch(split, "b-1");
  REQUIRE_MESSAGE(paid.ok, paid.code);
  CHECK(str(paid.body, "state") == "posted");
  CHECK(paid.body.at("total").at("minor").as_int64() == 4'500);
  const auto& items = paid.body.at("items").as_array();
  REQUIRE(items.size() == 3);
  const auto batch_id = str(paid.body, "batch_id");
  CHECK(str(items[2].as_object(), "transfer_id") == batch_id + "_2");
  // Each payee is told of each item it received.
  std::vector<std::string> told;
  for (const auto& e : n.outbox("superapp.banking.events"))
    if (e.aggregate_id.rfind(batch_id, 0) == 0) told.push_back(e.audience.at(0));
  CHECK(told == std::vector<std::string>{bob.subject, carol.subject, bob.subject});
  CHECK(n.available(alice) == 5'500);
  CHECK(n.available(bob) == 2'000);
  CHECK(n.available(carol) == 2'500);
  auto status = n.call("banking.transfer_status", {{"transfer_id", batch_id + "_1"}}, carol);
  REQUIRE(status.ok);
  CHECK(str(status.body, "state") == "posted");

  // The same key and items again: the first reply, nothing moves (even with a fresh approval).
  auto again = batch(split, "b-1");
  REQUIRE(again.ok);
  CHECK(again.body == paid.body);
  CHECK(n.available(alice) == 5'500);
  // The same key with other items (fewer, more, or other amounts): refused.
  CHECK(batch({item(bob, 1'500), item(carol, 2'500)}, "b-1").code == "idempotency_key_reused");
  CHECK(batch({item(bob, 1'500), item(carol, 2'500), item(bob, 500), item(carol, 1)}, "b-1").code ==
        "idempotency_key_reused");
  CHECK(n.available(alice) == 5'500);

  // All or nothing: one item the wallet cannot cover, or one payee without a wallet, moves none.
  CHECK(batch({item(bob, 5'000), item(carol, 600)}, "b-2").code == "insufficient_funds");
  const caller dave{"u-dave", "d-dave", {"user"}};
  CHECK(batch({item(bob, 100), item(dave, 100)}, "b-3").code == "payee_account_not_found");
  CHECK(n.available(alice) == 5'500);
  CHECK(n.available(bob) == 2'000);
  // ... and the refused keys are not used up: paid once the cause is gone.
  n.fund(alice, 1'000);
  auto later = batch({item(bob, 5'000), item(carol, 600)}, "b-2");
  REQUIRE_MESSAGE(later.ok, later.code);
  CHECK(n.available(alice) == 900);

  // The approval binds the items: another payee, amount or order is approval_invalid.
  n.fund(alice, 10'000);
  json::array two{item(bob, 100), item(carol, 200)};
  CHECK(batch(two, "b-4", json::array{item(carol, 200), item(bob, 100)}).code == "approval_invalid");
  CHECK(batch(two, "b-5", json::array{item(bob, 100), item(carol, 201)}).code == "approval_invalid");
  auto bad_op = n.call("banking.batch",
                       {{"currency", "GBP"},
                        {"items", two},
                        {"approval", n.approve(alice, "banking.transfer", 300, "GBP", payee_of(two))}},
                       alice, "b-6");
  CHECK(bad_op.code == "approval_invalid");
  // One approval pays one batch.
  auto token = n.approve(alice, "banking.batch", 300, "GBP", payee_of(two));
  CHECK(n.call("banking.batch", {{"currency", "GBP"}, {"items", two}, {"approval", token}}, alice, "b-7").ok);
  CHECK(n.call("banking.batch", {{"currency", "GBP"}, {"items", two}, {"approval", token}}, alice, "b-8").code ==
        "approval_already_used");

  // Bad batches, each with its code.
  CHECK(batch({}, "b-9").code == "batch_invalid");
  CHECK(batch({item(bob, 100)}, "b-10", std::nullopt, "EUR").code == "account_not_found");
  CHECK(batch({item(bob, 100), item(alice, 100)}, "b-11").code == "same_account");
  CHECK(batch({item(bob, 0)}, "b-12").code == "amount_must_be_positive");
  json::array too_many;
  for (int i = 0; i < 51; ++i) too_many.push_back(item(bob, 1));
  CHECK(batch(too_many, "b-13").code == "bad_request");
  CHECK(batch({item(bob, std::numeric_limits<std::int64_t>::max()), item(carol, 1)}, "b-14").code ==
        "balance_overflow");
  CHECK(n.call("banking.batch", {{"currency", "GBP"}, {"items", two}, {"approval", token}}, alice).code == "idempotency_key_required");
  CHECK(n.books() == 0);

  // One key, two different batches sent at once from 8 threads (as retries racing an edit):
  // one batch wins and moves money once; every request for it gets its reply, every request
  // for the other idempotency_key_reused.
  for (int round = 0; round < 5; ++round) {
    const auto key = "race-" + std::to_string(round);
    json::array a_items{item(bob, 10), item(carol, 20)};
    json::array b_items{item(bob, 10)};
    const auto before = n.available(alice);
    std::vector<std::string> tokens;
    for (int i = 0; i < 8; ++i) {
      const auto& it = i % 2 ? b_items : a_items;
      tokens.push_back(n.approve(alice, "banking.batch", total_of(it), "GBP", payee_of(it)));
    }
    std::vector<outcome> results(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        results[i] = n.call("banking.batch",
                            {{"currency", "GBP"}, {"items", i % 2 ? b_items : a_items}, {"approval", tokens[i]}},
                            alice, key);
      });
    for (auto& t : threads) t.join();
    int a_ok = 0, b_ok = 0, reused = 0;
    for (int i = 0; i < 8; ++i) {
      if (results[i].ok) (i % 2 ? b_ok : a_ok) += 1;
      else if (results[i].code == "idempotency_key_reused") ++reused;
      else FAIL_CHECK("unexpected: " << results[i].code);
    }
    CHECK(((a_ok == 4 && b_ok == 0) || (a_ok == 0 && b_ok == 4)));
    CHECK(reused == 4);
    CHECK(n.available(alice) == before - (a_ok ? 30 : 10));
  }
  CHECK(n.books() == 0);
}

TEST_CASE("an operator reverses a posted transfer or a capture, once; nothing else is reversible") {
  banking_node n;
  const caller op{"operator:ops-alice", "", {"operator"}};
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  n.fund(alice, 10'000);
  auto paid = n.transfer(alice, bob, 2'500, "pay-rv");
  REQUIRE_MESSAGE(paid.ok, paid.code);
  const auto id = str(paid.body, "transfer_id");
  auto reverse = [&](const std::string& transfer_id, const caller& who = {}) {
    return n.call(std::string{reverse_op}, {{"transfer_id", transfer_id}, {"reason", "fraud report 42"}},
                  who.subject.empty() ? op : who);
  };

  // Only an operator; users (even the payer) and anonymous callers are refused.
  CHECK(reverse(id, alice).code == "forbidden");
  const auto told_before = n.outbox("superapp.banking.events").size();
  CHECK(n.call(std::string{reverse_op}, {{"transfer_id", id}, {"reason", "x"}}, caller{}).code ==
        "unauthorized");
  CHECK(n.call(std::string{reverse_op}, {{"transfer_id", id}}, op).code == "bad_request");
  CHECK(n.call(std::string{reverse_op}, {{"transfer_id", id}, {"reason", ""}}, op).code == "bad_request");
  CHECK(reverse("tr_nope").code == "transfer_not_found");

  auto rv = reverse(id);
  REQUIRE_MESSAGE(rv.ok, rv.code);
  CHECK(str(rv.body, "state") == "reversed");
  CHECK(str(rv.body, "from") == "user:u-bob");
  CHECK(str(rv.body, "to") == "user:u-alice");
  CHECK(rv.body.at("amount").at("minor").as_int64() == 2'500);
  const auto rv_id = str(rv.body, "reversal_id");
  CHECK(rv_id.rfind("rv_", 0) == 0);
  CHECK(n.available(alice) == 10'000);
  CHECK(n.available(bob) == 0);
  // Again: the same reversal, no money moves twice.
  auto again = reverse(id);
  REQUIRE(again.ok);
  CHECK(again.body == rv.body);
  // Both users are told of the reversal, once.
  auto told = n.outbox("superapp.banking.events");
  REQUIRE(told.size() == told_before + 1);
  CHECK(told.back().type == "banking.transfer.reversed");
  CHECK(told.back().audience == std::vector<std::string>{bob.subject, alice.subject});
  CHECK(n.available(alice) == 10'000);
  // A reversal is not reversed; both users see it in their statements.
  CHECK(reverse(rv_id).code == "transfer_not_reversible");
  auto lines = n.call("banking.statement", {{"currency", "GBP"}}, bob);
  REQUIRE(lines.ok);
  REQUIRE(lines.body.at("lines").as_array().size() == 2);
  CHECK(str(lines.body.at("lines").as_array()[1].as_object(), "transfer_id") == rv_id);

  // A hold is reversed through its capture (the captured part); a release is not reversible.
  auto hold = [&](std::int64_t minor, const std::string& key) {
    return n.call("banking.hold",
                  {{"to_user", bob.subject},
                   {"amount", n.money(minor)},
                   {"approval", n.approve(alice, "banking.hold", minor, "GBP", bob.subject)}},
                  alice, key);
  };
  auto h = hold(3'000, "h-rv");
  REQUIRE(h.ok);
  const auto hold_id = str(h.body, "hold_id");
  CHECK(reverse(hold_id).code == "transfer_not_reversible");
  auto cap = n.call("banking.capture", {{"hold_id", hold_id}, {"amount_minor", 1'200}}, alice, "c-rv");
  REQUIRE_MESSAGE(cap.ok, cap.code);
  CHECK(n.available(bob) == 1'200);
  auto rv_cap = reverse(str(cap.body, "transfer_id"));
  REQUIRE_MESSAGE(rv_cap.ok, rv_cap.code);
  CHECK(rv_cap.body.at("amount").at("minor").as_int64() == 1'200);
  CHECK(n.available(alice) == 10'000);
  CHECK(n.available(bob) == 0);
  auto h2 = hold(500, "h-rv2");
  REQUIRE(h2.ok);
  auto rel = n.call("banking.release", {{"hold_id", str(h2.body, "hold_id")}}, alice, "r-rv");
  REQUIRE(rel.ok);
  CHECK(reverse(str(rel.body, "transfer_id")).code == "transfer_not_reversible");

  // The payee spent the money: no wallet is overdrawn, not even by an operator.
  auto paid2 = n.transfer(alice, bob, 4'000, "pay-rv2");
  REQUIRE(paid2.ok);
  auto spent = n.transfer(bob, carol, 3'000, "bob-spends");
  CHECK(spent.code == "payee_account_not_found");  // carol has no wallet yet
  REQUIRE(n.open(carol).ok);
  REQUIRE(n.transfer(bob, carol, 3'000, "bob-spends-2").ok);
  CHECK(reverse(str(paid2.body, "transfer_id")).code == "insufficient_funds");
  CHECK(n.available(bob) == 1'000);
  CHECK(n.books() == 0);
}

TEST_CASE("concurrent transfers from one wallet by many sessions never overdraw it") {
  banking_node n;
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  REQUIRE(n.open(carol).ok);
  n.fund(alice, 10'000);
  // 160 payments of 100 from a wallet of 10,000, from 8 threads at once: exactly 100 fit.
  std::vector<std::string> approvals;
  for (int i = 0; i < 160; ++i)
    approvals.push_back(n.approve(alice, "banking.transfer", 100, "GBP", (i % 2 ? bob : carol).subject));
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 160; i += 8) {
        auto r = n.call("banking.transfer",
                        {{"to_user", (i % 2 ? bob : carol).subject}, {"amount", n.money(100)},
                         {"approval", approvals[i]}},
                        alice, "c-" + std::to_string(i));
        if (r.ok) ++ok;
        else if (r.code == "insufficient_funds") ++refused;
        else ++other;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 100);
  CHECK(refused == 60);
  CHECK(other == 0);
  CHECK(n.available(alice) == 0);
  CHECK(n.available(bob) + n.available(carol) == 10'000);
  CHECK(n.books() == 0);
}

TEST_CASE("KYC limits: the default level's, then each user's from kyc.check.verified on the bus") {
  auto buses = std::make_shared<bus::bus_directory>();
  banking_node n{[&](banking_settings& s) {
    s.bus = buses;
    s.ledger.default_limits["GBP"] = {1'000, 1'500, 5'000};
  }};
  buses->publish(bus::spawn_local_bus(*n.sys, bus::bus_config{}));
  const caller dave{"u-dave", "d-dave", {"user"}};
  for (const auto& who : {alice, bob, carol, dave}) REQUIRE(n.open(who).ok);
  n.fund(alice, 10'000);
  n.fund(carol, 10'000);
  // Per transaction, then per day (what was paid today counts; a refusal does not).
  CHECK(n.transfer(alice, bob, 1'001, "l1").code == "limit_per_transaction");
  CHECK(n.transfer(alice, bob, 1'000, "l2").ok);
  CHECK(n.transfer(alice, bob, 500, "l3").ok);
  CHECK(n.transfer(alice, bob, 1, "l4").code == "limit_per_day");
  // What a wallet may hold: bob holds 1,500; funding (no approval: not a client's payment) takes
  // him to 5,000, and nobody may pay him more.
  n.fund(bob, 3'500);
  CHECK(n.transfer(carol, bob, 1, "l5").code == "limit_balance");
  CHECK(n.available(bob) == 5'000);

  // Verified at a higher level: kyc's event on the bus raises alice's limits.
  auto verified = [&](const caller& who, std::int64_t per_tx, std::int64_t per_day, std::int64_t balance) {
    json::object body{{"check_id", "kyc-1"}, {"level", "standard"}, {"level_now", "standard"},
                      {"limits", json::array{json::object{{"currency", "GBP"},
                                                          {"per_transaction_minor", per_tx},
                                                          {"per_day_minor", per_day},
                                                          {"balance_minor", balance}}}}};
    auto e = events::make_event(*n.clock, "kyc.check.verified", 1, who.subject, 1, json::serialize(body));
    e.audience = {who.subject};
    return e;
  };
  auto e = verified(alice, 100'000, 200'000, 1'000'000);
  caf::scoped_actor self{*n.sys};
  for (int copy = 0; copy < 2; ++copy)  // delivered twice: applied once (the inbox)
    self->request(buses->current(), 5s, bus::bus_publish_atom::value, events::topic_for_domain("kyc"), e)
        .receive([](const bus::bus_published&) {}, [](caf::error& err) { FAIL(superapp::describe(err).wire_code); });
  bool raised = false;
  for (int i = 0; i < 100 && !raised; ++i) {
    raised = n.transfer(alice, dave, 2'000, "l6").ok;
    if (!raised) std::this_thread::sleep_for(20ms);
  }
  CHECK(raised);
  // Recorded: after a restart alice keeps her level's limits and what she paid today.
  n.stop();
  n.start();
  CHECK(n.transfer(alice, dave, 2'500, "l7").ok);  // dave (default level) may hold 5,000
  CHECK(n.transfer(carol, bob, 1, "l8").code == "limit_balance");
  auto rows = n.reader()->execute({"SELECT level, per_day FROM user_limits WHERE user_id = $1", {alice.subject}});
  REQUIRE(rows);
  REQUIRE(rows->rows.size() == 1);
  CHECK(persistence::text_at(rows->rows[0], 0) == "standard");
  CHECK(persistence::int_at(rows->rows[0], 1) == 200'000);
  CHECK(n.books() == 0);

  // The node dies after the bus delivered the level and before banking recorded it: a new bus,
  // and banking's row and inbox entry gone. kyc's relay fills the new bus with what it had
  // published (ADR 0019): banking records the level from the refill, and a refill of what it
  // recorded changes nothing.
  n.stop();
  caf::anon_send_exit(buses->current(), caf::exit_reason::user_shutdown);
  buses->publish(bus::spawn_local_bus(*n.sys, bus::bus_config{}));
  {
    auto db = persistence::open_database(n.database(), n.name);
    REQUIRE(db);
    auto w = (*db)->connect(persistence::connection_role::writer);
    REQUIRE(w);
    REQUIRE((*w)->execute({"DELETE FROM user_limits", {}}));
    REQUIRE((*w)->execute({"DELETE FROM user_levels", {}}));
    REQUIRE((*w)->execute({"DELETE FROM event_inbox WHERE consumer = 'banking.kyc_limits'", {}}));
  }
  n.start();
  CHECK(n.transfer(alice, dave, 100, "l9").code == "limit_per_day");  // the default level's again
  bus::bus_batch refill;
  refill.refilled = true;
  refill.topics = {events::topic_for_domain("kyc"), events::topic_for_domain("kyc")};
  refill.events = {verified(carol, 100'000, 200'000, 1'000'000), e};
  self->request(buses->current(), 5s, bus::bus_publish_batch_atom::value, refill)
      .receive([](const bus::bus_batch_published&) {},
               [](caf::error& err) { FAIL(superapp::describe(err).wire_code); });
  bool again = false;
  for (int i = 0; i < 100 && !again; ++i) {
    again = n.transfer(alice, dave, 100, "l10").ok;
    if (!again) std::this_thread::sleep_for(20ms);
  }
  CHECK(again);
  refill.topics.resize(1);
  refill.events = {e};  // recorded now: skipped by the inbox
  self->request(buses->current(), 5s, bus::bus_publish_batch_atom::value, refill)
      .receive([](const bus::bus_batch_published&) {},
               [](caf::error& err) { FAIL(superapp::describe(err).wire_code); });
  CHECK(n.transfer(alice, dave, 100, "l11").ok);
  CHECK(n.books() == 0);

  // Levels come in kyc's order on the bus; through Kafka a retried event can arrive after a
  // later one. carol's later level (sequence 3) is recorded; her earlier one (2), arriving
  // after it, is claimed and changes nothing.
  auto later = verified(carol, 300, 300, 1'000'000);
  later.sequence = 3;
  auto earlier = verified(carol, 50'000, 50'000, 1'000'000);
  earlier.sequence = 2;
  for (const auto& ev : {later, earlier})
    self->request(buses->current(), 5s, bus::bus_publish_atom::value,
                  events::topic_for_domain("kyc"), ev)
        .receive([](const bus::bus_published&) {},
                 [](caf::error& err) { FAIL(superapp::describe(err).wire_code); });
  auto recorded_seq = [&] {
    auto r = n.reader()->execute(
        {"SELECT kyc_sequence FROM user_levels WHERE user_id = $1", {carol.subject}});
    REQUIRE(r);
    return r->rows.empty() ? std::int64_t{0} : persistence::int_at(r->rows[0], 0);
  };
  auto claimed = [&] {
    auto r = n.reader()->execute(
        {"SELECT COUNT(*) FROM event_inbox WHERE event_id = $1", {events::to_string(earlier.id)}});
    REQUIRE(r);
    return persistence::int_at(r->rows[0], 0) == 1;
  };
  for (int i = 0; i < 100 && !claimed(); ++i) std::this_thread::sleep_for(20ms);
  CHECK(claimed());
  CHECK(recorded_seq() == 3);
  CHECK(n.transfer(carol, dave, 301, "l12").code == "limit_per_transaction");  // 300, not 50,000
  n.stop();
  n.start();  // and so it stays after a restart
  CHECK(n.transfer(carol, dave, 301, "l13").code == "limit_per_transaction");
  CHECK(n.transfer(carol, dave, 300, "l14").ok);
  n.stop();
  caf::anon_send_exit(buses->current(), caf::exit_reason::user_shutdown);  // not in the tree
}
