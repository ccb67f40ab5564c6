// The caller seal: HMAC-SHA256 over a length-prefixed encoding of the forwarded op.
#include "protocols/caller_seal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>

#include "protocols/assert.hpp"

namespace superapp {

namespace {

constexpr std::size_t mac_bytes = 32;

// Length-prefixed, so no two different requests encode alike ("ab"+"c" vs "a"+"bc").
void append_field(std::string& out, std::string_view field) {
  const auto size = static_cast<std::uint64_t>(field.size());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  out.append(field);
}

std::int64_t now_ms(const superapp::clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch())
      .count();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

caller_seal::caller_seal(std::string key, const superapp::clock& clock)
    : key_(std::move(key)), clock_(&clock) {
  SUPERAPP_ASSERT(key_.size() == key_bytes);
}

caller_seal caller_seal::generate(const superapp::clock& clock) {
  std::string key(key_bytes, '\0');
  SUPERAPP_ASSERT(RAND_bytes(reinterpret_cast<unsigned char*>(key.data()),
                             static_cast<int>(key.size())) == 1);
  return caller_seal{std::move(key), clock};
}

std::optional<caller_seal> caller_seal::from_hex(std::string_view hex,
                                                 const superapp::clock& clock,
                                                 std::string& error) {
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front()))) hex.remove_prefix(1);
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  if (hex.size() != 2 * key_bytes) {
    error = "the internal key must be " + std::to_string(2 * key_bytes) + " hex digits";
    return std::nullopt;
  }
  std::string key(key_bytes, '\0');
  for (std::size_t i = 0; i < key_bytes; ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      error = "the internal key has a character that is not a hex digit";
      return std::nullopt;
    }
    key[i] = static_cast<char>(high * 16 + low);
  }
  return caller_seal{std::move(key), clock};
}

std::string caller_seal::key_hex() const {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * key_.size());
  for (unsigned char c : key_) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string caller_seal::mac_of(const op_request& request) const {
  std::string message;
  message.reserve(128 + request.op.size() + request.body_json.size() +
                  request.idempotency_key.size() + request.traceparent.size());
  append_field(message, "superapp.op_request.v1");
  append_field(message, request.op);
  append_field(message, request.body_json);
  append_field(message, request.idempotency_key);
  append_field(message, request.traceparent);
  append_field(message, request.who.subject);
  append_field(message, request.who.device_id);
  append_field(message, std::to_string(request.who.scopes.size()));
  for (const auto& scope : request.who.scopes) append_field(message, scope);
  append_field(message, std::to_string(request.sealed_at_ms));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  const auto* result =
      HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
           &length);
  SUPERAPP_ASSERT(result != nullptr && length == mac_bytes);
  return std::string{reinterpret_cast<const char*>(mac.data()), length};
}

void caller_seal::seal(op_request& request) const {
  request.sealed_at_ms = now_ms(*clock_);
  request.seal = mac_of(request);
}

bool caller_seal::verify(const op_request& request) const {
  if (request.seal.size() != mac_bytes) return false;
  const auto age_ms = now_ms(*clock_) - request.sealed_at_ms;
  if (age_ms > max_age.count() || -age_ms > max_age.count()) return false;
  const auto expected = mac_of(request);
  return CRYPTO_memcmp(expected.data(), request.seal.data(), mac_bytes) == 0;
}

}  // namespace superapp
