// JWT verification throughput beside raw EVP_DigestVerify on the same key and bytes (the baseline).
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/filters/jwt.hpp"

using namespace superapp;
using namespace superapp::filters;

namespace {

// The DER form of the token's JOSE signature, made once outside the timed loop: the baseline
// measures only what OpenSSL must do for one verification.
std::string der_signature(const std::string& token) {
  auto jose = *base64url_decode(token.substr(token.rfind('.') + 1));
  ECDSA_SIG* sig = ECDSA_SIG_new();
  auto* bytes = reinterpret_cast<const unsigned char*>(jose.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out{reinterpret_cast<char*>(der), static_cast<std::size_t>(len)};
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

template <class Body>
double per_second(int iterations, Body&& body) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) body();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return iterations / took.count();
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 20'000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;

  manual_clock clock;
  auto key = signing_key::generate("k1");
  jwk_set set;
  std::string error;
  if (!set.add_pem("k1", key.public_pem(), error)) return 1;
  jwt_key_store store{std::move(set)};
  jwt_verifier verifier{jwt_policy{"https://identity.superapp", "superapp-gateway"}, store, clock};
  claims c;
  c.subject = "user-42";
  c.device_id = "device-7";
  c.scopes = {"banking:read", "banking:transfer"};
  c.token_id = "0f8a7c1e-3b2d-4c55-9e61-6a0f3d2b9c17";
  c.expires_at = clock.now() + std::chrono::minutes{5};
  auto token =
      sign_es256(c, token_issue{"https://identity.superapp", "superapp-gateway", clock.now()}, key);
  if (!verifier.verify(token)) return 1;

  const auto input = token.substr(0, token.rfind('.'));
  const auto der = der_signature(token);
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_PKEY* pkey = store.current()->find("k1");
  int failures = 0;
  auto raw_verify = [&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (EVP_DigestVerifyInit(ctx, nullptr, sha256, nullptr, pkey) != 1 ||
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      ++failures;
    EVP_MD_CTX_free(ctx);
  };
  auto jwt_verify = [&] {
    if (!verifier.verify(token)) ++failures;
  };

  std::printf("jwt bench: ES256 P-256, token %zu bytes, %d verifications per run, %d rounds\n",
              token.size(), iterations, rounds);
  std::printf("%-32s %14s %12s\n", "run", "verify/s", "us/verify");
  for (int r = 0; r < rounds; ++r) {
    double raw = per_second(iterations, raw_verify);
    double ours = per_second(iterations, jwt_verify);
    std::printf("%-32s %14.0f %12.2f\n", "baseline EVP_DigestVerify", raw, 1e6 / raw);
    std::printf("%-32s %14.0f %12.2f   (%.1f%% of baseline)\n", "jwt_verifier::verify", ours,
                1e6 / ours, 100.0 * ours / raw);
  }
  EVP_MD_free(sha256);
  if (failures != 0) {
    std::printf("FAILED: %d verifications did not pass\n", failures);
    return 1;
  }
  return 0;
}
