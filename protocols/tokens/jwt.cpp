// ES256 JWT verification and signing on OpenSSL 3 EVP; JSON by Boost.JSON on stack arenas.
#include "protocols/tokens/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <utility>

#include "protocols/assert.hpp"

namespace json = boost::json;

namespace superapp::tokens {
namespace {

constexpr std::size_t p256_coordinate_bytes = 32;
constexpr std::size_t jose_signature_bytes = 2 * p256_coordinate_bytes;
// A DER ECDSA-Sig-Value for P-256 is at most 72 bytes.
constexpr std::size_t der_signature_max_bytes = 80;
// Decoded header or payload never exceeds 3/4 of the token.
constexpr std::size_t decoded_max_bytes = max_token_bytes * 3 / 4 + 3;
// Parsed JSON of a normal token fits here; larger ones spill to the heap, which is fine.
constexpr std::size_t json_arena_bytes = 16 * 1024;

constexpr char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// -1 for bytes outside the base64url alphabet.
constexpr std::array<std::int8_t, 256> base64url_table = [] {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(base64url_alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}();

// Strict: no padding, and the unused low bits of the last character must be zero so one token
// has exactly one spelling. Returns the decoded size or nullopt.
std::optional<std::size_t> decode_into(std::string_view in, unsigned char* out,
                                       std::size_t out_capacity) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::size_t needed = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
  if (needed > out_capacity) return std::nullopt;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : in) {
    auto v = base64url_table[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<unsigned char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return n;
}

void free_pkey(EVP_PKEY* key) { EVP_PKEY_free(key); }

pkey_ptr adopt(EVP_PKEY* key) { return pkey_ptr{key, free_pkey}; }

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct pkey_ctx_deleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct bio_deleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct ecdsa_sig_deleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
struct bn_deleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};

// Fetched once: an implicit fetch by name on every EVP_DigestVerifyInit is measurable.
const EVP_MD* sha256() {
  static EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    SUPERAPP_ASSERT(fetched != nullptr);
    return fetched;
  }();
  return md;
}

// OpenSSL's reason for the operator's log (key loading only; never on the request path).
std::string openssl_reason(std::string_view what) {
  std::string out{what};
  unsigned long code = ERR_get_error();
  if (code != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    out += ": ";
    out += text.data();
  }
  ERR_clear_error();
  return out;
}

bool is_p256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_is_a(key, "EC") != 1) return false;
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &len) != 1)
    return false;
  std::string_view name{group.data(), len};
  return name == "prime256v1" || name == "P-256";
}

int no_passphrase(char*, int, int, void*) { return 0; }

std::optional<std::int64_t> numeric_date(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double d = v.get_double();
    // RFC 7519 allows fractional seconds; anything beyond year ~2^40 is nonsense anyway.
    if (!std::isfinite(d) || std::fabs(d) > 1e12) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

const json::string* string_member(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

bool audience_matches(const json::value& aud, std::string_view expected) {
  if (auto* s = aud.if_string()) return *s == expected;
  if (auto* a = aud.if_array()) {
    for (const auto& item : *a)
      if (auto* s = item.if_string(); s && *s == expected) return true;
  }
  return false;
}

// JOSE carries r||s as two 32-byte big-endian integers; EVP wants a DER ECDSA-Sig-Value.
std::optional<std::size_t> jose_to_der(const unsigned char* jose, unsigned char* der) {
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig{ECDSA_SIG_new()};
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(jose, p256_coordinate_bytes, nullptr);
  BIGNUM* s = BN_bin2bn(jose + p256_coordinate_bytes, p256_coordinate_bytes, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  if (i2d_ECDSA_SIG(sig.get(), nullptr) > static_cast<int>(der_signature_max_bytes))
    return std::nullopt;
  unsigned char* p = der;
  int len = i2d_ECDSA_SIG(sig.get(), &p);
  if (len <= 0) return std::nullopt;
  return static_cast<std::size_t>(len);
}

jwt_outcome refuse(std::string_view reason) {
  // Failed OpenSSL calls leave entries on this thread's error queue; drop them so it never grows.
  ERR_clear_error();
  return jwt_outcome{std::nullopt, reason};
}

}  // namespace

bool claims::has_scope(std::string_view scope) const {
  for (const auto& s : scopes)
    if (s == scope) return true;
  return false;
}

// ---- jwk_set ----

bool jwk_set::add(std::string_view kid, pkey_ptr key, std::string& error) {
  if (kid.empty()) {
    error = "a key needs a non-empty kid";
    return false;
  }
  if (!is_p256(key.get())) {
    error = "key '" + std::string{kid} + "' is not an EC P-256 key";
    return false;
  }
  keys_.insert_or_assign(std::string{kid}, std::move(key));
  return true;
}

bool jwk_set::add_pem(std::string_view kid, std::string_view pem, std::string& error) {
  std::unique_ptr<BIO, bio_deleter> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) {
    error = openssl_reason("cannot read PEM");
    return false;
  }
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    BIO_reset(bio.get());
    key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  }
  if (key == nullptr) {
    error = openssl_reason("key '" + std::string{kid} + "': not a PEM public or private key");
    return false;
  }
  return add(kid, adopt(key), error);
}

