// The kyc service: levels and status (reads), document submission to the provider, and the
// provider's signed callbacks deciding a check. Level rules are in levels, SQL in kyc_store.
#include "actors/kyc/kyc_service.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <openssl/rand.h>

#include "actors/kyc/kyc_errc.hpp"
#include "actors/kyc/kyc_store.hpp"
#include "actors/kyc/webhook.hpp"
#include "persistence/db_errc.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/writer.hpp"
#include "protocols/assert.hpp"
#include "protocols/hex.hpp"
#include "protocols/events/event.hpp"
#include "protocols/http/http_client.hpp"
#include "protocols/ws/kyc_ops.hpp"
#include "protocols/ws/op_body.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/domain_service.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::kyc {

struct service_state {
  kyc_settings cfg;
  sup::domain_context_ptr ctx;
  provider_actor provider;
  static inline const char* name = "kyc_service";
};

namespace {

namespace json = boost::json;
using ws::reply_of;
using self_ptr = service_actor::stateful_pointer<service_state>;
using promise = caf::typed_response_promise<op_reply>;
using store::check_state;

caf::error storage_error(const caf::error& err, std::string_view what) {
  log::error("kyc: storage failed", {{"step", what}, {"code", superapp::describe(err).wire_code}});
  return make_error(platform_errc::storage_failure);
}

std::string new_check_id() {
  unsigned char bytes[12];
  SUPERAPP_ASSERT(RAND_bytes(bytes, sizeof bytes) == 1);
  return "kyc-" + to_hex(bytes, sizeof bytes);
}

// What an idempotency key remembers of a request: a digest of its body.
std::string body_digest(std::string_view body) { return sha256_hex(body); }

std::int64_t now_s(self_ptr self) {
  return std::chrono::duration_cast<std::chrono::seconds>(
             self->state.cfg.clock->now().time_since_epoch())
      .count();
}

const level_policy& levels_of(self_ptr self) {
  const auto& p = self->state.cfg.levels;
  return p ? *p : level_policy::defaults();
}

caf::expected<persistence::connection_pool::lease> reader(self_ptr self) {
  return self->state.ctx->readers->borrow();
}

// Commits `unit` and waits for it: the kyc service is the only writer of its database.
template <class OnOk, class OnFail>
void commit(self_ptr self, persistence::unit_of_work unit, OnOk on_ok, OnFail on_fail) {
  sup::commit_awaited(self, *self->state.ctx, self->state.cfg.store_timeout, std::move(unit),
                      std::move(on_ok), std::move(on_fail));
}

caf::error require_user(const op_request& req) { return ws::require_scope(req, ws::user_scope); }

// The user's level: the recorded one, else the policy's default (every signed-up user).
caf::expected<store::subject_row> subject_of(persistence::connection& conn, self_ptr self,
                                             const std::string& user_id) {
  auto row = store::subject(conn, user_id);
  if (!row) return storage_error(row.error(), "subject read");
  if (*row) return std::move(**row);
  return store::subject_row{levels_of(self).default_level().name, 0};
}

// ---- reads ----

caf::result<op_reply> do_levels(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  const auto& policy = levels_of(self);
  ws::kyc_levels_reply reply;
  reply.default_level = policy.default_level().name;
  for (const auto& l : policy.levels()) {
    reply.levels.push_back({l.name, l.rank, static_cast<std::int64_t>(l.documents_required)});
    for (const auto& [currency, lim] : l.limits_by_currency)
      reply.limits.push_back({l.name, currency, lim.per_transaction_minor, lim.per_day_minor,
                              lim.balance_minor});
  }
  for (const auto& type : policy.document_types()) reply.document_types.push_back({type});
  return reply_of(ws::kyc_levels_reply_schema(), reply);
}

std::vector<ws::kyc_limits_row> limits_rows(const level& l) {
  std::vector<ws::kyc_limits_row> rows;
  for (const auto& [currency, lim] : l.limits_by_currency)
    rows.push_back({currency, lim.per_transaction_minor, lim.per_day_minor, lim.balance_minor});
  return rows;
}

caf::result<op_reply> do_status(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto subject = subject_of(**conn, self, req.who.subject);
  if (!subject) return subject.error();
  auto latest = store::latest_check(**conn, req.who.subject);
  if (!latest) return storage_error(latest.error(), "check read");
  ws::kyc_status_reply reply;
  reply.level = subject->level;
  if (const auto* l = levels_of(self).find(subject->level)) reply.limits = limits_rows(*l);
  if (*latest) {
    reply.check_id = (*latest)->check_id;
    reply.check_level = (*latest)->level;
    reply.check_state = std::string{store::to_string((*latest)->state)};
    if (!(*latest)->reason.empty()) reply.check_reason = (*latest)->reason;
  }
  return reply_of(ws::kyc_status_reply_schema(), reply);
}

// ---- submission ----

bool document_number_ok(std::string_view number) {
  return std::all_of(number.begin(), number.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == ' ';
  });
}

