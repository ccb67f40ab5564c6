// KYC levels as data: the built-in policy, a custom file, and every way a file can be wrong.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include "actors/kyc/kyc_errc.hpp"
#include "actors/kyc/levels.hpp"
#include "tests/support/error_codes.hpp"

using namespace superapp;
using namespace superapp::kyc;

namespace {

const char* custom = R"toml(
[kyc]
default_level = "basic"
document_types = ["passport", "selfie_video"]
[kyc.levels.basic]
rank = 0
documents_required = 0
limits.GBP = { per_transaction = 1000, per_day = 2000, balance = 5000 }
[kyc.levels.plus]
rank = 5
documents_required = 2
limits.GBP = { per_transaction = 100000, per_day = 200000, balance = 500000 }
limits.EUR = { per_transaction = 90000, per_day = 180000, balance = 450000 }
)toml";

std::string refusal(const std::string& text) {
  std::string error;
  auto p = level_policy::parse(text, error);
  CHECK_FALSE(p.has_value());
  return error;
}

// `custom` with one line replaced.
std::string with(const std::string& from, const std::string& to) {
  std::string t = custom;
  auto at = t.find(from);
  REQUIRE(at != std::string::npos);
  return t.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("the built-in levels run minimum < standard < full with rising limits") {
  const auto& p = level_policy::defaults();
  REQUIRE(p.levels().size() == 3);
  CHECK(p.default_level().name == "minimum");
  CHECK(p.levels()[1].name == "standard");
  CHECK(p.levels()[2].name == "full");
  CHECK(p.find("full")->documents_required == 2);
  const auto& gbp_min = p.find("minimum")->limits_by_currency.at("GBP");
  const auto& gbp_full = p.find("full")->limits_by_currency.at("GBP");
  CHECK(gbp_min.per_transaction_minor < gbp_full.per_transaction_minor);
  CHECK(gbp_min.balance_minor < gbp_full.balance_minor);
  CHECK(p.accepts_document("passport"));
  CHECK_FALSE(p.accepts_document("library_card"));
  CHECK(p.find("gold") == nullptr);
}

TEST_CASE("a levels file is read as written, levels ordered by rank") {
  std::string error;
  auto p = level_policy::parse(custom, error);
  REQUIRE_MESSAGE(p, error);
  CHECK(p->default_level().name == "basic");
  REQUIRE(p->levels().size() == 2);
  CHECK(p->levels()[1].name == "plus");
  CHECK(p->levels()[1].rank == 5);
  CHECK(p->levels()[1].limits_by_currency.at("EUR").balance_minor == 450000);
  CHECK(p->levels()[1].limits_by_currency.count("USD") == 0);
  CHECK(p->accepts_document("selfie_video"));
}

TEST_CASE("a wrong levels file is refused, naming what is wrong") {
  CHECK(refusal("not toml [") .find("not TOML") != std::string::npos);
  CHECK(refusal("[other]\nx = 1\n").find("unknown key 'other'") != std::string::npos);
  CHECK(refusal(with("default_level = \"basic\"", "default_level = \"gold\"")).find("no level 'gold'") !=
        std::string::npos);
  CHECK(refusal(with("default_level = \"basic\"", "")).find("kyc.default_level") != std::string::npos);
  CHECK(refusal(with("rank = 5", "rank = 0")).find("share rank 0") != std::string::npos);
  CHECK(refusal(with("rank = 5", "rank = -1")).find("kyc.levels.plus.rank") != std::string::npos);
  CHECK(refusal(with("default_level = \"basic\"", "default_level = \"plus\"")).find("lowest rank") !=
        std::string::npos);
  CHECK(refusal(with("documents_required = 0", "documents_required = 1")).find("takes no documents") !=
        std::string::npos);
  CHECK(refusal(with("documents_required = 2", "documents_required = 0")).find("needs documents") !=
        std::string::npos);
  CHECK(refusal(with("per_transaction = 1000,", "per_transaction = 3000,")).find("above per_day") !=
        std::string::npos);
  CHECK(refusal(with("limits.EUR", "limits.eur")).find("not an ISO 4217 code") != std::string::npos);
  CHECK(refusal(with("per_day = 2000,", "per_day = 20.5,")).find("kyc.levels.basic.limits.GBP.per_day") !=
        std::string::npos);
  CHECK(refusal(with("balance = 5000 }", "balance = 5000, overdraft = 1 }")).find("unknown key 'overdraft'") !=
        std::string::npos);
  CHECK(refusal(with("[\"passport\", \"selfie_video\"]", "[]")).find("kyc.document_types") !=
        std::string::npos);
  CHECK(refusal(with("[\"passport\", \"selfie_video\"]", "[\"Passport\"]")).find("'Passport'") !=
        std::string::npos);
  CHECK(refusal(with("[kyc.levels.plus]", "[kyc.levels.Plus]")).find("a level name") != std::string::npos);
  CHECK(refusal(with("rank = 5\ndocuments_required = 2\n", "rank = 5\ndocuments_required = 2\nlimits = {}\n"))
            .size() > 0);
}

TEST_CASE("kyc error codes are distinct and the protocol document lists each one") {
  superapp::testing::check_error_codes("kyc", last_kyc_errc, [](kyc_errc c) { return make_error(c); });
  CHECK(superapp::describe(make_error(kyc_errc::provider_unavailable)).retryable);
}
