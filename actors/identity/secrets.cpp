// libsodium behind the identity domain's secrets (see secrets.hpp).
#include "actors/identity/secrets.hpp"

#include <sodium.h>

#include <array>
#include <cctype>
#include <vector>

#include "protocols/assert.hpp"
#include "protocols/tokens/jwt.hpp"

namespace superapp::identity {
namespace {

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

}  // namespace

std::string seal_stored(std::string_view storage_key, std::string_view plaintext) {
  ensure_sodium();
  SUPERAPP_ASSERT(storage_key.size() == storage_key_bytes);
  std::vector<unsigned char> out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                 plaintext.size());
  randombytes_buf(out.data(), crypto_secretbox_NONCEBYTES);
  SUPERAPP_ASSERT(crypto_secretbox_easy(out.data() + crypto_secretbox_NONCEBYTES,
                                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                                        plaintext.size(), out.data(),
                                        reinterpret_cast<const unsigned char*>(storage_key.data())) == 0);
  return std::string{sealed_prefix} + tokens::base64url_encode(out);
}

std::optional<std::string> open_stored(std::string_view storage_key, std::string_view sealed) {
  ensure_sodium();
  if (storage_key.size() != storage_key_bytes || !is_sealed(sealed)) return std::nullopt;
  auto bytes = tokens::base64url_decode(sealed.substr(sealed_prefix.size()));
  if (!bytes || bytes->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return std::nullopt;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes->data());
  std::string out(bytes->size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(out.data()),
                                 in + crypto_secretbox_NONCEBYTES,
                                 bytes->size() - crypto_secretbox_NONCEBYTES, in,
                                 reinterpret_cast<const unsigned char*>(storage_key.data())) != 0)
    return std::nullopt;
  return out;
}

bool is_sealed(std::string_view stored) { return stored.substr(0, sealed_prefix.size()) == sealed_prefix; }

std::optional<std::string> storage_key_from_hex(std::string_view text, std::string& error) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  std::string key(storage_key_bytes, '\0');
  std::size_t written = 0;
  if (text.size() != storage_key_bytes * 2 ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), text.data(),
                     text.size(), nullptr, &written, nullptr) != 0 ||
      written != storage_key_bytes) {
    error = "expected 64 hex digits";
    return std::nullopt;
  }
  return key;
}

std::string new_storage_key_hex() {
  ensure_sodium();
  std::array<unsigned char, storage_key_bytes> key{};
  randombytes_buf(key.data(), key.size());
  auto out = hex(key.data(), key.size());
  sodium_memzero(key.data(), key.size());
  return out;
}

void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  SUPERAPP_ASSERT(ready);
}

std::string random_digits(int digits) {
  ensure_sodium();
  SUPERAPP_ASSERT(digits > 0 && digits <= 9);
  std::string out;
  for (int i = 0; i < digits; ++i) out += static_cast<char>('0' + randombytes_uniform(10));
  return out;
}

std::string random_token(std::size_t bytes) {
  ensure_sodium();
  SUPERAPP_ASSERT(bytes > 0 && bytes <= 64);
  std::array<unsigned char, 64> buf{};
  randombytes_buf(buf.data(), bytes);
  auto out = tokens::base64url_encode(std::span<const unsigned char>{buf.data(), bytes});
  sodium_memzero(buf.data(), buf.size());
  return out;
}

std::string token_digest(std::string_view token) {
  ensure_sodium();
  std::array<unsigned char, crypto_generichash_BYTES> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return hex(out.data(), out.size());
}

std::string keyed_digest(std::string_view salt, std::string_view secret) {
  ensure_sodium();
  SUPERAPP_ASSERT(salt.size() >= crypto_generichash_KEYBYTES_MIN &&
                  salt.size() <= crypto_generichash_KEYBYTES_MAX);
  std::array<unsigned char, crypto_generichash_BYTES> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), reinterpret_cast<const unsigned char*>(salt.data()),
                     salt.size());
  return hex(out.data(), out.size());
}

bool digests_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> hash_secret(std::string_view secret, const argon2_params& params) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str(out.data(), secret.data(), secret.size(), params.opslimit,
                        params.memlimit_bytes) != 0)
    return std::nullopt;
  return std::string{out.data()};
}

bool verify_secret(std::string_view encoded_hash, std::string_view secret) {
  ensure_sodium();
  if (encoded_hash.empty() || encoded_hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::array<char, crypto_pwhash_STRBYTES> hash{};
  std::copy(encoded_hash.begin(), encoded_hash.end(), hash.begin());
  return crypto_pwhash_str_verify(hash.data(), secret.data(), secret.size()) == 0;
}

}  // namespace superapp::identity

namespace superapp::identity {
void sodium_wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}
}  // namespace superapp::identity
