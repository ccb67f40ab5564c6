// Provider callback verification on OpenSSL's HMAC.
#include "protocols/webhook.hpp"

#include <charconv>

#include <boost/json.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "protocols/hex.hpp"

namespace superapp {
namespace {

constexpr std::string_view scheme = "v1=";

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

std::optional<webhook_delivery> relayed_webhook(std::string_view op_body) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(op_body, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  auto text = [o](const char* key) -> const boost::json::string* {
    const auto* v = o ? o->if_contains(key) : nullptr;
    return v ? v->if_string() : nullptr;
  };
  const auto *payload = text("payload"), *timestamp = text("timestamp"), *signature = text("signature");
  if (!payload || !timestamp || !signature) return std::nullopt;
  return webhook_delivery{std::string{*payload}, std::string{*timestamp}, std::string{*signature}};
}

}  // namespace superapp
