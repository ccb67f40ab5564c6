// Secrets of the identity domain on libsodium: random codes and tokens, digests, Argon2id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace superapp::identity {

// Calls sodium_init once (thread-safe); asserts it worked.
void ensure_sodium();

// `digits` decimal digits, uniform (randombytes_uniform), leading zeros kept.
std::string random_digits(int digits);
// `bytes` random bytes as base64url (no padding): refresh tokens, nonces, ids.
std::string random_token(std::size_t bytes);

// Digest of a high-entropy secret (refresh and enrolment tokens): BLAKE2b-256, hex. No salt is
// needed when the input carries 256 bits of randomness; it is what the database keeps.
std::string token_digest(std::string_view token);
// Digest of a low-entropy secret keyed by a per-row random salt (OTP codes): BLAKE2b-256 keyed,
// hex. It keeps codes out of the database; a 6-digit code is guessable offline whatever the
// hash, which is why codes are single-use and live 5 minutes.
std::string keyed_digest(std::string_view salt, std::string_view secret);
// Constant-time equality of two digests of equal length (sodium_memcmp); false if lengths differ.
bool digests_equal(std::string_view a, std::string_view b);

// Secrets identity must keep and use again (its ES256 signing keys) are sealed at rest under a
// 32-byte storage key: crypto_secretbox (XSalsa20-Poly1305) with a random nonce, stored as
// "sbx1:" + base64url(nonce || ciphertext). A database copy without the key file gives nothing.
inline constexpr std::size_t storage_key_bytes = 32;
inline constexpr std::string_view sealed_prefix = "sbx1:";
std::string seal_stored(std::string_view storage_key, std::string_view plaintext);
// nullopt: not sealed this way, a wrong key, or altered.
std::optional<std::string> open_stored(std::string_view storage_key, std::string_view sealed);
bool is_sealed(std::string_view stored);
// A storage key from its key file's content (64 hex digits; surrounding whitespace ignored).
std::optional<std::string> storage_key_from_hex(std::string_view hex, std::string& error);
// A fresh storage key as 64 hex digits (for a new key file).
std::string new_storage_key_hex();

// Argon2id parameters. OWASP Password Storage Cheat Sheet (2024): Argon2id with m=19 MiB, t=2,
// p=1 as the minimum; libsodium always uses p=1.
struct argon2_params {
  std::uint64_t opslimit = 2;
  std::size_t memlimit_bytes = 19 * 1024 * 1024;
};

// crypto_pwhash_str: an encoded "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string.
// nullopt only when memory runs out.
std::optional<std::string> hash_secret(std::string_view secret, const argon2_params& params);
// crypto_pwhash_str_verify: constant-time comparison inside libsodium.
bool verify_secret(std::string_view encoded_hash, std::string_view secret);

}  // namespace superapp::identity

namespace superapp::identity {
// Overwrites a string's bytes (sodium_memzero) before it is freed: secrets do not linger.
void sodium_wipe(std::string& s);
}  // namespace superapp::identity
