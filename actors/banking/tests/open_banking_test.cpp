// Open Banking over the real bank simulator (HTTP on loopback) and a real database: links,
// accounts, top-ups as payment actors that settle at the bank and credit the wallet, and the
// bank's failures: refusals, rejections, outages, and an answer lost after the payment was
// taken (reconciled by reference, never sent twice). A node restarted mid-payment resumes it.
#include <doctest/doctest.h>

#include "actors/banking/tests/banking_node.hpp"
#include "protocols/webhook.hpp"
#include "simulators/bank/bank_simulator.hpp"

using namespace superapp;
using namespace superapp::banking;
using namespace superapp::testing;
using namespace std::chrono_literals;

namespace {

struct bank_fixture {
  sim::bank_simulator bank;
  std::unique_ptr<banking_node> node;

  bank_fixture() {
    std::string failure;
    REQUIRE_MESSAGE(bank.start("127.0.0.1", 0, failure), failure);
    bank.set_settle_delay(50ms);
    bank.set_slow_delay(1500ms);
    node = std::make_unique<banking_node>([this](banking_settings& s) {
      s.open_banking.bank_url = bank.base_url();
      s.open_banking.timeout = 500ms;
      s.payments.first_wait = 20ms;
      s.payments.max_wait = 100ms;
      s.payments.call_timeout = 2s;
      s.payments.reconcile_lookups = 5;
    });
  }
  ~bank_fixture() {
    node.reset();
    bank.stop();
  }

  banking_node& n() { return *node; }

  std::string link(const caller& who, const std::string& customer) {
    auto r = n().call("banking.link_bank", {{"customer", customer}}, who, "link-" + customer);
    REQUIRE_MESSAGE(r.ok, r.code);
    return str(r.body, "link_id");
  }

  std::string first_account(const caller& who, const std::string& link_id) {
    auto r = n().call("banking.bank_accounts", {{"link_id", link_id}}, who);
    REQUIRE_MESSAGE(r.ok, r.code);
    REQUIRE(!r.body.at("accounts").as_array().empty());
    return str(r.body.at("accounts").as_array()[0].as_object(), "account_id");
  }

  outcome topup(const caller& who, const std::string& link_id, const std::string& account, std::int64_t minor,
                const std::string& key, const char* currency = "GBP") {
    return n().call("banking.topup",
                    {{"link_id", link_id}, {"bank_account", account}, {"amount", banking_node::money(minor, currency)}},
                    who, key);
  }

  // The payment's state once it is posted or failed (or "timeout").
  json::object settled(const caller& who, const std::string& payment_id) {
    for (int i = 0; i < 300; ++i) {
      auto r = n().call("banking.payment_status", {{"payment_id", payment_id}}, who);
      REQUIRE_MESSAGE(r.ok, r.code);
      auto state = str(r.body, "state");
      if (state == "posted" || state == "failed") return r.body;
      std::this_thread::sleep_for(20ms);
    }
    FAIL("the payment did not settle");
    return {};
  }
};

}  // namespace