bool jwk_set::add_jwk(std::string_view kid, std::string_view x_b64url, std::string_view y_b64url,
                      std::string& error) {
  // Uncompressed SEC1 point: 0x04 || x || y.
  std::array<unsigned char, 1 + 2 * p256_coordinate_bytes> point{};
  point[0] = 0x04;
  auto x = decode_into(x_b64url, point.data() + 1, p256_coordinate_bytes);
  auto y = decode_into(y_b64url, point.data() + 1 + p256_coordinate_bytes, p256_coordinate_bytes);
  if (x != p256_coordinate_bytes || y != p256_coordinate_bytes) {
    error = "key '" + std::string{kid} + "': x and y must be 32-byte base64url values";
    return false;
  }
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> ctx{
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1 || key == nullptr) {
    error = openssl_reason("key '" + std::string{kid} + "': not a P-256 public key");
    return false;
  }
  auto owned = adopt(key);
  // A point off the curve must never reach a verification (invalid-curve attacks).
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> check{
      EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr)};
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    error = openssl_reason("key '" + std::string{kid} + "': point is not on P-256");
    return false;
  }
  return add(kid, std::move(owned), error);
}

void jwk_set::remove(std::string_view kid) {
  if (auto it = keys_.find(kid); it != keys_.end()) keys_.erase(it);
}

EVP_PKEY* jwk_set::find(std::string_view kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : it->second.get();
}

std::optional<jwk_set> jwk_set::from_jwks_json(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec) {
    error = "JWKS is not JSON: " + ec.message();
    return std::nullopt;
  }
  auto* keys = doc.is_object() ? doc.get_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    error = "JWKS has no \"keys\" array";
    return std::nullopt;
  }
  jwk_set out;
  for (const auto& entry : keys->get_array()) {
    if (!entry.is_object()) {
      error = "JWKS entry is not an object";
      return std::nullopt;
    }
    const auto& o = entry.get_object();
    auto* kty = string_member(o, "kty");
    auto* crv = string_member(o, "crv");
    auto* use = string_member(o, "use");
    auto* alg = string_member(o, "alg");
    // Other key types may share the document (encryption keys, RSA for other audiences).
    if (!kty || *kty != "EC" || !crv || *crv != "P-256") continue;
    if ((use && *use != "sig") || (alg && *alg != "ES256")) continue;
    auto* kid = string_member(o, "kid");
    auto* x = string_member(o, "x");
    auto* y = string_member(o, "y");
    if (!kid || !x || !y) {
      error = "JWKS P-256 entry lacks kid, x or y";
      return std::nullopt;
    }
    if (!out.add_jwk(*kid, *x, *y, error)) return std::nullopt;
  }
  return out;
}

// ---- jwt_key_store ----

