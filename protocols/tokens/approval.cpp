// Approval tokens: signing for identity, verification for the domains that run the operation.
#include "protocols/tokens/approval.hpp"

#include <boost/json.hpp>

#include "protocols/assert.hpp"

namespace superapp::tokens {

namespace json = boost::json;

namespace {

// Server to server: both ends keep NTP time, so the slack is far below a phone's.
constexpr std::chrono::seconds approval_clock_skew{5};

std::int64_t unix_seconds(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

const json::string* text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v == nullptr ? nullptr : v->if_string();
}

}  // namespace

std::string approval_audience(const operation_binding& op) {
  return "superapp-approval:" + op.domain();
}

std::string sign_approval(const approval& a, clock::time_point issued_at, const signing_key& key) {
  SUPERAPP_ASSERT(!a.approval_id.empty() && !a.user_id.empty() && !a.operation.operation.empty());
  SUPERAPP_ASSERT(a.expires_at > issued_at && a.expires_at - issued_at <= approval_max_lifetime);
  json::object header{{"alg", "ES256"}, {"typ", approval_type}, {"kid", key.kid}};
  json::object payload{{"iss", approval_issuer},
                       {"aud", approval_audience(a.operation)},
                       {"sub", a.user_id},
                       {"device_id", a.device_id},
                       {"jti", a.approval_id},
                       {"iat", unix_seconds(issued_at)},
                       {"nbf", unix_seconds(issued_at)},
                       {"exp", unix_seconds(a.expires_at)},
                       {"op", a.operation.operation},
                       {"amount_minor", a.operation.amount_minor},
                       {"currency", a.operation.currency},
                       {"payee", a.operation.payee},
                       {"tier", a.tier}};
  return sign_es256_raw(json::serialize(header), json::serialize(payload), key);
}

approval_outcome verify_approval(std::string_view token, const jwt_key_store& keys,
                                 const superapp::clock& clock, std::string_view user_id,
                                 const operation_binding& expected) {
  jwt_policy policy;
  policy.issuer = std::string{approval_issuer};
  policy.audience = approval_audience(expected);
  policy.clock_skew = approval_clock_skew;
  policy.type = std::string{approval_type};
  policy.keep_payload = true;
  auto verified = jwt_verifier{policy, keys, clock}.verify(token);
  if (!verified) return {std::nullopt, verified.failure};
  const auto& c = *verified.accepted;
  if (c.subject != user_id) return {std::nullopt, "approval is for another user"};
  boost::system::error_code ec;
  auto doc = json::parse(c.payload_json, ec);
  SUPERAPP_ASSERT(!ec && doc.is_object());  // the verifier parsed it a moment ago
  const auto& p = doc.get_object();
  auto* op = text(p, "op");
  auto* currency = text(p, "currency");
  auto* payee = text(p, "payee");
  auto* tier = text(p, "tier");
  auto* amount = p.if_contains("amount_minor");
  if (op == nullptr || currency == nullptr || payee == nullptr || tier == nullptr ||
      amount == nullptr || !amount->is_int64())
    return {std::nullopt, "approval lacks a bound field"};
  operation_binding bound{std::string{*op}, amount->as_int64(), std::string{*currency},
                          std::string{*payee}};
  if (!(bound == expected)) return {std::nullopt, "approval is for another operation"};
  approval out;
  out.approval_id = c.token_id;
  out.user_id = c.subject;
  out.device_id = c.device_id.value_or("");
  out.operation = std::move(bound);
  out.tier = std::string{*tier};
  out.expires_at = c.expires_at;
  return {std::move(out), {}};
}

}  // namespace superapp::tokens
