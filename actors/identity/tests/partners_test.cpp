// Partner credentials as data: the registry file (typos and unsafe grants refused) and scope
// grants (a partner never gets a scope it was not given).
#include "actors/identity/partners.hpp"

#include <doctest/doctest.h>

using namespace superapp::identity;

namespace {

constexpr auto hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

std::string registry_with(std::string_view entry) {
  return std::string{"[partners.shop-42]\nname = \"Acme\"\nsecret_hash = \""} + hash + "\"\n" +
         std::string{entry};
}

}  // namespace

TEST_CASE("a partner registry is read as data") {
  std::string error;
  auto r = partner_registry::parse(
      registry_with("scopes = [\"ecommerce.orders\", \"rewards:issue\"]\nquota_per_day = 500\n"), error);
  REQUIRE_MESSAGE(r, error);
  const auto* p = r->find("shop-42");
  REQUIRE(p != nullptr);
  CHECK(p->name == "Acme");
  CHECK(p->scopes == std::vector<std::string>{"ecommerce.orders", "rewards:issue"});
  CHECK(p->quota_per_day == 500);
  CHECK(r->find("shop-43") == nullptr);
  CHECK(partner_registry::parse("", error)->partners.empty());
}

TEST_CASE("a registry with a typo, a user scope or a plain-text secret is refused, naming the key") {
  auto refused = [](const std::string& text, std::string_view named) {
    std::string why;
    CHECK_FALSE(partner_registry::parse(text, why));
    CHECK_MESSAGE(why.find(named) != std::string::npos, why);
  };
  refused(registry_with("scopes = [\"user\"]\nquota_per_day = 5\n"), "never 'user'");
  refused(registry_with("scopes = [\"Everything\"]\nquota_per_day = 5\n"), "Everything");
  refused(registry_with("scope = [\"a.b\"]\nquota_per_day = 5\n"), "unknown key 'scope'");
  refused(registry_with("scopes = [\"a.b\"]\nquota_per_day = 0\n"), "quota_per_day");
  refused(registry_with("scopes = [\"a.b\"]\n"), "quota_per_day");
  refused("[partners.shop]\nsecret_hash = \"hunter2\"\nscopes = []\nquota_per_day = 1\n",
          "secret_hash");
  refused("[partners.\"Shop 1\"]\n", "client id");
  refused("[partner.shop]\n", "unknown key 'partner'");
}

TEST_CASE("a partner is granted what it asks for within its scopes, and nothing beyond") {
  partner p{"shop-42", "Acme", hash, {"ecommerce.orders", "rewards.issue"}, 10};
  CHECK(grant_scopes(p, "") == std::optional<std::vector<std::string>>{p.scopes});
  CHECK(grant_scopes(p, "rewards.issue") ==
        std::optional<std::vector<std::string>>{{"rewards.issue"}});
  CHECK_FALSE(grant_scopes(p, "rewards.issue user"));
  CHECK_FALSE(grant_scopes(p, "banking.transfer"));
  CHECK(partner_subject("shop-42") == "partner:shop-42");
}