jwt_key_store::jwt_key_store(jwk_set initial)
    : keys_(std::make_shared<const jwk_set>(std::move(initial))) {}

void jwt_key_store::replace(jwk_set next) {
  keys_.store(std::make_shared<const jwk_set>(std::move(next)), std::memory_order_release);
}

std::shared_ptr<const jwk_set> jwt_key_store::current() const {
  return keys_.load(std::memory_order_acquire);
}

// ---- jwt_verifier ----

jwt_verifier::jwt_verifier(jwt_policy policy, const jwt_key_store& keys,
                           const superapp::clock& clock)
    : policy_(std::move(policy)), keys_(keys), clock_(clock) {
  SUPERAPP_ASSERT(!policy_.issuer.empty());
  SUPERAPP_ASSERT(!policy_.audience.empty());
  SUPERAPP_ASSERT(policy_.clock_skew.count() >= 0);
  (void)sha256();
}

jwt_outcome jwt_verifier::verify(std::string_view token) const {
  if (token.empty()) return refuse("empty token");
  if (token.size() > max_token_bytes) return refuse("token too long");
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse("not a compact JWS (needs three parts)");
  auto header_b64 = token.substr(0, dot1);
  auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto signature_b64 = token.substr(dot2 + 1);
  auto signing_input = token.substr(0, dot2);

  std::array<unsigned char, decoded_max_bytes> decoded;
  std::array<unsigned char, json_arena_bytes> arena;
  json::monotonic_resource json_memory{arena.data(), arena.size()};
  json::storage_ptr storage{&json_memory};

  auto parse_part = [&](std::string_view b64, json::value& out) -> bool {
    auto n = decode_into(b64, decoded.data(), decoded.size());
    if (!n) return false;
    boost::system::error_code ec;
    out = json::parse(std::string_view{reinterpret_cast<const char*>(decoded.data()), *n}, ec,
                      storage);
    return !ec && out.is_object();
  };

  // Header: the algorithm is pinned before any key is touched (alg confusion, alg none).
  json::value header;
  if (!parse_part(header_b64, header)) return refuse("header is not base64url JSON object");
  const auto& h = header.get_object();
  auto* alg_value = h.if_contains("alg");
  if (alg_value == nullptr) return refuse("header has no alg");
  auto* alg = alg_value->if_string();
  if (alg == nullptr) return refuse("header alg is not a string");
  if (*alg == "none") return refuse("alg none refused");
  if (*alg != "ES256") return refuse("alg is not ES256");
  // We understand no JWS extensions, so a critical one must make us refuse (RFC 7515 §4.1.11).
  if (h.contains("crit")) return refuse("unsupported crit header");
  if (!policy_.type.empty()) {
    auto* typ = string_member(h, "typ");
    if (typ == nullptr || *typ != policy_.type) return refuse("wrong token type");
  }
  auto* kid = string_member(h, "kid");
  if (kid == nullptr) return refuse("header has no kid");

  auto keys = keys_.current();
  EVP_PKEY* key = keys->find(*kid);
  if (key == nullptr) return refuse(unknown_kid_failure);

  std::array<unsigned char, jose_signature_bytes> jose{};
  if (decode_into(signature_b64, jose.data(), jose.size()) != jose_signature_bytes)
    return refuse("signature is not 64 base64url bytes");
  std::array<unsigned char, der_signature_max_bytes> der{};
  auto der_size = jose_to_der(jose.data(), der.data());
  if (!der_size) return refuse("signature cannot be encoded");
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, sha256(), nullptr, key) != 1)
    return refuse("verifier could not start");
  if (EVP_DigestVerify(ctx.get(), der.data(), *der_size,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1)
    return refuse("bad signature");

  // Payload only after the signature holds: unauthenticated claims are never interpreted.
  json::value payload;
  if (!parse_part(payload_b64, payload)) return refuse("payload is not base64url JSON object");
  const auto& p = payload.get_object();
  const auto now = clock_.now();
  const auto skew = policy_.clock_skew;

  auto* exp_value = p.if_contains("exp");
  if (exp_value == nullptr) return refuse("no exp");
  auto exp = numeric_date(*exp_value);
  if (!exp) return refuse("exp is not a NumericDate");
  const clock::time_point expires_at{std::chrono::seconds{*exp}};
  if (now >= expires_at + skew) return refuse("expired");
  if (auto* nbf_value = p.if_contains("nbf")) {
    auto nbf = numeric_date(*nbf_value);
    if (!nbf) return refuse("nbf is not a NumericDate");
    if (now + skew < clock::time_point{std::chrono::seconds{*nbf}}) return refuse("not yet valid");
  }
  if (auto* iat_value = p.if_contains("iat")) {
    auto iat = numeric_date(*iat_value);
    if (!iat) return refuse("iat is not a NumericDate");
    if (clock::time_point{std::chrono::seconds{*iat}} > now + skew)
      return refuse("issued in the future");
  }
  auto* iss = string_member(p, "iss");
  if (iss == nullptr || *iss != policy_.issuer) return refuse("wrong issuer");
  auto* aud = p.if_contains("aud");
  if (aud == nullptr || !audience_matches(*aud, policy_.audience)) return refuse("wrong audience");
  auto* sub = string_member(p, "sub");
  if (sub == nullptr || sub->empty()) return refuse("no sub");
  auto* jti = string_member(p, "jti");
  if (jti == nullptr || jti->empty()) return refuse("no jti");

  claims out;
  out.subject.assign(sub->data(), sub->size());
  out.token_id.assign(jti->data(), jti->size());
  out.expires_at = expires_at;
  if (auto* device = p.if_contains("device_id")) {
    auto* s = device->if_string();
    if (s == nullptr) return refuse("device_id is not a string");
    out.device_id.emplace(s->data(), s->size());
  }
  if (auto* scope_value = p.if_contains("scope")) {
    auto* s = scope_value->if_string();
    if (s == nullptr) return refuse("scope is not a string");
    std::string_view rest{s->data(), s->size()};
    while (!rest.empty()) {
      auto space = rest.find(' ');
      auto item = rest.substr(0, space);
      if (!item.empty()) out.scopes.emplace_back(item);
      if (space == std::string_view::npos) break;
      rest.remove_prefix(space + 1);
    }
  }
  if (auto* quota = p.if_contains("quota_per_day")) {
    if (!quota->is_int64() || quota->as_int64() < 0) return refuse("quota_per_day is not a count");
    out.quota_per_day = quota->as_int64();
  }
  if (policy_.keep_payload) out.payload_json = json::serialize(p);
  return jwt_outcome{std::move(out), {}};
}

