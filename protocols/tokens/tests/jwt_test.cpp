// ES256 access-token verification: what is accepted, every way a token is refused, key rotation.
#include "protocols/tokens/jwt.hpp"

#include <doctest/doctest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

using namespace superapp;
using namespace superapp::tokens;
using namespace std::chrono_literals;

namespace {

const std::string issuer = "https://identity.superapp.test";
const std::string audience = "superapp-gateway";

struct jwt_fixture {
  manual_clock clock;
  signing_key k1 = signing_key::generate("k1");
  jwt_key_store store;
  jwt_verifier verifier{jwt_policy{issuer, audience}, store, clock};

  jwt_fixture() {
    jwk_set keys;
    std::string error;
    REQUIRE(keys.add_pem("k1", k1.public_pem(), error));
    store.replace(std::move(keys));
  }

  claims user_claims(std::chrono::seconds lifetime = 300s) const {
    claims c;
    c.subject = "user-42";
    c.device_id = "device-7";
    c.scopes = {"banking:read", "banking:transfer"};
    c.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(clock.now()) + lifetime;
    c.token_id = "jti-1";
    return c;
  }

  std::string token(const signing_key& key, std::chrono::seconds lifetime = 300s) const {
    return sign_es256(user_claims(lifetime), token_issue{issuer, audience, clock.now()}, key);
  }

  std::string token_with_payload(std::string_view payload, const signing_key& key) const {
    return sign_es256_raw(R"({"alg":"ES256","typ":"JWT","kid":")" + key.kid + "\"}", payload, key);
  }

  std::string payload_with(std::string_view extra_fields) const {
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
    std::string p = R"({"iss":")" + issuer + R"(","aud":")" + audience +
                    R"(","sub":"user-42","jti":"j","iat":)" + std::to_string(now) + R"(,"exp":)" +
                    std::to_string(now + 300);
    if (!extra_fields.empty()) p += "," + std::string{extra_fields};
    return p + "}";
  }
};

std::string b64(std::string_view s) {
  return base64url_encode(
      std::span<const unsigned char>{reinterpret_cast<const unsigned char*>(s.data()), s.size()});
}

std::string replace_part(const std::string& token, int part, const std::string& replacement) {
  auto d1 = token.find('.');
  auto d2 = token.find('.', d1 + 1);
  std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                          token.substr(d2 + 1)};
  parts[part] = replacement;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string part(const std::string& token, int index) {
  auto d1 = token.find('.');
  auto d2 = token.find('.', d1 + 1);
  if (index == 0) return token.substr(0, d1);
  if (index == 1) return token.substr(d1 + 1, d2 - d1 - 1);
  return token.substr(d2 + 1);
}

}  // namespace

TEST_CASE_FIXTURE(jwt_fixture, "a valid ES256 token is accepted with its typed claims") {
  auto outcome = verifier.verify(token(k1));
  REQUIRE(outcome);
  CHECK(outcome.accepted->subject == "user-42");
  CHECK(outcome.accepted->device_id == "device-7");
  CHECK(outcome.accepted->scopes == std::vector<std::string>{"banking:read", "banking:transfer"});
  CHECK(outcome.accepted->has_scope("banking:transfer"));
  CHECK_FALSE(outcome.accepted->has_scope("admin"));
  CHECK(outcome.accepted->token_id == "jti-1");
  CHECK(outcome.accepted->expires_at ==
        std::chrono::time_point_cast<std::chrono::seconds>(clock.now()) + 300s);
}

TEST_CASE_FIXTURE(jwt_fixture,
                  "an expired token is refused once the clock skew allowance is over") {
  auto t = token(k1, 60s);
  clock.advance(60s + jwt_clock_skew_allowance - 1s);
  CHECK(verifier.verify(t));
  clock.advance(1s);
  auto outcome = verifier.verify(t);
  CHECK_FALSE(outcome);
  CHECK(outcome.failure == "expired");
}

