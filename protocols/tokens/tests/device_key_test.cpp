// Device keys: SPKI parsing refuses what is not a P-256 point; signatures bind key and message.
#include "protocols/tokens/device_key.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

using namespace superapp::tokens;

TEST_CASE("a device key round-trips through its SPKI base64url form and verifies its signature") {
  auto device = signing_key::generate("device");
  std::string error;
  auto parsed = parse_device_public_key(device_public_key_b64url(device), error);
  REQUIRE(parsed);
  auto sig = sign_message_es256(device, "superapp-login.v1|c1|n1|d1|100");
  CHECK(sig.size() == es256_signature_chars);
  CHECK(verify_message_es256(parsed->get(), "superapp-login.v1|c1|n1|d1|100", sig));
}

TEST_CASE("a signature over another message or by another key is refused") {
  auto device = signing_key::generate("device");
  auto other = signing_key::generate("other");
  std::string error;
  auto parsed = parse_device_public_key(device_public_key_b64url(device), error);
  REQUIRE(parsed);
  CHECK_FALSE(verify_message_es256(parsed->get(), "message-b", sign_message_es256(device, "message-a")));
  CHECK_FALSE(verify_message_es256(parsed->get(), "message-a", sign_message_es256(other, "message-a")));
  auto sig = sign_message_es256(device, "message-a");
  sig[10] = sig[10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(verify_message_es256(parsed->get(), "message-a", sig));
  CHECK_FALSE(verify_message_es256(parsed->get(), "message-a", ""));
  CHECK_FALSE(verify_message_es256(parsed->get(), "message-a", sig + "AA"));
}

TEST_CASE("public keys that are not base64url SPKI of a P-256 point are refused") {
  std::string error;
  CHECK_FALSE(parse_device_public_key("", error));
  CHECK_FALSE(parse_device_public_key("not base64!", error));
  CHECK_FALSE(parse_device_public_key("AAAA", error));
  CHECK_FALSE(parse_device_public_key(std::string(300, 'A'), error));
  // An Ed25519 SPKI is a valid key of the wrong kind.
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  REQUIRE(ed != nullptr);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(ed, &der);
  REQUIRE(len > 0);
  auto b64 = base64url_encode(std::span<const unsigned char>{der, static_cast<std::size_t>(len)});
  OPENSSL_free(der);
  EVP_PKEY_free(ed);
  CHECK_FALSE(parse_device_public_key(b64, error));
  CHECK(error == "public key is not an EC P-256 key");
  // Trailing bytes after the DER structure are refused.
  auto device = signing_key::generate("device");
  auto good = device_public_key_b64url(device);
  auto bytes = *base64url_decode(good);
  bytes += '\0';
  CHECK_FALSE(parse_device_public_key(
      base64url_encode(std::span<const unsigned char>{
          reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}),
      error));
}