// ---- signing ----

signing_key signing_key::generate(std::string kid) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  SUPERAPP_ASSERT(key != nullptr);
  return signing_key{std::move(kid), adopt(key)};
}

std::optional<signing_key> signing_key::from_pem(std::string kid, std::string_view private_pem,
                                                 std::string& error) {
  std::unique_ptr<BIO, bio_deleter> bio{
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size()))};
  EVP_PKEY* key =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (key == nullptr) {
    error = openssl_reason("signing key '" + kid + "': not a PEM private key");
    return std::nullopt;
  }
  auto owned = adopt(key);
  if (!is_p256(key)) {
    error = "signing key '" + kid + "' is not an EC P-256 key";
    return std::nullopt;
  }
  return signing_key{std::move(kid), std::move(owned)};
}

namespace {

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string{data, static_cast<std::size_t>(len)};
}

std::string coordinate_b64(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  SUPERAPP_ASSERT(EVP_PKEY_get_bn_param(key, param, &raw) == 1);
  std::unique_ptr<BIGNUM, bn_deleter> bn{raw};
  std::array<unsigned char, p256_coordinate_bytes> bytes{};
  SUPERAPP_ASSERT(BN_bn2binpad(bn.get(), bytes.data(), bytes.size()) ==
                  static_cast<int>(bytes.size()));
  return base64url_encode(bytes);
}

}  // namespace

