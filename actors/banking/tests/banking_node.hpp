// The banking domain's real tree over a real database (SQLite, or PostgreSQL under
// SUPERAPP_TEST_ENGINE=postgres), with identity's approvals signed by a test key and wallets
// funded straight through the ledger: the fixture of the banking ops suites.
#pragma once

#include <doctest/doctest.h>

#include <latch>
#include <limits>
#include <thread>

#include "actors/banking/banking_domain.hpp"
#include "actors/banking/banking_service.hpp"
#include "protocols/tokens/approval.hpp"
#include "tests/support/domain_node.hpp"

namespace superapp::testing {

using namespace superapp::banking;
using namespace std::chrono_literals;

inline const caller alice{"u-alice", "d-alice", {"user"}};
inline const caller bob{"u-bob", "d-bob", {"user"}};
inline const caller carol{"u-carol", "d-carol", {"user"}};

struct banking_node : domain_node {
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<sup::service_slot> slot = std::make_shared<sup::service_slot>();
  tokens::signing_key identity_key = tokens::signing_key::generate("k-identity");
  std::shared_ptr<tokens::jwt_key_store> keys = std::make_shared<tokens::jwt_key_store>();
  banking_settings settings;
  int approvals = 0;

  // `adjust` changes the settings before the first start (a bank simulator's URL, say).
  // `place`: an existing database (another process's), else a new one.
  explicit banking_node(const std::function<void(banking_settings&)>& adjust = {},
                        std::optional<node_place> place = std::nullopt)
      : domain_node(
            "banking", [this](const std::string& db_name) { return banking_domain(settings, db_name); },
            std::move(place)) {
    tokens::jwk_set set;
    std::string error;
    REQUIRE(set.add_pem(identity_key.kid, identity_key.public_pem(), error));
    keys->replace(std::move(set));
    settings.ledger.clock = clock;
    settings.ledger.expire_every = 3600s;  // expiry is seen by capture (pending_expired) here
    settings.ledger_slot = slot;
    settings.approval_keys = keys;
    if (adjust) adjust(settings);
    start();
  }
  ~banking_node() { stop(); }

  // What identity.authorise would give `who` for this payment.
  std::string approve(const caller& who, const std::string& op, std::int64_t minor,
                      const std::string& currency, const std::string& payee,
                      const tokens::signing_key* key = nullptr, std::string device = {}) {
    tokens::approval a;
    a.approval_id = "ap-" + std::to_string(::getpid()) + "-" + std::to_string(++approvals);
    a.user_id = who.subject;
    a.device_id = device.empty() ? who.device_id : device;
    a.operation = {op, minor, currency, payee};
    a.tier = "mpin";
    a.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(clock->now()) + 120s;
    return tokens::sign_approval(a, clock->now(), key ? *key : identity_key);
  }

  static json::object money(std::int64_t minor, const char* currency = "GBP") {
    return {{"minor", minor}, {"currency", currency}};
  }

  outcome open(const caller& who, const char* currency = "GBP") {
    return call("banking.open_account", {{"currency", currency}}, who, "open-" + std::string{currency});
  }

  outcome transfer(const caller& who, const caller& to, std::int64_t minor, const std::string& key,
                   const char* currency = "GBP") {
    return call("banking.transfer",
                {{"to_user", to.subject},
                 {"amount", money(minor, currency)},
                 {"approval", approve(who, "banking.transfer", minor, currency, to.subject)}},
                who, key);
  }

  // Money into a wallet from a funding account of its own (what a bank top-up will do): the
  // ledger itself.
  void fund(const caller& who, std::int64_t minor, const char* currency = "GBP") {
    const auto source = std::string{"funding:"} + currency + ":" + who.subject;
    caf::scoped_actor self{*sys};
    auto ledger = caf::actor_cast<ledger_actor>(slot->get());
    REQUIRE(ledger);
    bool opened = false;
    self->request(ledger, 20s, open_account_atom::value,
                  account{source, currency, 0})
        .receive([&](bool ok) { opened = ok; }, [&](caf::error&) {});
    REQUIRE(opened);
    banking::transfer t;
    t.id = "fund-" + std::to_string(++approvals);
    t.debit_account = source;
    t.credit_account = wallet_id(who.subject, currency);
    t.amount = minor;
    t.currency = currency;
    auto r = transfer_result::overflows;
    self->request(ledger, 20s, transfer_atom::value, t)
        .receive([&](transfer_result x) { r = x; }, [&](caf::error&) {});
    REQUIRE(r == transfer_result::ok);
  }

  json::object wallet(const caller& who, const char* currency = "GBP") {
    auto r = call("banking.accounts", {}, who);
    REQUIRE(r.ok);
    for (const auto& a : r.body.at("accounts").as_array())
      if (a.at("currency").as_string() == currency) return a.as_object();
    FAIL("no wallet");
    return {};
  }

  std::int64_t available(const caller& who, const char* currency = "GBP") {
    return wallet(who, currency).at("available_minor").as_int64();
  }

  // Per currency, the sum of every account's posted balance in the database: zero (summed
  // here in 128 bits: single balances may be near the int64 edge).
  std::int64_t books(const char* currency = "GBP") {
    auto r = reader()->execute({"SELECT credits_posted, debits_posted FROM accounts WHERE currency = $1",
                                {std::string{currency}}});
    REQUIRE(r);
    __extension__ using wide = __int128;
    wide sum = 0;
    for (const auto& row : r->rows)
      sum += wide{persistence::as_int(row[0]).value_or(0)} - wide{persistence::as_int(row[1]).value_or(0)};
    return static_cast<std::int64_t>(sum);
  }
};


}  // namespace superapp::testing
