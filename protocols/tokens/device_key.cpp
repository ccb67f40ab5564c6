// Device keys and ES256 signatures over arbitrary bytes, on OpenSSL 3 EVP.
#include "protocols/tokens/device_key.hpp"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <memory>

#include "protocols/assert.hpp"

namespace superapp::tokens {
namespace {

constexpr std::size_t coordinate_bytes = 32;
constexpr std::size_t der_signature_max_bytes = 80;

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct pkey_ctx_deleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct ecdsa_sig_deleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

std::span<const unsigned char> bytes_of(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

bool is_p256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_is_a(key, "EC") != 1) return false;
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, "group", group.data(), group.size(), &len) != 1)
    return false;
  std::string_view name{group.data(), len};
  return name == "prime256v1" || name == "P-256";
}

}  // namespace

std::optional<pkey_ptr> parse_device_public_key(std::string_view spki_b64url, std::string& error) {
  if (spki_b64url.empty() || spki_b64url.size() > max_device_key_chars) {
    error = "public key has the wrong length";
    return std::nullopt;
  }
  auto der = base64url_decode(spki_b64url);
  if (!der) {
    error = "public key is not base64url";
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  EVP_PKEY* raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size()));
  if (raw == nullptr || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
    EVP_PKEY_free(raw);
    ERR_clear_error();
    error = "public key is not a DER SubjectPublicKeyInfo";
    return std::nullopt;
  }
  pkey_ptr key{raw, EVP_PKEY_free};
  if (!is_p256(raw)) {
    ERR_clear_error();
    error = "public key is not an EC P-256 key";
    return std::nullopt;
  }
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> check{
      EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr)};
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    error = "public key point is not on P-256";
    return std::nullopt;
  }
  return key;
}

std::string device_public_key_b64url(const signing_key& key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.key.get(), &der);
  SUPERAPP_ASSERT(len > 0 && der != nullptr);
  auto out = base64url_encode(std::span<const unsigned char>{der, static_cast<std::size_t>(len)});
  OPENSSL_free(der);
  return out;
}

std::string sign_message_es256(const signing_key& key, std::string_view message) {
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  SUPERAPP_ASSERT(ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                                            key.key.get()) == 1);
  std::array<unsigned char, der_signature_max_bytes> der{};
  std::size_t der_size = der.size();
  auto msg = bytes_of(message);
  SUPERAPP_ASSERT(EVP_DigestSign(ctx.get(), der.data(), &der_size, msg.data(), msg.size()) == 1);
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig{
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_size))};
  SUPERAPP_ASSERT(sig != nullptr);
  std::array<unsigned char, 2 * coordinate_bytes> jose{};
  SUPERAPP_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), jose.data(), 32) == 32);
  SUPERAPP_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), jose.data() + 32, 32) == 32);
  return base64url_encode(jose);
}

bool verify_message_es256(EVP_PKEY* key, std::string_view message,
                          std::string_view signature_b64url) {
  if (key == nullptr || signature_b64url.size() != es256_signature_chars) return false;
  auto jose = base64url_decode(signature_b64url);
  if (!jose || jose->size() != 2 * coordinate_bytes) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(jose->data());
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig{ECDSA_SIG_new()};
  BIGNUM* r = BN_bin2bn(raw, coordinate_bytes, nullptr);
  BIGNUM* s = BN_bin2bn(raw + coordinate_bytes, coordinate_bytes, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ERR_clear_error();
    return false;
  }
  std::array<unsigned char, der_signature_max_bytes> der{};
  if (i2d_ECDSA_SIG(sig.get(), nullptr) > static_cast<int>(der.size())) return false;
  unsigned char* out = der.data();
  int der_size = i2d_ECDSA_SIG(sig.get(), &out);
  if (der_size <= 0) return false;
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  auto msg = bytes_of(message);
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), der.data(), static_cast<std::size_t>(der_size), msg.data(),
                             msg.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace superapp::tokens