std::string signing_key::public_pem() const {
  std::unique_ptr<BIO, bio_deleter> bio{BIO_new(BIO_s_mem())};
  SUPERAPP_ASSERT(bio && PEM_write_bio_PUBKEY(bio.get(), key.get()) == 1);
  return bio_text(bio.get());
}

std::string signing_key::private_pem() const {
  std::unique_ptr<BIO, bio_deleter> bio{BIO_new(BIO_s_mem())};
  SUPERAPP_ASSERT(bio && PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                                                  nullptr, nullptr) == 1);
  return bio_text(bio.get());
}

std::string signing_key::public_jwk_json() const {
  json::object o;
  o["kty"] = "EC";
  o["crv"] = "P-256";
  o["kid"] = kid;
  o["use"] = "sig";
  o["alg"] = "ES256";
  o["x"] = coordinate_b64(key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  o["y"] = coordinate_b64(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  return json::serialize(o);
}

std::string jwks_json(std::span<const signing_key> keys) {
  json::array entries;
  for (const auto& k : keys) entries.push_back(json::parse(k.public_jwk_json()));
  json::object doc;
  doc["keys"] = std::move(entries);
  return json::serialize(doc);
}

std::string sign_es256_raw(std::string_view header_json, std::string_view payload_json,
                           const signing_key& key) {
  auto as_bytes = [](std::string_view s) {
    return std::span<const unsigned char>{reinterpret_cast<const unsigned char*>(s.data()),
                                          s.size()};
  };
  std::string token = base64url_encode(as_bytes(header_json));
  token += '.';
  token += base64url_encode(as_bytes(payload_json));

  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  SUPERAPP_ASSERT(ctx &&
                  EVP_DigestSignInit(ctx.get(), nullptr, sha256(), nullptr, key.key.get()) == 1);
  std::array<unsigned char, der_signature_max_bytes> der{};
  std::size_t der_size = der.size();
  SUPERAPP_ASSERT(EVP_DigestSign(ctx.get(), der.data(), &der_size,
                                 reinterpret_cast<const unsigned char*>(token.data()),
                                 token.size()) == 1);
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig{
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_size))};
  SUPERAPP_ASSERT(sig != nullptr);
  std::array<unsigned char, jose_signature_bytes> jose{};
  SUPERAPP_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), jose.data(), 32) == 32);
  SUPERAPP_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), jose.data() + 32, 32) == 32);
  token += '.';
  token += base64url_encode(jose);
  return token;
}

std::string sign_es256(const claims& c, const token_issue& issue, const signing_key& key) {
  SUPERAPP_ASSERT(!c.subject.empty() && !c.token_id.empty());
  json::object header;
  header["alg"] = "ES256";
  header["typ"] = "JWT";
  header["kid"] = key.kid;
  auto seconds = [](clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  json::object payload;
  payload["iss"] = issue.issuer;
  payload["aud"] = issue.audience;
  payload["sub"] = c.subject;
  payload["iat"] = seconds(issue.issued_at);
  payload["nbf"] = seconds(issue.issued_at);
  payload["exp"] = seconds(c.expires_at);
  payload["jti"] = c.token_id;
  if (c.device_id) payload["device_id"] = *c.device_id;
  if (c.quota_per_day) payload["quota_per_day"] = *c.quota_per_day;
  if (!c.scopes.empty()) {
    std::string scope;
    for (const auto& s : c.scopes) {
      SUPERAPP_ASSERT(!s.empty() && s.find(' ') == std::string::npos);
      if (!scope.empty()) scope += ' ';
      scope += s;
    }
    payload["scope"] = scope;
  }
  return sign_es256_raw(json::serialize(header), json::serialize(payload), key);
}

std::string base64url_encode(std::span<const unsigned char> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += base64url_alphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += base64url_alphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  auto n = decode_into(text, reinterpret_cast<unsigned char*>(out.data()), out.size());
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace superapp::tokens