TEST_CASE_FIXTURE(jwt_fixture, "a partner token carries its daily quota; a user token has none") {
  CHECK_FALSE(verifier.verify(token(k1)).accepted->quota_per_day);
  auto c = user_claims();
  c.device_id.reset();
  c.quota_per_day = 10'000;
  auto partner = verifier.verify(sign_es256(c, token_issue{issuer, audience, clock.now()}, k1));
  REQUIRE(partner);
  CHECK(partner.accepted->quota_per_day == std::optional<std::int64_t>{10'000});
  CHECK(verifier.verify(token_with_payload(payload_with(R"("quota_per_day":"lots")"), k1)).failure ==
        "quota_per_day is not a count");
  CHECK(verifier.verify(token_with_payload(payload_with(R"("quota_per_day":-1)"), k1)).failure ==
        "quota_per_day is not a count");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token without exp is refused") {
  auto t = sign_es256_raw(
      R"({"alg":"ES256","kid":"k1"})",
      R"({"iss":")" + issuer + R"(","aud":")" + audience + R"(","sub":"u","jti":"j"})", k1);
  CHECK(verifier.verify(t).failure == "no exp");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token that is not yet valid is refused beyond the skew") {
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  auto within = token_with_payload(payload_with(R"("nbf":)" + std::to_string(now + 20)), k1);
  CHECK(verifier.verify(within));
  auto beyond = token_with_payload(payload_with(R"("nbf":)" + std::to_string(now + 120)), k1);
  CHECK(verifier.verify(beyond).failure == "not yet valid");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token issued in the future is refused") {
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  auto t = sign_es256_raw(R"({"alg":"ES256","kid":"k1"})",
                          R"({"iss":")" + issuer + R"(","aud":")" + audience +
                              R"(","sub":"u","jti":"j","iat":)" + std::to_string(now + 3600) +
                              R"(,"exp":)" + std::to_string(now + 7200) + "}",
                          k1);
  CHECK(verifier.verify(t).failure == "issued in the future");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token from another issuer is refused") {
  auto t = sign_es256(user_claims(), token_issue{"https://evil.test", audience, clock.now()}, k1);
  CHECK(verifier.verify(t).failure == "wrong issuer");
}

TEST_CASE_FIXTURE(jwt_fixture,
                  "a token for another audience is refused, a list naming ours is not") {
  auto t = sign_es256(user_claims(), token_issue{issuer, "partner-api", clock.now()}, k1);
  CHECK(verifier.verify(t).failure == "wrong audience");
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  auto listed =
      sign_es256_raw(R"({"alg":"ES256","kid":"k1"})",
                     R"({"iss":")" + issuer + R"(","aud":["other",")" + audience +
                         R"("],"sub":"u","jti":"j","exp":)" + std::to_string(now + 60) + "}",
                     k1);
  CHECK(verifier.verify(listed));
}

TEST_CASE_FIXTURE(jwt_fixture, "a token without sub or jti is refused") {
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  auto base =
      R"({"iss":")" + issuer + R"(","aud":")" + audience + R"(","exp":)" + std::to_string(now + 60);
  CHECK(verifier.verify(token_with_payload(base + R"(,"jti":"j"})", k1)).failure == "no sub");
  CHECK(verifier.verify(token_with_payload(base + R"(,"sub":"u"})", k1)).failure == "no jti");
}

TEST_CASE_FIXTURE(jwt_fixture, "a tampered payload is refused") {
  auto t = token(k1);
  auto payload = *base64url_decode(part(t, 1));
  auto at = payload.find("user-42");
  REQUIRE(at != std::string::npos);
  payload.replace(at, 7, "user-43");
  auto outcome = verifier.verify(replace_part(t, 1, b64(payload)));
  CHECK(outcome.failure == "bad signature");
}

