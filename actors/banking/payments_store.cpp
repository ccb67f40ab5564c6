// Linked banks and payments: tables and statements.
#include "actors/banking/payments_store.hpp"

#include <boost/json.hpp>

#include "persistence/outbox.hpp"

namespace superapp::banking::store {
namespace {

using persistence::int_at;
using persistence::statement;
using persistence::text_at;

constexpr auto schema = R"sql(
CREATE TABLE bank_links (
  link_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  customer TEXT NOT NULL,
  consent_id TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX bank_links_by_user ON bank_links (user_id, created_at_ms);
CREATE TABLE payments (
  payment_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  link_id TEXT NOT NULL,
  consent_id TEXT NOT NULL,
  bank_account TEXT NOT NULL,
  amount BIGINT NOT NULL,
  currency TEXT NOT NULL,
  state TEXT NOT NULL,
  bank_payment_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at_ms BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL
);
CREATE INDEX payments_by_state ON payments (state);
)sql";

constexpr auto link_columns = "link_id, user_id, customer, consent_id, status, created_at_ms";
constexpr auto payment_columns =
    "payment_id, user_id, kind, link_id, consent_id, bank_account, amount, currency, state,"
    " bank_payment_id, reason, version, created_at_ms, updated_at_ms";

bank_link link_of(const persistence::row& r) {
  return {text_at(r, 0), text_at(r, 1), text_at(r, 2), text_at(r, 3), text_at(r, 4), int_at(r, 5)};
}

payment_row payment_of(const persistence::row& r) {
  payment_row p;
  p.payment_id = text_at(r, 0);
  p.user_id = text_at(r, 1);
  p.kind = text_at(r, 2);
  p.link_id = text_at(r, 3);
  p.consent_id = text_at(r, 4);
  p.bank_account = text_at(r, 5);
  p.amount = int_at(r, 6);
  p.currency = text_at(r, 7);
  p.state = payment_state_from(text_at(r, 8)).value_or(payment_state::failed);
  p.bank_payment_id = text_at(r, 9);
  p.reason = text_at(r, 10);
  p.version = int_at(r, 11);
  p.created_at_ms = int_at(r, 12);
  p.updated_at_ms = int_at(r, 13);
  return p;
}

}  // namespace

persistence::migration payments_migration(std::int64_t version) {
  return persistence::migration{version, "banking: linked banks and payments", schema};
}

std::string_view to_string(payment_state s) {
  switch (s) {
    case payment_state::created: return "created";
    case payment_state::unknown: return "unknown";
    case payment_state::authorised: return "authorised";
    case payment_state::posted: return "posted";
    case payment_state::failed: return "failed";
    case payment_state::reversed: return "reversed";
  }
  return "failed";
}

std::optional<payment_state> payment_state_from(std::string_view s) {
  for (auto x : {payment_state::created, payment_state::unknown, payment_state::authorised,
                 payment_state::posted, payment_state::failed, payment_state::reversed})
    if (to_string(x) == s) return x;
  return std::nullopt;
}

void add_link(persistence::unit_of_work& u, const bank_link& l) {
  u.add({std::string{"INSERT INTO bank_links ("} + link_columns + ") VALUES ($1, $2, $3, $4, $5, $6)",
         {l.link_id, l.user_id, l.customer, l.consent_id, l.status, l.created_at_ms}},
        1);
}

void revoke_link(persistence::unit_of_work& u, const std::string& link_id) {
  u.add({"UPDATE bank_links SET status = 'revoked' WHERE link_id = $1", {link_id}});
}

caf::expected<std::optional<bank_link>> find_link(persistence::connection& c, const std::string& link_id) {
  auto r = c.execute({std::string{"SELECT "} + link_columns + " FROM bank_links WHERE link_id = $1", {link_id}});
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<bank_link>{};
  return std::optional<bank_link>{link_of(r->rows[0])};
}

caf::expected<std::vector<bank_link>> links_of(persistence::connection& c, const std::string& user_id) {
  auto r = c.execute({std::string{"SELECT "} + link_columns +
                          " FROM bank_links WHERE user_id = $1 ORDER BY created_at_ms, link_id",
                      {user_id}});
  if (!r) return r.error();
  std::vector<bank_link> out;
  for (const auto& row : r->rows) out.push_back(link_of(row));
  return out;
}

events::event payment_event(const superapp::clock& clock, const payment_row& p, const std::string& traceparent) {
  boost::json::object body{{"payment_id", p.payment_id},
                           {"kind", p.kind},
                           {"state", to_string(p.state)},
                           {"amount", {{"minor", p.amount}, {"currency", p.currency}}},
                           {"reason", p.reason}};
  auto e = events::make_event(clock, "banking.payment." + std::string{to_string(p.state)}, 1, p.payment_id,
                              p.version, boost::json::serialize(body), traceparent);
  e.audience = {p.user_id};
  return e;
}

void add_payment(persistence::unit_of_work& u, const payment_row& p, const superapp::clock& clock,
                 std::int64_t now_ms) {
  u.add({std::string{"INSERT INTO payments ("} + payment_columns +
             ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
         {p.payment_id, p.user_id, p.kind, p.link_id, p.consent_id, p.bank_account, p.amount, p.currency,
          std::string{to_string(p.state)}, p.bank_payment_id, p.reason, p.version, now_ms, now_ms}},
        1);
  persistence::append_to_outbox(u, payment_event(clock, p), events::topic_for_domain("banking"), now_ms);
}

void advance_payment(persistence::unit_of_work& u, const payment_row& p, const payment_row& next,
                     const superapp::clock& clock, std::int64_t now_ms) {
  auto moved = next;
  moved.version = p.version + 1;
  u.add({"UPDATE payments SET state = $2, bank_payment_id = $3, reason = $4, version = $5, updated_at_ms = $6"
         " WHERE payment_id = $1 AND version = $7",
         {p.payment_id, std::string{to_string(moved.state)}, moved.bank_payment_id, moved.reason, moved.version,
          now_ms, p.version}},
        1);
  persistence::append_to_outbox(u, payment_event(clock, moved), events::topic_for_domain("banking"), now_ms);
}

caf::expected<std::optional<payment_row>> find_payment(persistence::connection& c, const std::string& payment_id) {
  auto r = c.execute({std::string{"SELECT "} + payment_columns + " FROM payments WHERE payment_id = $1",
                      {payment_id}});
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<payment_row>{};
  return std::optional<payment_row>{payment_of(r->rows[0])};
}

caf::expected<std::vector<std::string>> open_payments(persistence::connection& c) {
  auto r = c.execute({"SELECT payment_id FROM payments WHERE state IN ('created', 'unknown', 'authorised')"
                      " ORDER BY created_at_ms",
                      {}});
  if (!r) return r.error();
  std::vector<std::string> out;
  for (const auto& row : r->rows) out.push_back(text_at(row, 0));
  return out;
}

}  // namespace superapp::banking::store
