// The KYC provider's decision bodies.
#include "actors/kyc/webhook.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace superapp::kyc {
namespace {

bool is_code(std::string_view s, std::size_t max) {
  return s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

}  // namespace

std::optional<provider_decision> parse_decision(std::string_view body) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  if (o == nullptr) return std::nullopt;
  auto text = [o](const char* key, std::size_t max) -> std::optional<std::string> {
    const auto* v = o->if_contains(key);
    const auto* s = v ? v->if_string() : nullptr;
    if (s == nullptr || s->size() > max) return std::nullopt;
    return std::string{*s};
  };
  auto id = text("provider_check_id", 64), reference = text("reference", 64),
       level = text("level", 32), outcome = text("outcome", 16), reason = text("reason", 64);
  if (!id || !reference || !level || !outcome || !reason || id->empty() || reference->empty() ||
      !is_code(*reason, 64) || (*outcome != "verified" && *outcome != "rejected"))
    return std::nullopt;
  return provider_decision{*id, *reference, *level, *outcome == "verified", *reason};
}

}  // namespace superapp::kyc
