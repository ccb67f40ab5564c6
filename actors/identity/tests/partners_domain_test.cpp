// Partner credentials on the identity domain's real tree and database: the client credentials
// grant, scope escalation refused, and partners kept out of app users' ops by the domain itself.
#include <doctest/doctest.h>

#include "actors/identity/secrets.hpp"
#include "actors/identity/tests/identity_node.hpp"

using namespace superapp;
using namespace superapp::identity::testing;

namespace {

constexpr auto secret = "s3cr3t-partner-secret-of-enough-length";

struct partner_fixture {
  identity_node n;

  partner_fixture() {
    auto hash = identity::hash_secret(secret, n.settings.argon2);
    REQUIRE(hash);
    auto registry = std::make_shared<identity::partner_registry>();
    registry->partners.emplace(
        "shop-42", identity::partner{"shop-42", "Acme", *hash, {"ecommerce.orders", "rewards.issue"}, 500});
    n.stop();
    n.settings.partners = registry;
    n.start();
  }

  outcome token(const std::string& client_secret, std::optional<std::string> scope = {},
                const std::string& client = "shop-42") {
    json::object body{{"client_id", client}, {"client_secret", client_secret}};
    if (scope) body["scope"] = *scope;
    return n.call("identity.partner_token", body);
  }
};

}  // namespace

TEST_CASE_FIXTURE(partner_fixture, "a partner trades its id and secret for a token with its scopes and quota") {
  auto t = token(secret);
  REQUIRE_MESSAGE(t.ok, t.code);
  CHECK(str(t.body, "scope") == "ecommerce.orders rewards.issue");
  CHECK(t.body.at("expires_in_s").as_int64() == 900);
  auto verified = verify_access(n, str(t.body, "access_token"));
  REQUIRE_MESSAGE(verified, verified.failure);
  CHECK(verified.accepted->subject == "partner:shop-42");
  CHECK_FALSE(verified.accepted->device_id);
  CHECK(verified.accepted->quota_per_day == std::optional<std::int64_t>{500});
  CHECK_FALSE(verified.accepted->has_scope("user"));
  // A narrower token on request.
  auto narrow = token(secret, "rewards.issue");
  REQUIRE(narrow.ok);
  CHECK(str(narrow.body, "scope") == "rewards.issue");
}

TEST_CASE_FIXTURE(partner_fixture, "a wrong secret and an unknown partner get the same answer") {
  CHECK(token("not-the-secret").code == "wrong_credential");
  CHECK(token(secret, std::nullopt, "shop-43").code == "wrong_credential");
}

TEST_CASE_FIXTURE(partner_fixture, "a partner asking for a scope it was not given gets none") {
  CHECK(token(secret, "rewards.issue user").code == "scope_not_granted");
  CHECK(token(secret, "banking.transfer").code == "scope_not_granted");
}

TEST_CASE_FIXTURE(partner_fixture, "the domain itself keeps partners out of app users' ops") {
  // As if the gateway's own scope check had been bypassed: a sealed op with a partner caller.
  caller shop{"partner:shop-42", "", {"ecommerce.orders"}};
  CHECK(n.call("identity.devices", {}, shop).code == "forbidden");
  CHECK(n.call("identity.logout_all", {}, shop, "idem-partner-1").code == "forbidden");
  CHECK(n.call("identity.step_up",
               {{"operation", "banking.transfer"},
                {"amount", json::object{{"minor", 100}, {"currency", "GBP"}}},
                {"payee", "p"},
                {"method", "otp"}},
               caller{"partner:shop-42", "d-1", {"ecommerce.orders"}}, "idem-partner-2")
            .code == "forbidden");
}
