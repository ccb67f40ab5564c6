// Device keys: a phone's P-256 public key (SPKI DER, base64url) and ES256 signatures over bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocols/tokens/jwt.hpp"

namespace superapp::tokens {

// Longest accepted encodings: a P-256 SPKI is 91 bytes DER (122 base64url characters); a JOSE
// ES256 signature is 64 bytes (86 characters). Anything longer is refused before decoding.
inline constexpr std::size_t max_device_key_chars = 256;
inline constexpr std::size_t es256_signature_chars = 86;

// Parses a device's public key: base64url (no padding) of a DER SubjectPublicKeyInfo holding an
// EC P-256 point (what Android's PublicKey.getEncoded() and WebCrypto's exportKey("spki") give).
// The point is checked to be on the curve. nullopt with `error` set (safe to log, no key bytes).
std::optional<pkey_ptr> parse_device_public_key(std::string_view spki_b64url, std::string& error);

// This key's public half in the same encoding: what a client sends when it binds a device.
std::string device_public_key_b64url(const signing_key& key);

// ES256 over `message`: SHA-256, ECDSA P-256, signature as JOSE r||s (64 bytes) in base64url.
std::string sign_message_es256(const signing_key& key, std::string_view message);

// True only for a well-formed signature by `key` over exactly `message`.
bool verify_message_es256(EVP_PKEY* key, std::string_view message,
                          std::string_view signature_b64url);

}  // namespace superapp::tokens