// The documents a check for `target` may carry: exactly the level's count, each an accepted
// type, no type twice.
bool documents_ok(const level_policy& policy, const level& target,
                  const std::vector<ws::kyc_document>& documents) {
  if (documents.size() != target.documents_required) return false;
  std::set<std::string> types;
  for (const auto& d : documents)
    if (!policy.accepts_document(d.type) || !types.insert(d.type).second ||
        !document_number_ok(d.number))
      return false;
  return true;
}

// What the database keeps of the documents: their types and the last 4 characters of each
// number (enough for support to tell them apart, useless to anyone else).
std::string masked_documents(const std::vector<ws::kyc_document>& documents) {
  json::array out;
  for (const auto& d : documents) {
    auto tail = d.number.size() > 4 ? d.number.substr(d.number.size() - 4) : std::string{};
    out.push_back(json::object{{"type", d.type}, {"last4", tail}});
  }
  return json::serialize(out);
}

std::string provider_request(const std::string& check_id, const std::string& level,
                             const std::vector<ws::kyc_document>& documents) {
  json::array docs;
  for (const auto& d : documents) docs.push_back(json::object{{"type", d.type}, {"number", d.number}});
  return json::serialize(
      json::object{{"reference", check_id}, {"level", level}, {"documents", std::move(docs)}});
}

// Refusals decided on what is stored: the level, the caller's current one, a check in flight.
// `abandoned` is set to a pending check that was never taken by the provider (replaced).
// `number` is set to the new check's number.
caf::error judge_submission(self_ptr self, persistence::connection& conn, const op_request& req,
                            const ws::kyc_submit_request& body,
                            std::optional<store::check_row>& abandoned, std::int64_t& number) {
  const auto& policy = levels_of(self);
  const auto* target = policy.find(body.level);
  if (target == nullptr) return make_error(kyc_errc::invalid_level);
  auto subject = subject_of(conn, self, req.who.subject);
  if (!subject) return subject.error();
  const auto* current = policy.find(subject->level);
  if (current != nullptr && current->rank >= target->rank) return make_error(kyc_errc::level_already_held);
  auto latest = store::latest_check(conn, req.who.subject);
  if (!latest) return storage_error(latest.error(), "check read");
  number = *latest ? (*latest)->number + 1 : 1;
  if (*latest && (*latest)->state == check_state::pending) {
    bool never_taken = (*latest)->provider_check_id.empty() &&
                       now_s(self) - (*latest)->created_at_s > self->state.cfg.abandoned_after.count();
    if (!never_taken) return make_error(kyc_errc::check_pending);
    abandoned = std::move(*latest);
  }
  if (!documents_ok(policy, *target, body.documents)) return make_error(kyc_errc::invalid_documents);
  return {};
}

// After the check is recorded as pending: ask the provider, then record its id and the reply
// (remembered under the idempotency key), or that it failed.
void send_to_provider(self_ptr self, promise rp, const op_request& req, store::check_row row,
                      std::string request_body) {
  self->request(self->state.provider, self->state.cfg.provider_timeout + std::chrono::seconds{1},
                submit_check_atom::value, std::move(request_body))
      .then(
          [self, rp, req, row](std::string& provider_check_id) mutable {
            ws::kyc_check_reply reply{row.check_id, row.level, "pending"};
            auto body = reply_of(ws::kyc_check_reply_schema(), reply);
            persistence::unit_of_work unit;
            store::set_provider_check_id(unit, row.check_id, provider_check_id);
            persistence::record_reply(unit,
                                      persistence::idempotency_scope(req.who.subject, req.op),
                                      req.idempotency_key, body_digest(req.body_json),
                                      body.body_json, now_s(self) * 1000);
            commit(
                self, std::move(unit),
                [rp, body, row]() mutable {
                  log::info("kyc: check submitted",
                            {{"user_id", row.user_id}, {"check_id", row.check_id}, {"level", row.level}});
                  rp.deliver(std::move(body));
                },
                [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "check taken")); });
          },
          [self, rp, row](caf::error& err) mutable {
            persistence::unit_of_work unit;
            store::fail_check(unit, row.check_id, "provider_unavailable", now_s(self));
            // A decision that overtook a timed-out request leaves nothing to fail: fine.
            commit(
                self, std::move(unit), [] {}, [](caf::error&) {});
            log::warn("kyc: the provider did not take the check",
                      {{"check_id", row.check_id}, {"code", superapp::describe(err).wire_code}});
            rp.deliver(make_error(kyc_errc::provider_unavailable));
          });
}

