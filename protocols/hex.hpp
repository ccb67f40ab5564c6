// Bytes as lower-case hex digits (digests, MACs, random ids), and the SHA-256 of a text so.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace superapp {

inline std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return out;
}

// SHA-256 of `text` as 64 hex digits: what idempotency keys remember of a request body.
inline std::string sha256_hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
  return to_hex(md, n);
}

}  // namespace superapp
