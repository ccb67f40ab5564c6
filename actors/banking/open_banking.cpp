// The Open Banking connector's HTTP calls and the parsing of the bank's answers.
#include "actors/banking/open_banking.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "protocols/http/http_client.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::banking {
namespace {

namespace json = boost::json;
using headers = std::vector<std::pair<std::string, std::string>>;

struct call_result {
  bank_outcome outcome = bank_outcome::unavailable;
  bool sent = false;
  json::object body;
};

// One exchange's outcome: 2xx with a JSON object taken, 4xx refused, anything else unavailable.
// `sent` is false only when the request certainly never left (no connection was made).
call_result classify(const http::outcome& r, std::string_view what) {
  call_result out;
  if (!r) {
    out.sent = r.failure != "connect failed" && r.failure != "resolve failed";
    log::warn("banking: the bank did not answer", {{"call", what}, {"reason", r.failure}});
    return out;
  }
  out.sent = true;
  const int status = r.reply->status;
  if (status / 100 == 4) {
    log::info("banking: the bank refused", {{"call", what}, {"status", static_cast<std::int64_t>(status)}});
    out.outcome = bank_outcome::refused;
    return out;
  }
  if (status / 100 != 2) {
    log::warn("banking: the bank failed", {{"call", what}, {"status", static_cast<std::int64_t>(status)}});
    return out;
  }
  if (status == 204) {
    out.outcome = bank_outcome::taken;
    return out;
  }
  boost::system::error_code ec;
  auto doc = json::parse(r.reply->body, ec);
  if (ec || !doc.is_object()) {
    log::warn("banking: the bank's answer is not JSON", {{"call", what}});
    return out;
  }
  out.outcome = bank_outcome::taken;
  out.body = std::move(doc.as_object());
  return out;
}

std::string text(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string{v->as_string()} : std::string{};
}

std::int64_t integer(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

bank_payment_view payment_of(const json::object& o) {
  return {text(o, "payment_id"), text(o, "status"), text(o, "reason")};
}

bool known_status(const bank_payment_view& p) {
  return !p.payment_id.empty() && (p.status == "pending" || p.status == "completed" ||
                                   p.status == "rejected" || p.status == "returned");
}

bank_connector_actor::behavior_type connector(bank_connector_actor::pointer, open_banking_settings cfg) {
  auto at = http::parse_url(cfg.bank_url);
  if (!at && !cfg.bank_url.empty())
    log::warn("banking: bank URL is not http://HOST:PORT; Open Banking calls will fail");
  auto consent_headers = [](const std::string& consent) { return headers{{"x-consent-id", consent}}; };
  return {
      [at, cfg](consent_atom, const std::string& customer) -> consent_reply {
        if (!at) return {};
        json::object body{{"customer", customer},
                          {"permissions", json::array{"accounts", "balances", "transactions", "payments"}}};
        auto r = classify(http::post_json(*at, "/v1/consents", json::serialize(body), cfg.timeout), "consent");
        consent_reply out{r.outcome, text(r.body, "consent_id")};
        if (out.outcome == bank_outcome::taken && out.consent_id.empty()) out.outcome = bank_outcome::unavailable;
        return out;
      },
      [at, cfg](revoke_atom, const std::string& consent) -> bank_outcome {
        if (!at) return bank_outcome::unavailable;
        return classify(http::del(*at, "/v1/consents/" + http::url_encode(consent), cfg.timeout), "revoke").outcome;
      },
      [at, cfg, consent_headers](accounts_atom, const std::string& consent) -> accounts_reply {
        if (!at) return {};
        auto list = classify(http::get(*at, "/v1/accounts", cfg.timeout, consent_headers(consent)), "accounts");
        accounts_reply out{list.outcome, {}};
        if (list.outcome != bank_outcome::taken) return out;
        const auto* accounts = list.body.if_contains("accounts");
        if (accounts == nullptr || !accounts->is_array()) return {};
        for (const auto& a : accounts->as_array()) {
          if (!a.is_object()) continue;
          bank_account_view v{text(a.as_object(), "account_id"), text(a.as_object(), "currency"),
                              text(a.as_object(), "name"), 0};
          auto balance = classify(http::get(*at, "/v1/accounts/" + http::url_encode(v.account_id) + "/balances",
                                            cfg.timeout, consent_headers(consent)),
                                  "balances");
          if (balance.outcome != bank_outcome::taken) return {balance.outcome, {}};
          v.available_minor = integer(balance.body, "available_minor");
          out.accounts.push_back(std::move(v));
        }
        return out;
      },
      [at, cfg, consent_headers](initiate_atom, const payment_order& p) -> payment_reply {
        if (!at) return {};
        json::object body{{"debtor_account", p.debtor_account},
                          {"amount_minor", p.amount_minor},
                          {"currency", p.currency},
                          {"reference", p.reference}};
        auto h = consent_headers(p.consent_id);
        h.emplace_back("x-idempotency-key", p.idempotency_key);
        auto r = classify(http::post_json(*at, "/v1/payments", json::serialize(body), cfg.timeout, h), "payment");
        payment_reply out{r.outcome, r.sent, payment_of(r.body)};
        if (out.outcome == bank_outcome::taken && !known_status(out.payment)) out.outcome = bank_outcome::unavailable;
        return out;
      },
      [at, cfg, consent_headers](payment_status_atom, const std::string& consent,
                                 const std::string& bank_payment_id) -> payment_reply {
        if (!at) return {};
        auto r = classify(http::get(*at, "/v1/payments/" + http::url_encode(bank_payment_id), cfg.timeout,
                                    consent_headers(consent)),
                          "payment status");
        payment_reply out{r.outcome, true, payment_of(r.body)};
        if (out.outcome == bank_outcome::taken && !known_status(out.payment)) out.outcome = bank_outcome::unavailable;
        return out;
      },
      [at, cfg, consent_headers](find_payment_atom, const std::string& consent,
                                 const std::string& reference) -> find_reply {
        if (!at) return {};
        auto r = classify(http::get(*at, "/v1/payments?reference=" + http::url_encode(reference), cfg.timeout,
                                    consent_headers(consent)),
                          "payment lookup");
        find_reply out{r.outcome, {}};
        if (r.outcome != bank_outcome::taken) return out;
        const auto* list = r.body.if_contains("payments");
        if (list == nullptr || !list->is_array()) return {};
        for (const auto& p : list->as_array())
          if (p.is_object() && known_status(payment_of(p.as_object()))) out.payments.push_back(payment_of(p.as_object()));
        return out;
      },
  };
}

}  // namespace

bank_connector_actor spawn_bank_connector(caf::local_actor& parent, open_banking_settings settings) {
  return sup::spawn_counted<caf::detached>(parent, connector, std::move(settings));
}

}  // namespace superapp::banking