caf::result<op_reply> do_submit(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  // The gateway requires it of a transactional op; a caller that came another way must too.
  if (req.idempotency_key.empty()) return make_error(platform_errc::idempotency_key_required);
  auto body = ws::decode_body(ws::kyc_submit_request_schema(), req);
  if (!body) return body.error();
  std::optional<store::check_row> abandoned;
  std::int64_t number = 0;
  {  // the reader goes back to the pool before the writes
    auto conn = reader(self);
    if (!conn) return storage_error(conn.error(), "reader");
    auto scope = persistence::idempotency_scope(req.who.subject, req.op);
    auto replay = persistence::replayed_reply(**conn, scope, req.idempotency_key,
                                              body_digest(req.body_json));
    if (!replay) {
      if (replay.error() == make_error(platform_errc::idempotency_key_reused)) return replay.error();
      return storage_error(replay.error(), "idempotency read");
    }
    if (*replay) return op_reply{std::move(**replay)};
    if (auto err = judge_submission(self, **conn, req, *body, abandoned, number)) return err;
  }

  store::check_row row;
  row.check_id = new_check_id();
  row.user_id = req.who.subject;
  row.number = number;
  row.level = body->level;
  row.documents = masked_documents(body->documents);
  row.created_at_s = now_s(self);
  persistence::unit_of_work unit;
  if (abandoned) store::fail_check(unit, abandoned->check_id, "abandoned", row.created_at_s);
  store::add_check(unit, row);
  auto rp = self->make_response_promise<op_reply>();
  // Recorded before the provider is asked: its callback can only ever find a known check.
  commit(
      self, std::move(unit),
      [self, rp, req, row, request = provider_request(row.check_id, row.level, body->documents)]() mutable {
        send_to_provider(self, rp, req, std::move(row), std::move(request));
      },
      [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "check write")); });
  return rp;
}

// ---- the provider's callback ----

// The event a decision publishes to the user's devices and to the domains that keep a view of
// levels (banking's limits): kyc.check.verified with the new level and its limits, or
// kyc.check.rejected with the provider's reason.
events::event decision_event(self_ptr self, const op_request& req, const store::check_row& check,
                             const provider_decision& d, const std::string& level_after) {
  json::object body{{"check_id", check.check_id}, {"level", check.level}};
  if (d.verified) {
    json::array limits;
    if (const auto* l = levels_of(self).find(level_after))
      for (const auto& [currency, lim] : l->limits_by_currency)
        limits.push_back(json::object{{"currency", currency},
                                      {"per_transaction_minor", lim.per_transaction_minor},
                                      {"per_day_minor", lim.per_day_minor},
                                      {"balance_minor", lim.balance_minor}});
    body["level_now"] = level_after;
    body["limits"] = std::move(limits);
  } else {
    body["reason"] = d.reason;
  }
  auto trace = req.traceparent.size() <= events::max_traceparent_chars ? req.traceparent : std::string{};
  auto e = events::make_event(*self->state.cfg.clock, d.verified ? "kyc.check.verified" : "kyc.check.rejected",
                              1, check.user_id, 1, json::serialize(body), std::move(trace));
  e.audience = {check.user_id};
  return e;
}

op_reply accepted(bool duplicate) {
  return op_reply{json::serialize(json::object{{"accepted", true}, {"duplicate", duplicate}})};
}

// Decides the check: its state, the user's level when verified for a higher one, and the event,
// in one unit.
caf::result<op_reply> apply_decision(self_ptr self, const op_request& req, persistence::connection& conn,
                                     const store::check_row& check, const provider_decision& d) {
  auto subject = subject_of(conn, self, check.user_id);
  if (!subject) return subject.error();
  std::string level_after = subject->level;
  const auto& policy = levels_of(self);
  const auto *now_at = policy.find(subject->level), *checked = policy.find(check.level);
  if (d.verified && checked && (!now_at || checked->rank > now_at->rank)) level_after = check.level;
  auto event = decision_event(self, req, check, d, level_after);
  persistence::unit_of_work unit;
  auto at = now_s(self);
  store::decide_check(unit, check.check_id, d.verified ? check_state::verified : check_state::rejected,
                      d.provider_check_id, d.reason, at);
  store::add_subject_event(unit, check.user_id, level_after, subject->event_seq, std::move(event), at * 1000);
  auto rp = self->make_response_promise<op_reply>();
  commit(
      self, std::move(unit),
      [rp, check, d, level_after]() mutable {
        log::info("kyc: check decided", {{"user_id", check.user_id},
                                         {"check_id", check.check_id},
                                         {"outcome", d.verified ? "verified" : "rejected"},
                                         {"level", level_after}});
        rp.deliver(accepted(false));
      },
      [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "decision write")); });
  return rp;
}