TEST_CASE_FIXTURE(jwt_fixture, "a tampered signature is refused") {
  auto t = token(k1);
  auto sig = *base64url_decode(part(t, 2));
  sig[10] = static_cast<char>(sig[10] ^ 0x01);
  CHECK(verifier.verify(replace_part(t, 2, b64(sig))).failure == "bad signature");
  // r or s of zero, or all ones, must be refused by the verifier, not crash the converter.
  CHECK_FALSE(verifier.verify(replace_part(t, 2, b64(std::string(64, '\0')))));
  CHECK_FALSE(verifier.verify(replace_part(t, 2, b64(std::string(64, '\xff')))));
}

TEST_CASE_FIXTURE(jwt_fixture, "a token with alg none is refused") {
  auto header = b64(R"({"alg":"none","kid":"k1"})");
  auto payload = b64(payload_with(""));
  CHECK(verifier.verify(header + "." + payload + ".").failure == "alg none refused");
  auto signed_t = token(k1);
  CHECK(verifier.verify(replace_part(signed_t, 0, header)).failure == "alg none refused");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token with HS256 keyed by our public key is refused") {
  // The classic confusion: a verifier that trusts `alg` would HMAC with the public key bytes.
  auto pem = k1.public_pem();
  auto input = b64(R"({"alg":"HS256","typ":"JWT","kid":"k1"})") + "." + b64(payload_with(""));
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_size = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, pem.data(), pem.size(),
                    reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                    sizeof mac, &mac_size) != nullptr);
  auto t = input + "." + base64url_encode(std::span<const unsigned char>{mac, mac_size});
  CHECK(verifier.verify(t).failure == "alg is not ES256");
}

TEST_CASE_FIXTURE(jwt_fixture,
                  "a token with another or missing alg, or a crit header, is refused") {
  auto payload = payload_with("");
  CHECK(verifier.verify(sign_es256_raw(R"({"alg":"RS256","kid":"k1"})", payload, k1)).failure ==
        "alg is not ES256");
  CHECK(verifier.verify(sign_es256_raw(R"({"alg":"ES384","kid":"k1"})", payload, k1)).failure ==
        "alg is not ES256");
  CHECK(verifier.verify(sign_es256_raw(R"({"kid":"k1"})", payload, k1)).failure ==
        "header has no alg");
  CHECK(verifier.verify(sign_es256_raw(R"({"alg":["ES256"],"kid":"k1"})", payload, k1)).failure ==
        "header alg is not a string");
  CHECK(verifier.verify(sign_es256_raw(R"({"alg":"ES256","kid":"k1","crit":["exp"]})", payload, k1))
            .failure == "unsupported crit header");
  CHECK(verifier.verify(sign_es256_raw(R"({"alg":"ES256"})", payload, k1)).failure ==
        "header has no kid");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token with an unknown kid is refused") {
  auto stranger = signing_key::generate("k9");
  CHECK(verifier.verify(token(stranger)).failure == "unknown kid");
}

TEST_CASE_FIXTURE(jwt_fixture, "a token signed by another key under our kid is refused") {
  auto impostor = signing_key::generate("k1");
  CHECK(verifier.verify(token(impostor)).failure == "bad signature");
}

TEST_CASE_FIXTURE(jwt_fixture, "malformed base64url is refused") {
  auto t = token(k1);
  CHECK_FALSE(verifier.verify(replace_part(t, 0, part(t, 0) + "=")));
  CHECK_FALSE(verifier.verify(replace_part(t, 1, "*" + part(t, 1))));
  CHECK_FALSE(verifier.verify(replace_part(t, 2, part(t, 2).substr(1))));
  // Non-canonical: the same bytes spelled with non-zero unused bits.
  CHECK_FALSE(base64url_decode("QR").has_value());
  CHECK(base64url_decode("QQ") == std::string{"A"});
  CHECK_FALSE(base64url_decode("Q").has_value());
}