TEST_CASE_FIXTURE(bank_fixture, "a linked bank tops up the wallet once the bank settles the payment") {
  REQUIRE(n().open(alice).ok);
  auto link_id = link(alice, "cust-alice");
  auto links = n().call("banking.linked_banks", {}, alice);
  REQUIRE(links.ok);
  REQUIRE(links.body.at("links").as_array().size() == 1);
  CHECK(str(links.body.at("links").as_array()[0].as_object(), "status") == "active");
  auto accounts = n().call("banking.bank_accounts", {{"link_id", link_id}}, alice);
  REQUIRE(accounts.ok);
  const auto& account = accounts.body.at("accounts").as_array()[0].as_object();
  CHECK(account.at("available_minor").as_int64() == 100'000);
  auto bank_account = str(account, "account_id");

  auto started = topup(alice, link_id, bank_account, 2'500, "top-1");
  REQUIRE_MESSAGE(started.ok, started.code);
  auto payment_id = str(started.body, "payment_id");
  CHECK(payment_id == client_payment_id(alice.subject, "top-1"));
  CHECK(str(started.body, "state") == "created");
  auto done = settled(alice, payment_id);
  CHECK(str(done, "state") == "posted");
  CHECK(n().available(alice) == 2'500);
  CHECK(bank.balance_of(bank_account) == 97'500);
  CHECK(n().books() == 0);
  // The same key again: the same payment, not a second one; another body under it: refused.
  auto again = topup(alice, link_id, bank_account, 2'500, "top-1");
  REQUIRE(again.ok);
  CHECK(str(again.body, "payment_id") == payment_id);
  CHECK(str(again.body, "state") == "posted");
  CHECK(topup(alice, link_id, bank_account, 2'501, "top-1").code == "idempotency_key_reused");
  CHECK(bank.payments_received() == 1);
  // Its steps went out as events, in order, to the user.
  std::vector<std::string> types;
  for (const auto& e : n().outbox("superapp.banking.events")) {
    if (e.aggregate_id != payment_id) continue;
    types.push_back(e.type);
    CHECK(e.audience == std::vector<std::string>{alice.subject});
  }
  CHECK(types == std::vector<std::string>{"banking.payment.created", "banking.payment.authorised",
                                          "banking.payment.posted"});
  // The wallet's statement shows the money from the bank.
  auto lines = n().call("banking.statement", {{"currency", "GBP"}}, alice);
  REQUIRE(lines.ok);
  CHECK(str(lines.body.at("lines").as_array()[0].as_object(), "counterparty") == "bank:GBP");

  // An operator reverses the top-up: the wallet gives the money back to the platform's bank
  // account, and the payment ends `reversed` with its event (asked again: nothing more).
  const caller op{"operator:ops", "", {"operator"}};
  json::object why{{"transfer_id", payment_id}, {"reason", "chargeback 7"}};
  auto rv = n().call(std::string{reverse_op}, why, op);
  REQUIRE_MESSAGE(rv.ok, rv.code);
  CHECK(str(rv.body, "to") == "bank:GBP");
  CHECK(n().available(alice) == 0);
  auto status = n().call("banking.payment_status", {{"payment_id", payment_id}}, alice);
  REQUIRE(status.ok);
  CHECK(str(status.body, "state") == "reversed");
  CHECK(str(status.body, "reason") == "reversed_by_operator");
  REQUIRE(n().call(std::string{reverse_op}, why, op).ok);
  types.clear();
  for (const auto& e : n().outbox("superapp.banking.events"))
    if (e.aggregate_id == payment_id) types.push_back(e.type);
  CHECK(types.back() == "banking.payment.reversed");
  CHECK(std::count(types.begin(), types.end(), "banking.payment.reversed") == 1);
  CHECK(n().books() == 0);
}

TEST_CASE_FIXTURE(bank_fixture, "bad top-ups are refused before the bank is asked; the bank's refusals fail them") {
  REQUIRE(n().open(alice).ok);
  auto link_id = link(alice, "cust-alice");
  auto account = first_account(alice, link_id);
  CHECK(topup(alice, "ln_nope", account, 100, "t1").code == "bank_link_not_found");
  CHECK(topup(bob, link_id, account, 100, "t2").code == "bank_link_not_found");  // alice's link
  CHECK(topup(alice, link_id, account, 0, "t3").code == "amount_must_be_positive");
  CHECK(topup(alice, link_id, account, 100, "t4", "EUR").code == "account_not_found");  // no EUR wallet
  CHECK(topup(alice, link_id, account, 100, "t5", "gbp").code == "invalid_currency");
  CHECK(n().call("banking.bank_accounts", {{"link_id", link_id}}, bob).code == "bank_link_not_found");
  CHECK(n().call("banking.payment_status", {{"payment_id", "pm_nope"}}, alice).code == "payment_not_found");
  CHECK(bank.payments_received() == 0);

  // More than the bank account holds: the bank rejects it at settlement.
  auto big = topup(alice, link_id, account, 100'001, "t6");
  REQUIRE(big.ok);
  auto rejected = settled(alice, str(big.body, "payment_id"));
  CHECK(str(rejected, "state") == "failed");
  CHECK(str(rejected, "reason") == "insufficient_funds");
  // Another customer's account: the bank refuses the payment outright.
  auto bob_link = link(bob, "cust-bob");
  auto bobs_account = first_account(bob, bob_link);
  auto foreign = topup(alice, link_id, bobs_account, 100, "t7");
  REQUIRE(foreign.ok);
  auto refused = settled(alice, str(foreign.body, "payment_id"));
  CHECK(str(refused, "state") == "failed");
  CHECK(str(refused, "reason") == "bank_refused");
  CHECK(n().available(alice) == 0);
  CHECK(n().books() == 0);

  // Unlinked: the consent is revoked at the bank and the link cannot be used again.
  auto unlinked = n().call("banking.unlink_bank", {{"link_id", link_id}}, alice, "unlink-1");
  REQUIRE_MESSAGE(unlinked.ok, unlinked.code);
  CHECK(str(unlinked.body, "status") == "revoked");
  CHECK(n().call("banking.unlink_bank", {{"link_id", link_id}}, alice, "unlink-2").ok);
  CHECK(n().call("banking.bank_accounts", {{"link_id", link_id}}, alice).code == "bank_link_revoked");
  CHECK(topup(alice, link_id, account, 100, "t8").code == "bank_link_revoked");
}

TEST_CASE_FIXTURE(bank_fixture, "a bank outage: links wait for it, a top-up is reconciled and never sent twice") {
  REQUIRE(n().open(alice).ok);
  auto link_id = link(alice, "cust-alice");
  auto account = first_account(alice, link_id);
  bank.set_fault(sim::bank_simulator::fault::unavailable);
  auto refused = n().call("banking.link_bank", {{"customer", "cust-x"}}, alice, "link-x");
  CHECK(refused.code == "bank_unavailable");
  // Sent while the bank answers 503: the outcome is unknown, so it is looked up by reference
  // (still failing), and once the bank is back and has no such payment, it is failed.
  auto during = topup(alice, link_id, account, 300, "o1");
  REQUIRE(during.ok);
  // Sent, no answer: `unknown` (and it stays so while the bank cannot be asked).
  std::string state;
  for (int i = 0; i < 250 && state != "unknown"; ++i) {
    auto status = n().call("banking.payment_status", {{"payment_id", str(during.body, "payment_id")}}, alice);
    REQUIRE(status.ok);
    state = str(status.body, "state");
    if (state != "unknown") std::this_thread::sleep_for(20ms);
  }
  CHECK(state == "unknown");
  bank.set_fault(sim::bank_simulator::fault::none);
  auto failed = settled(alice, str(during.body, "payment_id"));
  CHECK(str(failed, "state") == "failed");
  CHECK(str(failed, "reason") == "not_received_by_bank");
  CHECK(bank.payments_received() == 0);

  // The bank takes the payment but its answer is lost (the connector times out first): found
  // by reference, then settled and credited once.
  bank.set_fault(sim::bank_simulator::fault::lost_payment_answer);
  auto lost = topup(alice, link_id, account, 700, "o2");
  REQUIRE(lost.ok);
  auto posted = settled(alice, str(lost.body, "payment_id"));
  bank.set_fault(sim::bank_simulator::fault::none);
  CHECK(str(posted, "state") == "posted");
  CHECK(bank.payments_received() == 1);
  CHECK(n().available(alice) == 700);
  CHECK(bank.balance_of(account) == 100'000 - 700);
  std::vector<std::string> steps;
  for (const auto& e : n().outbox("superapp.banking.events"))
    if (e.aggregate_id == str(lost.body, "payment_id")) steps.push_back(e.type);
  CHECK(steps == std::vector<std::string>{"banking.payment.created", "banking.payment.unknown",
                                          "banking.payment.authorised", "banking.payment.posted"});
}

TEST_CASE_FIXTURE(bank_fixture, "a node stopped mid-payment resumes it at its next start") {
  REQUIRE(n().open(alice).ok);
  auto link_id = link(alice, "cust-alice");
  auto account = first_account(alice, link_id);
  bank.set_settle_delay(600ms);
  auto started = topup(alice, link_id, account, 900, "r1");
  REQUIRE(started.ok);
  n().stop();
  n().start();
  auto done = settled(alice, str(started.body, "payment_id"));
  CHECK(str(done, "state") == "posted");
  CHECK(n().available(alice) == 900);
  CHECK(bank.payments_received() == 1);
}

TEST_CASE("the bank's signed callback moves a payment on at once; forged or stale ones are refused") {
  sim::bank_simulator bank;
  std::string failure;
  REQUIRE_MESSAGE(bank.start("127.0.0.1", 0, failure), failure);
  bank.set_settle_delay(50ms);
  const std::string secret = "bank-webhook-secret";
  // Polls are 5 s apart here: only the callback can settle the payment sooner.
  banking_node n{[&](banking_settings& s) {
    s.open_banking.bank_url = bank.base_url();
    s.bank_webhook_secret = secret;
    s.payments.first_wait = 5s;
    s.payments.max_wait = 5s;
  }};
  REQUIRE(n.open(alice).ok);
  auto link = n.call("banking.link_bank", {{"customer", "cust-alice"}}, alice, "l1");
  REQUIRE(link.ok);
  auto accounts = n.call("banking.bank_accounts", {{"link_id", str(link.body, "link_id")}}, alice);
  REQUIRE(accounts.ok);
  const auto account = str(accounts.body.at("accounts").as_array()[0].as_object(), "account_id");
  auto started = n.call("banking.topup",
                        {{"link_id", str(link.body, "link_id")}, {"bank_account", account},
                         {"amount", banking_node::money(1'200)}},
                        alice, "w1");
  REQUIRE(started.ok);
  const auto payment_id = str(started.body, "payment_id");
  // Taken and settled at the bank (its account debited); our next poll is seconds away.
  for (int i = 0; i < 250 && bank.balance_of(account) != 100'000 - 1'200; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE(bank.balance_of(account) == 100'000 - 1'200);
  auto callback = [&](const std::string& body, std::int64_t at_s, const std::string& key) {
    auto ts = std::to_string(at_s);
    return n.call(std::string{bank_callback_op},
                  {{"payload", body}, {"timestamp", ts}, {"signature", webhook_signature(key, ts, body)}});
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(n.clock->now().time_since_epoch()).count();
  auto body = json::serialize(json::object{{"payment_id", "pay-1"}, {"reference", payment_id},
                                           {"status", "completed"}, {"reason", ""}});
  CHECK(callback(body, now, "not-the-secret").code == "webhook_signature_invalid");
  CHECK(callback(body, now - 600, secret).code == "webhook_stale");
  auto unknown = json::serialize(json::object{{"payment_id", "pay-9"}, {"reference", "pm_unknown"},
                                              {"status", "completed"}, {"reason", ""}});
  CHECK(callback(unknown, now, secret).code == "not_found");
  auto taken = callback(body, now, secret);
  REQUIRE_MESSAGE(taken.ok, taken.code);
  json::object status;
  for (int i = 0; i < 100; ++i) {
    status = n.call("banking.payment_status", {{"payment_id", payment_id}}, alice).body;
    if (str(status, "state") == "posted") break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(str(status, "state") == "posted");
  CHECK(n.available(alice) == 1'200);
  // Delivered again (banks deliver at least once): answered as a duplicate.
  auto again = callback(body, now, secret);
  REQUIRE(again.ok);
  CHECK(again.body.at("duplicate").as_bool());
  n.stop();
  bank.stop();
}

TEST_CASE("a top-up that would take the wallet above its KYC balance limit is refused before the bank is asked") {
  sim::bank_simulator bank;
  std::string failure;
  REQUIRE_MESSAGE(bank.start("127.0.0.1", 0, failure), failure);
  bank.set_settle_delay(20ms);
  banking_node n{[&](banking_settings& s) {
    s.open_banking.bank_url = bank.base_url();
    s.payments.first_wait = 20ms;
    s.payments.max_wait = 100ms;
    s.ledger.default_limits["GBP"] = {100'000, 100'000, 5'000};
  }};
  REQUIRE(n.open(alice).ok);
  auto link = n.call("banking.link_bank", {{"customer", "cust-alice"}}, alice, "l1");
  REQUIRE(link.ok);
  auto accounts = n.call("banking.bank_accounts", {{"link_id", str(link.body, "link_id")}}, alice);
  REQUIRE(accounts.ok);
  auto account = str(accounts.body.at("accounts").as_array()[0].as_object(), "account_id");
  auto topup = [&](std::int64_t minor, const std::string& key) {
    return n.call("banking.topup",
                  {{"link_id", str(link.body, "link_id")}, {"bank_account", account}, {"amount", banking_node::money(minor)}},
                  alice, key);
  };
  CHECK(topup(5'001, "t1").code == "limit_balance");
  auto ok = topup(4'000, "t2");
  REQUIRE(ok.ok);
  for (int i = 0; i < 200 && n.available(alice) != 4'000; ++i) std::this_thread::sleep_for(20ms);
  CHECK(n.available(alice) == 4'000);
  CHECK(topup(1'001, "t3").code == "limit_balance");
  CHECK(bank.payments_received() == 1);
  n.stop();
  bank.stop();
}

TEST_CASE(
    "a top-up its bank returns after it settled is reversed by rule; money already spent stays") {
  sim::bank_simulator bank;
  std::string failure;
  REQUIRE_MESSAGE(bank.start("127.0.0.1", 0, failure), failure);
  bank.set_settle_delay(20ms);
  const std::string secret = "bank-webhook-secret";
  banking_node n{[&](banking_settings& s) {
    s.open_banking.bank_url = bank.base_url();
    s.bank_webhook_secret = secret;
    s.payments.first_wait = 20ms;
    s.payments.max_wait = 100ms;
  }};
  REQUIRE(n.open(alice).ok);
  REQUIRE(n.open(bob).ok);
  auto link = n.call("banking.link_bank", {{"customer", "cust-alice"}}, alice, "l1");
  REQUIRE(link.ok);
  const auto link_id = str(link.body, "link_id");
  auto accounts = n.call("banking.bank_accounts", {{"link_id", link_id}}, alice);
  REQUIRE(accounts.ok);
  const auto account = str(accounts.body.at("accounts").as_array()[0].as_object(), "account_id");
  auto state_of = [&](const std::string& payment_id) {
    return str(n.call("banking.payment_status", {{"payment_id", payment_id}}, alice).body, "state");
  };
  auto topup = [&](std::int64_t minor, const std::string& key) {
    auto started = n.call(
        "banking.topup",
        {{"link_id", link_id}, {"bank_account", account}, {"amount", banking_node::money(minor)}},
        alice, key);
    REQUIRE_MESSAGE(started.ok, started.code);
    const auto id = str(started.body, "payment_id");
    for (int i = 0; i < 250 && state_of(id) != "posted"; ++i) std::this_thread::sleep_for(20ms);
    REQUIRE(state_of(id) == "posted");
    return id;
  };
  auto callback = [&](const std::string& payment_id, const char* status) {
    const auto ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(n.clock->now().time_since_epoch())
            .count());
    auto body = json::serialize(json::object{
        {"payment_id", "pay-x"}, {"reference", payment_id}, {"status", status}, {"reason", ""}});
    return n.call(
        std::string{bank_callback_op},
        {{"payload", body}, {"timestamp", ts}, {"signature", webhook_signature(secret, ts, body)}});
  };

  const auto first = topup(1'200, "t1");
  CHECK(n.available(alice) == 1'200);
  CHECK_FALSE(bank.return_payment("pm_unknown", "fraud_recall"));
  // A callback that only says "returned": the bank still has it completed, so nothing moves.
  auto claimed = callback(first, "returned");
  REQUIRE_MESSAGE(claimed.ok, claimed.code);
  CHECK(claimed.body.at("duplicate").as_bool());
  CHECK(n.available(alice) == 1'200);

  REQUIRE(bank.return_payment(first, "fraud_recall"));
  CHECK_FALSE(bank.return_payment(first, "fraud_recall"));  // returned once
  CHECK(bank.balance_of(account) == 100'000);
  auto returned = callback(first, "returned");
  REQUIRE_MESSAGE(returned.ok, returned.code);
  CHECK_FALSE(returned.body.at("duplicate").as_bool());
  CHECK(state_of(first) == "reversed");
  auto status = n.call("banking.payment_status", {{"payment_id", first}}, alice);
  CHECK(str(status.body, "reason") == "returned_by_bank");
  CHECK(n.available(alice) == 0);
  auto reversal = n.call("banking.transfer_status", {{"transfer_id", "rv_" + first}}, alice);
  REQUIRE_MESSAGE(reversal.ok, reversal.code);
  CHECK(str(reversal.body, "state") == "posted");
  // Delivered again (at least once): a duplicate, nothing moves twice.
  auto again = callback(first, "returned");
  REQUIRE(again.ok);
  CHECK(again.body.at("duplicate").as_bool());
  CHECK(n.available(alice) == 0);

  // Spent before the bank returned it: no wallet is overdrawn, the payment stays posted.
  const auto second = topup(500, "t2");
  REQUIRE(n.transfer(alice, bob, 400, "pay-bob").ok);
  REQUIRE(bank.return_payment(second, "beneficiary_bank_return"));
  auto unrecovered = callback(second, "returned");
  REQUIRE_MESSAGE(unrecovered.ok, unrecovered.code);
  CHECK(state_of(second) == "posted");
  CHECK(n.available(alice) == 100);
  CHECK(n.available(bob) == 400);
  CHECK(n.books() == 0);
  n.stop();
  bank.stop();
}
