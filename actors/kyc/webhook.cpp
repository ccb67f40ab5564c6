// Provider callback verification on OpenSSL's HMAC.
#include "actors/kyc/webhook.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "protocols/hex.hpp"

namespace superapp::kyc {
namespace {

constexpr std::string_view scheme = "v1=";

bool is_code(std::string_view s, std::size_t max) {
  return s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

}  // namespace

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).push_back('.');
  message.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  return std::string{scheme} + to_hex(mac, length);
}

webhook_verdict verify_webhook(std::string_view secret, const webhook_delivery& d,
                               std::int64_t now_s, std::chrono::seconds tolerance) {
  std::int64_t signed_at = 0;
  const auto* first = d.timestamp.data();
  const auto* last = first + d.timestamp.size();
  auto parsed = std::from_chars(first, last, signed_at);
  if (d.timestamp.empty() || d.timestamp.size() > 12 || parsed.ec != std::errc{} || parsed.ptr != last)
    return webhook_verdict::bad_signature;
  auto expected = webhook_signature(secret, d.timestamp, d.body);
  if (d.signature.size() != expected.size() ||
      CRYPTO_memcmp(d.signature.data(), expected.data(), expected.size()) != 0)
    return webhook_verdict::bad_signature;
  auto age = now_s - signed_at;
  if (age > tolerance.count() || -age > tolerance.count()) return webhook_verdict::stale;
  return webhook_verdict::authentic;
}

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