caf::result<op_reply> do_provider_callback(self_ptr self, const op_request& req) {
  auto delivery = relayed_webhook(req.body_json);
  if (!delivery) return make_error(platform_errc::bad_request);
  // Without a secret nothing is authentic (an empty HMAC key is a key anyone holds).
  if (self->state.cfg.webhook_secret.empty()) return make_error(kyc_errc::webhook_signature_invalid);
  switch (verify_webhook(self->state.cfg.webhook_secret, *delivery, now_s(self),
                         self->state.cfg.webhook_tolerance)) {
    case webhook_verdict::authentic:
      break;
    case webhook_verdict::bad_signature:
      log::warn("kyc: a provider callback with a bad signature was refused");
      return make_error(kyc_errc::webhook_signature_invalid);
    case webhook_verdict::stale:
      log::warn("kyc: a stale provider callback was refused", {{"timestamp", delivery->timestamp}});
      return make_error(kyc_errc::webhook_stale);
  }
  auto decision = parse_decision(delivery->body);
  if (!decision) return make_error(platform_errc::bad_request);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "reader");
  auto check = store::check(**conn, decision->reference);
  if (!check) return storage_error(check.error(), "check read");
  if (!*check) return make_error(platform_errc::not_found);
  const auto& c = **check;
  if (c.level != decision->level ||
      (!c.provider_check_id.empty() && c.provider_check_id != decision->provider_check_id))
    return make_error(kyc_errc::webhook_conflict);
  bool decided = c.state == check_state::verified || c.state == check_state::rejected;
  if (decided) {
    // Providers deliver at least once: the same decision again is answered as taken.
    bool same = (c.state == check_state::verified) == decision->verified;
    if (!same) return make_error(kyc_errc::webhook_conflict);
    return accepted(true);
  }
  return apply_decision(self, req, **conn, c, *decision);
}

using op_fn = caf::result<op_reply> (*)(self_ptr, const op_request&);

const std::map<std::string, op_fn, std::less<>>& op_table() {
  static const std::map<std::string, op_fn, std::less<>> table{
      {"kyc.levels", do_levels},
      {"kyc.status", do_status},
      {"kyc.submit", do_submit},
      {std::string{provider_callback_op}, do_provider_callback},
  };
  return table;
}

// The provider client: blocks its own thread on one HTTP call at a time.
provider_actor::behavior_type provider_client(provider_actor::pointer, std::string provider_url,
                                              std::chrono::milliseconds timeout) {
  auto at = http::parse_url(provider_url);
  if (!at) log::warn("kyc: provider URL is not http://HOST:PORT; checks cannot be submitted");
  return {
      [at, timeout](submit_check_atom, std::string& body) -> caf::result<std::string> {
        if (!at) return make_error(kyc_errc::provider_unavailable);
        auto r = http::post_json(*at, "/v1/checks", body, timeout);
        if (!r) {
          log::warn("kyc: provider unreachable", {{"reason", r.failure}});
          return make_error(kyc_errc::provider_unavailable);
        }
        boost::system::error_code ec;
        auto doc = json::parse(r.reply->body, ec);
        const auto* o = ec ? nullptr : doc.if_object();
        const auto* id = o && o->contains("provider_check_id") ? o->at("provider_check_id").if_string()
                                                               : nullptr;
        if (r.reply->status / 100 != 2 || id == nullptr || id->empty() || id->size() > 64) {
          log::warn("kyc: provider refused the check",
                    {{"status", static_cast<std::int64_t>(r.reply->status)}});
          return make_error(kyc_errc::provider_unavailable);
        }
        return std::string{*id};
      },
  };
}

service_actor::behavior_type kyc_service(service_actor::stateful_pointer<service_state> self,
                                         kyc_settings settings, sup::domain_context_ptr ctx) {
  register_kyc_errors();
  auto& st = self->state;
  st.cfg = std::move(settings);
  st.ctx = std::move(ctx);
  if (st.cfg.webhook_secret.empty())
    log::warn("kyc: no webhook secret: every provider callback will be refused");
  st.provider = self->spawn<caf::detached + caf::linked>(provider_client, st.cfg.provider_url,
                                                         st.cfg.provider_timeout);
  return {
      [self](op_atom, op_request& req) { return sup::run_op(op_table(), self, req); },
  };
}

}  // namespace

service_actor spawn_kyc_service(caf::local_actor& parent, kyc_settings settings,
                                sup::domain_context_ptr ctx) {
  return sup::spawn_counted<caf::detached>(parent, kyc_service, std::move(settings),
                                           std::move(ctx));
}

}  // namespace superapp::kyc