TEST_CASE_FIXTURE(jwt_fixture, "a truncated or oversized token is refused") {
  auto t = token(k1);
  CHECK(verifier.verify(t.substr(0, t.size() - 10)).failure ==
        "signature is not 64 base64url bytes");
  CHECK_FALSE(verifier.verify(t.substr(0, t.rfind('.'))));
  CHECK_FALSE(verifier.verify(t.substr(0, t.find('.'))));
  CHECK_FALSE(verifier.verify(""));
  CHECK_FALSE(verifier.verify(t + ".x"));
  CHECK(verifier.verify(std::string(max_token_bytes + 1, 'a')).failure == "token too long");
}

TEST_CASE_FIXTURE(jwt_fixture,
                  "after a key rotation a new kid verifies and a removed kid does not") {
  auto k2 = signing_key::generate("k2");
  auto old_token = token(k1);
  auto new_token = token(k2);
  CHECK(verifier.verify(old_token));
  CHECK(verifier.verify(new_token).failure == "unknown kid");

  signing_key both[] = {k1, k2};
  std::string error;
  auto overlap = jwk_set::from_jwks_json(jwks_json(both), error);
  REQUIRE_MESSAGE(overlap, error);
  store.replace(std::move(*overlap));
  CHECK(verifier.verify(old_token));
  CHECK(verifier.verify(new_token));

  auto jwks = jwk_set::from_jwks_json(jwks_json(std::span{&k2, 1}), error);
  REQUIRE(jwks);
  store.replace(std::move(*jwks));
  CHECK(verifier.verify(old_token).failure == "unknown kid");
  CHECK(verifier.verify(new_token));
}

TEST_CASE("a JWKS with a point off the curve, or a key of another curve, is refused") {
  std::string error;
  auto k = signing_key::generate("k1");
  auto good = jwk_set::from_jwks_json(jwks_json(std::span{&k, 1}), error);
  REQUIRE(good);
  CHECK(good->size() == 1);
  // x and y of (1, 1): well-formed, 32 bytes each, not on P-256.
  std::string one(31, '\0');
  one += '\x01';
  auto c = base64url_encode(
      std::span<const unsigned char>{reinterpret_cast<const unsigned char*>(one.data()), 32});
  auto off_curve = jwk_set::from_jwks_json(
      R"({"keys":[{"kty":"EC","crv":"P-256","kid":"bad","x":")" + c + R"(","y":")" + c + "\"}]}",
      error);
  CHECK_FALSE(off_curve);
  CHECK_FALSE(jwk_set::from_jwks_json("not json", error));
  CHECK_FALSE(jwk_set::from_jwks_json(R"({"keys":{}})", error));
  // Keys we do not use are skipped, not fatal.
  auto skipped = jwk_set::from_jwks_json(R"({"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]})", error);
  REQUIRE(skipped);
  CHECK(skipped->size() == 0);

  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  REQUIRE(p384 != nullptr);
  jwk_set set;
  CHECK_FALSE(set.add("p384", pkey_ptr{p384, EVP_PKEY_free}, error));
  CHECK_FALSE(
      set.add_pem("junk", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", error));
}

TEST_CASE("a signing key survives a PEM round trip and its tokens verify") {
  manual_clock clock;
  auto original = signing_key::generate("k1");
  std::string error;
  auto loaded = signing_key::from_pem("k1", original.private_pem(), error);
  REQUIRE_MESSAGE(loaded, error);
  jwk_set keys;
  REQUIRE(keys.add_pem("k1", original.private_pem(), error));  // public half of a private PEM
  jwt_key_store store{std::move(keys)};
  jwt_verifier verifier{jwt_policy{issuer, audience}, store, clock};
  claims c;
  c.subject = "s";
  c.token_id = "t";
  c.expires_at = clock.now() + 60s;
  auto outcome =
      verifier.verify(sign_es256(c, token_issue{issuer, audience, clock.now()}, *loaded));
  REQUIRE(outcome);
  CHECK_FALSE(outcome.accepted->device_id);
  CHECK(outcome.accepted->scopes.empty());
}
