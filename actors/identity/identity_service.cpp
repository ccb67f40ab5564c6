// The identity service: sign-up by OTP, device binding, challenge login with mPIN, refresh-token
// rotation, logout, devices, JWKS. Rules are in identity_rules, SQL in identity_store.
#include "actors/identity/identity_service.hpp"

#include <algorithm>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/identity/helpers.hpp"
#include "actors/identity/identity_errc.hpp"
#include "actors/identity/identity_store.hpp"
#include "actors/identity/partners.hpp"
#include "persistence/db_errc.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/writer.hpp"
#include "protocols/assert.hpp"
#include "protocols/events/event.hpp"
#include "protocols/tokens/approval.hpp"
#include "protocols/tokens/device_key.hpp"
#include "protocols/ws/identity_ops.hpp"
#include "protocols/ws/op_body.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/domain_service.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::identity {

struct service_state {
  identity_settings cfg;
  sup::domain_context_ptr ctx;
  std::vector<hasher_actor> hashers;
  std::size_t next_hasher = 0;
  std::size_t hashing_in_flight = 0;
  sms_actor sms;
  std::vector<tokens::signing_key> keys;  // newest first; keys[0] signs
  // An Argon2id hash of nothing anyone knows: an unknown partner's secret is checked against it,
  // so the answer takes as long as for a known partner (no client-id probing by timing).
  std::string decoy_hash;
  static inline const char* name = "identity_service";
};

namespace {

namespace json = boost::json;
using ws::reply_of;
using self_ptr = service_actor::stateful_pointer<service_state>;
using promise = caf::typed_response_promise<op_reply>;

constexpr auto hashing_timeout = std::chrono::seconds{30};

caf::error storage_error(const caf::error& err, std::string_view what) {
  log::error("identity: storage failed", {{"step", what}, {"code", superapp::describe(err).wire_code}});
  return make_error(platform_errc::storage_failure);
}

std::string new_id(std::string_view prefix) { return std::string{prefix} + random_token(12); }

time_point now_of(self_ptr self) { return self->state.cfg.clock->now(); }

// A reader connection for one op; the lease goes back when it is destroyed.
caf::expected<persistence::connection_pool::lease> reader(self_ptr self) {
  return self->state.ctx->readers->borrow();
}

// Commits `unit` and waits for it: identity's service is the only writer of its database.
template <class OnOk, class OnFail>
void commit(self_ptr self, persistence::unit_of_work unit, OnOk on_ok, OnFail on_fail) {
  sup::commit_awaited(self, *self->state.ctx, self->state.cfg.store_timeout, std::move(unit),
                      std::move(on_ok), std::move(on_fail));
}

template <class OnOk>
void commit(self_ptr self, persistence::unit_of_work unit, promise rp, std::string_view step,
            OnOk on_ok) {
  commit(self, std::move(unit), std::move(on_ok),
         [rp, step](caf::error& err) mutable { rp.deliver(storage_error(err, step)); });
}

// Sends the job to the next hashing worker unless too many are queued there already.
template <class Reply, class OnReply, class... Ts>
void hash_job(self_ptr self, promise rp, OnReply on_reply, Ts&&... xs) {
  auto& st = self->state;
  if (st.hashing_in_flight >= st.cfg.max_hashing_in_flight) {
    rp.deliver(make_error(platform_errc::overloaded));
    return;
  }
  ++st.hashing_in_flight;
  auto worker = st.hashers[st.next_hasher++ % st.hashers.size()];
  self->request(worker, hashing_timeout, std::forward<Ts>(xs)...)
      .then(
          [self, on_reply](Reply& r) mutable {
            --self->state.hashing_in_flight;
            on_reply(r);
          },
          [self, rp](caf::error& err) mutable {
            --self->state.hashing_in_flight;
            log::error("identity: hashing failed", {{"code", superapp::describe(err).wire_code}});
            rp.deliver(make_error(platform_errc::internal));
          });
}

// ---- callers ----

// The caller's own-account ops are for app users (tokens with the user scope).
caf::error require_user(const op_request& req, bool with_device = false) {
  return ws::require_scope(req, user_scope, with_device);
}

// ---- devices ----

// Whether `signature` (base64url JOSE r||s) over `message` was made by the bound device's key.
bool signed_by_device(const store::device_row& device, std::string_view message,
                      std::string_view signature) {
  std::string key_error;
  auto key = tokens::parse_device_public_key(device.public_key, key_error);
  SUPERAPP_ASSERT(key.has_value());  // checked when the device was bound
  return tokens::verify_message_es256(key->get(), message, signature);
}

// ---- events ----

// An event about `user_id` for its devices to see (audience), caused by `req`. Written by
// add_event in the same unit as the state change it records.
events::event user_event(self_ptr self, const op_request& req, std::string type, const std::string& user_id,
                         json::object body) {
  auto trace = req.traceparent.size() <= events::max_traceparent_chars ? req.traceparent : std::string{};
  auto e = events::make_event(*self->state.cfg.clock, std::move(type), 1, user_id, 1,
                              json::serialize(body), std::move(trace));
  e.audience = {user_id};
  return e;
}

// Adds `e` to `unit` with the user's next sequence. Call it right before commit(), which awaits
// the writer, so no other op of this service moves the sequence in between.
caf::error add_event(self_ptr self, persistence::unit_of_work& unit, events::event e) {
  auto conn = reader(self);
  if (!conn) return conn.error();
  auto seq = store::user_event_seq(**conn, e.aggregate_id);
  if (!seq) return seq.error();
  auto user_id = e.aggregate_id;
  auto at = e.occurred_at_ms;
  store::add_user_event(unit, user_id, *seq, std::move(e), at);
  return {};
}

// ---- tokens ----

void issue_tokens(self_ptr self, promise rp, const std::string& user_id,
                  const std::string& device_id, std::string family_id,
                  persistence::unit_of_work unit) {
  auto& st = self->state;
  auto now = now_of(self);
  SUPERAPP_ASSERT(!st.keys.empty());
  tokens::claims c;
  c.subject = user_id;
  c.device_id = device_id;
  c.scopes = st.cfg.user_scopes;
  c.expires_at = now + st.cfg.access_token_ttl;
  c.token_id = random_token(16);
  auto access = tokens::sign_es256(c, {st.cfg.issuer, st.cfg.audience, now}, st.keys[0]);
  auto refresh = random_token(32);
  store::add_refresh_token(unit, token_digest(refresh), family_id, now + st.cfg.refresh_token_ttl);
  ws::token_reply reply{std::move(access), std::move(refresh), "Bearer",
                        st.cfg.access_token_ttl.count(), user_id, device_id};
  commit(self, std::move(unit), rp, "issue tokens", [rp, reply = std::move(reply)]() mutable {
    rp.deliver(reply_of(ws::token_reply_schema(), reply));
  });
}

// ---- ops ----

caf::result<op_reply> do_register(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::register_request_schema(), req);
  if (!body) return body.error();
  if (!is_e164(body->phone)) return make_error(identity_errc::invalid_phone);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "register read");
  auto known = store::user_by_phone(**conn, body->phone);
  auto newest = store::otp_by_phone(**conn, body->phone);
  if (!known || !newest) return storage_error(known ? newest.error() : known.error(), "register read");
  auto now = now_of(self);
  std::optional<otp_state> newest_state;
  if (*newest) newest_state = (*newest)->state;
  const auto& policy = self->state.cfg.otp;
  if (may_send_code(newest_state, now, policy) == send_verdict::too_soon)
    return make_error(identity_errc::otp_resend_too_soon);
  auto user_id = known->value_or(new_id("u-"));
  auto code = random_digits(policy.code_digits);
  store::otp_row row;
  row.salt = random_token(16);
  row.code_digest = keyed_digest(row.salt, code);
  row.state = state_after_send(newest_state, now, policy);
  auto text = "Your Superapp code is " + code + ". It expires in " +
              std::to_string(policy.ttl.count() / 60) + " minutes. Never share it.";
  sodium_wipe(code);
  auto rp = self->make_response_promise<op_reply>();
  // Send first: a code the user never received must not count against the resend limit.
  self->request(self->state.sms, self->state.cfg.sms_timeout + std::chrono::seconds{1},
                send_sms_atom::value, body->phone, std::move(text))
      .then(
          [self, rp, phone = body->phone, user_id, row, now](bool) mutable {
            persistence::unit_of_work unit;
            store::add_user_if_new(unit, user_id, phone, now);
            store::put_otp(unit, phone, row);
            commit(self, std::move(unit), rp, "register write", [self, rp, phone]() mutable {
              auto conn = reader(self);
              auto user = conn ? store::user_by_phone(**conn, phone)
                               : caf::expected<std::optional<std::string>>{conn.error()};
              if (!user || !*user) {
                rp.deliver(make_error(platform_errc::storage_failure));
                return;
              }
              log::info("identity: code sent", {{"user_id", **user}});
              rp.deliver(reply_of(ws::register_reply_schema(),
                                  ws::register_reply{**user, self->state.cfg.otp.ttl.count()}));
            });
          },
          [rp](caf::error&) mutable { rp.deliver(make_error(identity_errc::sms_unavailable)); });
  return rp;
}

caf::result<op_reply> do_verify_otp(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::verify_otp_request_schema(), req);
  if (!body) return body.error();
  if (!is_e164(body->phone)) return make_error(identity_errc::invalid_phone);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "verify read");
  auto otp = store::otp_by_phone(**conn, body->phone);
  auto user = store::user_by_phone(**conn, body->phone);
  if (!otp || !user) return storage_error(otp ? user.error() : otp.error(), "verify read");
  if (!*otp || !*user) return make_error(identity_errc::otp_expired);
  auto now = now_of(self);
  bool matches = digests_equal(keyed_digest((*otp)->salt, body->code), (*otp)->code_digest);
  sodium_wipe(body->code);
  auto verdict = check_otp_attempt((*otp)->state, matches, now, self->state.cfg.otp);
  // A response promise takes over the reply: make it only once no early return can follow.
  if (verdict == otp_verdict::expired) return make_error(identity_errc::otp_expired);
  if (verdict == otp_verdict::tries_exhausted) return make_error(identity_errc::otp_tries_exhausted);
  auto rp = self->make_response_promise<op_reply>();
  persistence::unit_of_work unit;
  switch (verdict) {
    case otp_verdict::expired:
    case otp_verdict::tries_exhausted:
      SUPERAPP_ASSERT(false);
      break;
    case otp_verdict::wrong:
      store::count_otp_try(unit, body->phone);
      commit(self, std::move(unit), rp, "otp try",
             [rp]() mutable { rp.deliver(make_error(identity_errc::otp_wrong)); });
      return rp;
    case otp_verdict::accepted:
      break;
  }
  auto enrolment = random_token(32);
  auto ttl = self->state.cfg.enrolment_ttl;
  store::use_otp(unit, body->phone);
  store::add_enrolment(unit, token_digest(enrolment), **user, now + ttl);
  commit(
      self, std::move(unit),
      [rp, user_id = **user, enrolment, ttl]() mutable {
        log::info("identity: phone verified", {{"user_id", user_id}});
        rp.deliver(reply_of(ws::verify_otp_reply_schema(),
                            ws::verify_otp_reply{user_id, enrolment, ttl.count()}));
      },
      [rp](caf::error& err) mutable {
        // Someone used the code between our read and write: it is spent.
        rp.deliver(err == persistence::db_errc::unexpected_rows_affected
                       ? make_error(identity_errc::otp_expired)
                       : storage_error(err, "otp use"));
      });
  return rp;
}

// Checks `secret` against the user's credential of `kind` with lock-out, then calls on_ok.
// A locked credential is refused without hashing; every wrong attempt is persisted.
template <class OnOk>
void check_credential(self_ptr self, promise rp, const std::string& user_id, credential_kind kind,
                      std::string secret, OnOk on_ok) {
  auto conn = reader(self);
  if (!conn) return void(rp.deliver(storage_error(conn.error(), "credential read")));
  auto cred = store::credential(**conn, user_id, kind);
  if (!cred) return void(rp.deliver(storage_error(cred.error(), "credential read")));
  if (!*cred) return void(rp.deliver(make_error(identity_errc::wrong_credential)));
  if (is_locked((*cred)->lockout, now_of(self)))
    return void(rp.deliver(make_error(identity_errc::credential_locked)));
  hash_job<bool>(
      self, rp,
      [self, rp, user_id, kind, on_ok](bool ok) mutable {
        // Re-read: other attempts may have been judged while this one was hashing.
        auto conn = reader(self);
        if (!conn) return void(rp.deliver(storage_error(conn.error(), "credential read")));
        auto cred = store::credential(**conn, user_id, kind);
        if (!cred || !*cred) return void(rp.deliver(make_error(platform_errc::storage_failure)));
        auto now = now_of(self);
        const auto& state = (*cred)->lockout;
        if (is_locked(state, now)) return void(rp.deliver(make_error(identity_errc::credential_locked)));
        persistence::unit_of_work unit;
        if (ok) {
          if (state.failed_attempts != 0 || state.lockouts != 0)
            store::set_lockout(unit, user_id, kind, after_success());
          if (unit.steps.empty()) return on_ok();
          return commit(self, std::move(unit), rp, "credential reset", on_ok);
        }
        auto next = after_failure(state, now, self->state.cfg.lockout);
        store::set_lockout(unit, user_id, kind, next);
        bool locked = is_locked(next, now);
        if (locked)
          log::warn("identity: credential locked",
                    {{"user_id", user_id}, {"kind", to_string(kind)},
                     {"lockouts", static_cast<std::int64_t>(next.lockouts)}});
        commit(self, std::move(unit), rp, "credential failure", [rp, locked]() mutable {
          rp.deliver(make_error(locked ? identity_errc::credential_locked
                                       : identity_errc::wrong_credential));
        });
      },
      verify_atom::value, (*cred)->hash, std::move(secret));
}

caf::result<op_reply> do_bind_device(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::bind_device_request_schema(), req);
  if (!body) return body.error();
  if (!valid_credential_format(credential_kind::mpin, body->mpin))
    return make_error(identity_errc::invalid_credential_format);
  std::string key_error;
  if (!tokens::parse_device_public_key(body->public_key, key_error))
    return make_error(identity_errc::invalid_public_key);
  auto digest = token_digest(body->enrolment_token);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "bind read");
  auto enrolment = store::enrolment(**conn, digest);
  if (!enrolment) return storage_error(enrolment.error(), "bind read");
  auto now = now_of(self);
  if (!*enrolment || (*enrolment)->used || now >= (*enrolment)->expires_at)
    return make_error(identity_errc::enrolment_invalid);
  auto user_id = (*enrolment)->user_id;
  auto devices = store::active_devices(**conn, user_id);
  auto cred = store::credential(**conn, user_id, credential_kind::mpin);
  if (!devices || !cred) return storage_error(devices ? cred.error() : devices.error(), "bind read");
  if (devices->size() >= self->state.cfg.max_devices_per_user)
    return make_error(identity_errc::device_limit_reached);
  store::device_row device{new_id("d-"), user_id, body->device_name, body->public_key, now, false};
  // The user's other devices are told (identity.device.bound reaches their subscribed sessions).
  auto bound = user_event(self, req, "identity.device.bound", user_id,
                          {{"device_id", device.device_id},
                           {"device_name", device.device_name},
                           {"first_device", devices->empty()}});
  auto rp = self->make_response_promise<op_reply>();
  // Binding is the last step, after the mPIN is set or checked; the enrolment is used once.
  auto bind = [self, rp, device, digest, bound](persistence::unit_of_work unit) mutable {
    store::use_enrolment(unit, digest);
    store::add_device(unit, device);
    if (auto err = add_event(self, unit, bound)) {
      rp.deliver(storage_error(err, "bind read"));
      return;
    }
    commit(
        self, std::move(unit),
        [rp, device]() mutable {
          log::info("identity: device bound",
                    {{"user_id", device.user_id}, {"device_id", device.device_id}});
          rp.deliver(reply_of(ws::bind_device_reply_schema(), ws::bind_device_reply{device.device_id}));
        },
        [rp](caf::error& err) mutable {
          rp.deliver(err == persistence::db_errc::unexpected_rows_affected
                         ? make_error(identity_errc::enrolment_invalid)
                         : storage_error(err, "bind write"));
        });
  };
  if (!*cred) {
    // First enrolment: this mPIN becomes the user's.
    hash_job<std::string>(
        self, rp,
        [rp, user_id, bind](std::string& hash) mutable {
          if (hash.empty()) return void(rp.deliver(make_error(platform_errc::internal)));
          persistence::unit_of_work unit;
          store::put_credential(unit, user_id, credential_kind::mpin, hash);
          bind(std::move(unit));
        },
        hash_atom::value, std::move(body->mpin));
  } else {
    // A further device: the user proves the mPIN they already have (counts toward lock-out).
    check_credential(self, rp, user_id, credential_kind::mpin, std::move(body->mpin),
                     [bind]() mutable { bind(persistence::unit_of_work{}); });
  }
  return rp;
}

caf::result<op_reply> do_challenge(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::challenge_request_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "challenge read");
  auto device = store::device(**conn, body->device_id);
  if (!device) return storage_error(device.error(), "challenge read");
  if (!*device || (*device)->revoked) return make_error(platform_errc::not_found);
  auto now = now_of(self);
  auto id = new_id("c-");
  auto nonce = random_token(16);
  auto expires_at = now + self->state.cfg.challenge_ttl;
  ws::challenge_reply reply{id, login_challenge_message(id, nonce, body->device_id, expires_at),
                            to_unix_s(expires_at)};
  persistence::unit_of_work unit;
  store::add_challenge(unit, id, body->device_id, nonce, expires_at);
  auto rp = self->make_response_promise<op_reply>();
  commit(self, std::move(unit), rp, "challenge write", [rp, reply]() mutable {
    rp.deliver(reply_of(ws::challenge_reply_schema(), reply));
  });
  return rp;
}

caf::result<op_reply> do_login(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::login_request_schema(), req);
  if (!body) return body.error();
  // Exactly one knowledge factor: the mPIN (the app) or the password (e.g. a web login).
  if (body->mpin.has_value() == body->password.has_value())
    return make_error(identity_errc::invalid_credential_format);
  auto kind = body->mpin ? credential_kind::mpin : credential_kind::password;
  std::string secret = body->mpin ? std::move(*body->mpin) : std::move(*body->password);
  if (!valid_credential_format(kind, secret)) return make_error(identity_errc::invalid_credential_format);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "login read");
  auto device = store::device(**conn, body->device_id);
  auto challenge = store::challenge(**conn, body->challenge_id);
  if (!device || !challenge)
    return storage_error(device ? challenge.error() : device.error(), "login read");
  if (!*device || (*device)->revoked) return make_error(platform_errc::not_found);
  auto now = now_of(self);
  if (!*challenge ||
      judge_challenge((*challenge)->record, body->device_id, now) != challenge_verdict::usable)
    return make_error(identity_errc::challenge_invalid);
  auto message = login_challenge_message(body->challenge_id, (*challenge)->nonce, body->device_id,
                                         (*challenge)->record.expires_at);
  bool signed_ok = signed_by_device(**device, message, body->signature);
  auto rp = self->make_response_promise<op_reply>();
  // The challenge is spent by any attempt, good or bad: a captured signature never works twice.
  persistence::unit_of_work unit;
  store::use_challenge(unit, body->challenge_id);
  auto user_id = (*device)->user_id;
  commit(
      self, std::move(unit),
      [self, rp, signed_ok, user_id, device_id = body->device_id, kind,
       secret = std::move(secret)]() mutable {
        if (!signed_ok) {
          log::warn("identity: bad device signature", {{"device_id", device_id}});
          return void(rp.deliver(make_error(identity_errc::signature_invalid)));
        }
        check_credential(self, rp, user_id, kind, std::move(secret),
                         [self, rp, user_id, device_id]() mutable {
                           auto family = new_id("f-");
                           persistence::unit_of_work unit;
                           store::add_family(unit, family, user_id, device_id, now_of(self));
                           log::info("identity: login",
                                     {{"user_id", user_id}, {"device_id", device_id}});
                           issue_tokens(self, rp, user_id, device_id, family, std::move(unit));
                         });
      },
      [rp](caf::error& err) mutable {
        rp.deliver(err == persistence::db_errc::unexpected_rows_affected
                       ? make_error(identity_errc::challenge_invalid)
                       : storage_error(err, "challenge use"));
      });
  return rp;
}

caf::result<op_reply> do_refresh(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::refresh_request_schema(), req);
  if (!body) return body.error();
  auto digest = token_digest(body->refresh_token);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "refresh read");
  auto row = store::refresh_token(**conn, digest);
  if (!row) return storage_error(row.error(), "refresh read");
  if (!*row) return make_error(identity_errc::refresh_token_invalid);
  auto now = now_of(self);
  auto verdict = judge_refresh((*row)->record, now);
  if (verdict == refresh_verdict::revoked || verdict == refresh_verdict::expired)
    return make_error(identity_errc::refresh_token_invalid);
  auto rp = self->make_response_promise<op_reply>();
  persistence::unit_of_work unit;
  switch (verdict) {
    case refresh_verdict::revoked:
    case refresh_verdict::expired:
      SUPERAPP_ASSERT(false);
      break;
    case refresh_verdict::reused:
      log::warn("identity: refresh token reused; family revoked",
                {{"user_id", (*row)->user_id}, {"family_id", (*row)->family_id}});
      store::revoke_family(unit, (*row)->family_id, now);
      commit(self, std::move(unit), rp, "family revoke",
             [rp]() mutable { rp.deliver(make_error(identity_errc::refresh_token_reused)); });
      return rp;
    case refresh_verdict::rotate:
      break;
  }
  store::use_refresh_token(unit, digest);
  issue_tokens(self, rp, (*row)->user_id, (*row)->device_id, (*row)->family_id, std::move(unit));
  return rp;
}

caf::result<op_reply> do_logout(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::refresh_request_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "logout read");
  auto row = store::refresh_token(**conn, token_digest(body->refresh_token));
  if (!row) return storage_error(row.error(), "logout read");
  if (!*row) return make_error(identity_errc::refresh_token_invalid);
  persistence::unit_of_work unit;
  store::revoke_family(unit, (*row)->family_id, now_of(self));
  // The gateway closes this device's sessions of the user when it sees the event.
  if (auto err = add_event(self, unit,
                           user_event(self, req, "identity.user.logged_out", (*row)->user_id,
                                      {{"device_id", (*row)->device_id}, {"everywhere", false}})))
    return storage_error(err, "logout read");
  auto rp = self->make_response_promise<op_reply>();
  commit(self, std::move(unit), rp, "logout", [rp]() mutable {
    rp.deliver(reply_of(ws::revoked_reply_schema(), ws::revoked_reply{true}));
  });
  return rp;
}

caf::result<op_reply> do_logout_all(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  persistence::unit_of_work unit;
  store::revoke_user_families(unit, req.who.subject, now_of(self));
  if (auto err = add_event(self, unit,
                           user_event(self, req, "identity.user.logged_out", req.who.subject,
                                      {{"everywhere", true}})))
    return storage_error(err, "logout all read");
  auto rp = self->make_response_promise<op_reply>();
  self->request(self->state.ctx->store, self->state.cfg.store_timeout,
                persistence::write_atom::value, std::move(unit))
      .await(
          [rp, user = req.who.subject](persistence::unit_results& r) mutable {
            auto n = r.results.empty() ? 0 : r.results[0].rows_affected;
            log::info("identity: logged out everywhere", {{"user_id", user}, {"sessions", n}});
            rp.deliver(reply_of(ws::logout_all_reply_schema(), ws::logout_all_reply{n}));
          },
          [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "logout all")); });
  return rp;
}

caf::result<op_reply> do_set_password(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::set_password_request_schema(), req);
  if (!body) return body.error();
  if (!valid_credential_format(credential_kind::mpin, body->mpin) ||
      !valid_credential_format(credential_kind::password, body->password))
    return make_error(identity_errc::invalid_credential_format);
  auto rp = self->make_response_promise<op_reply>();
  auto user_id = req.who.subject;
  check_credential(
      self, rp, user_id, credential_kind::mpin, std::move(body->mpin),
      [self, rp, user_id, password = std::move(body->password)]() mutable {
        hash_job<std::string>(
            self, rp,
            [self, rp, user_id](std::string& hash) mutable {
              if (hash.empty()) return void(rp.deliver(make_error(platform_errc::internal)));
              persistence::unit_of_work unit;
              store::put_credential(unit, user_id, credential_kind::password, hash);
              commit(self, std::move(unit), rp, "set password", [rp, user_id]() mutable {
                log::info("identity: password set", {{"user_id", user_id}});
                rp.deliver(reply_of(ws::password_set_reply_schema(), ws::password_set_reply{true}));
              });
            },
            hash_atom::value, std::move(password));
      });
  return rp;
}

caf::result<op_reply> do_devices(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "devices read");
  auto devices = store::active_devices(**conn, req.who.subject);
  if (!devices) return storage_error(devices.error(), "devices read");
  ws::devices_reply reply;
  for (const auto& d : *devices)
    reply.devices.push_back(ws::device_entry{d.device_id, d.device_name, to_unix_s(d.bound_at),
                                             d.device_id == req.who.device_id});
  return reply_of(ws::devices_reply_schema(), reply);
}

caf::result<op_reply> do_revoke_device(self_ptr self, const op_request& req) {
  if (auto err = require_user(req)) return err;
  auto body = ws::decode_body(ws::device_ref_schema(), req);
  if (!body) return body.error();
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "revoke read");
  auto device = store::device(**conn, body->device_id);
  if (!device) return storage_error(device.error(), "revoke read");
  // Someone else's device is answered exactly like a missing one.
  if (!*device || (*device)->user_id != req.who.subject || (*device)->revoked)
    return make_error(platform_errc::not_found);
  auto now = now_of(self);
  persistence::unit_of_work unit;
  store::revoke_device(unit, body->device_id, now);
  store::revoke_device_families(unit, body->device_id, now);
  if (auto err = add_event(self, unit,
                           user_event(self, req, "identity.device.revoked", req.who.subject,
                                      {{"device_id", body->device_id}})))
    return storage_error(err, "revoke read");
  auto rp = self->make_response_promise<op_reply>();
  commit(self, std::move(unit), rp, "revoke device",
         [rp, user = req.who.subject, device_id = body->device_id]() mutable {
           log::info("identity: device revoked", {{"user_id", user}, {"device_id", device_id}});
           rp.deliver(reply_of(ws::revoked_reply_schema(), ws::revoked_reply{true}));
         });
  return rp;
}

// ---- tiered authorisation: step-up and approvals (tiers.hpp, ADR 0013) ----

const tier_policy& tiers_of(self_ptr self) {
  const auto& p = self->state.cfg.tiers;
  return p ? *p : tier_policy::defaults();
}

operation_binding binding_of(const std::string& operation, const ws::money& amount,
                             const std::string& payee) {
  return {operation, amount.minor, amount.currency, payee};
}

// The step-up's reply for a request retried with the same idempotency key, if any; errors are
// the client's (idempotency_key_reused, storage_failure).
caf::expected<std::optional<op_reply>> replayed(persistence::connection& conn,
                                                const op_request& req, const std::string& scope) {
  if (req.idempotency_key.empty()) return std::optional<op_reply>{};
  auto stored = persistence::replayed_reply(conn, scope, req.idempotency_key, token_digest(req.body_json));
  if (!stored) {
    if (stored.error() == make_error(platform_errc::idempotency_key_reused)) return stored.error();
    return storage_error(stored.error(), "step-up read");
  }
  if (!*stored) return std::optional<op_reply>{};
  return std::optional<op_reply>{op_reply{std::move(**stored)}};
}

// Commits the new step-up with its reply remembered under the request's idempotency key.
void commit_step_up(self_ptr self, promise rp, const op_request& req, const std::string& scope,
                    const store::step_up_row& row, const ws::step_up_reply& reply) {
  auto body = reply_of(ws::step_up_reply_schema(), reply);
  persistence::unit_of_work unit;
  store::add_step_up(unit, row);
  if (!req.idempotency_key.empty())
    persistence::record_reply(unit, scope, req.idempotency_key, token_digest(req.body_json),
                              body.body_json, to_unix_s(now_of(self)) * 1000);
  commit(
      self, std::move(unit),
      [rp, body, row]() mutable {
        log::info("identity: step-up started",
                  {{"user_id", row.user_id}, {"step_up_id", row.step_up_id},
                   {"method", to_string(row.method)}, {"operation", row.operation.operation}});
        rp.deliver(std::move(body));
      },
      [self, rp, req, scope](caf::error& err) mutable {
        // The same key was recorded while our SMS went out (a retry that overtook us): answer
        // what was recorded, like any later retry.
        if (err == persistence::db_errc::unexpected_rows_affected) {
          auto conn = reader(self);
          if (!conn) return void(rp.deliver(storage_error(conn.error(), "step-up read")));
          auto again = replayed(**conn, req, scope);
          if (!again) return void(rp.deliver(again.error()));
          if (*again) return void(rp.deliver(std::move(**again)));
        }
        rp.deliver(storage_error(err, "step-up write"));
      });
}

caf::result<op_reply> do_step_up(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  auto body = ws::decode_body(ws::step_up_request_schema(), req);
  if (!body) return body.error();
  auto op = binding_of(body->operation, body->amount, body->payee);
  auto method = factor_from(body->method);
  if (!valid_binding(op) || !method) return make_error(identity_errc::invalid_operation);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "step-up read");
  auto known = store::payee_known(**conn, req.who.subject, op.operation, op.payee);
  if (!known) return storage_error(known.error(), "step-up read");
  auto need = requirement_for(tiers_of(self), op, *known);
  if (!need) return make_error(identity_errc::operation_not_authorisable);
  const auto& accepted = need->step_up_accepted;
  if (std::find(accepted.begin(), accepted.end(), *method) == accepted.end())
    return make_error(identity_errc::step_up_method_not_allowed);
  const auto scope = persistence::idempotency_scope(req.who.subject, req.op);
  auto again = replayed(**conn, req, scope);
  if (!again) return again.error();
  if (*again) return std::move(**again);
  auto device = store::device(**conn, req.who.device_id);
  if (!device) return storage_error(device.error(), "step-up read");
  if (!*device || (*device)->revoked || (*device)->user_id != req.who.subject)
    return make_error(platform_errc::not_found);
  const auto& cfg = self->state.cfg;
  auto now = now_of(self);
  store::step_up_row row;
  row.step_up_id = new_id("su-");
  row.user_id = req.who.subject;
  row.device_id = req.who.device_id;
  row.method = *method;
  row.operation = op;
  row.nonce = random_token(16);
  row.created_at = now;
  ws::step_up_reply reply;
  reply.step_up_id = row.step_up_id;
  reply.method = body->method;
  if (*method == factor::biometric) {
    row.expires_at = now + cfg.step_up_challenge_ttl;
    reply.challenge = step_up_message(row.step_up_id, row.nonce, row.device_id, op, row.expires_at);
    reply.expires_at = to_unix_s(row.expires_at);
    auto rp = self->make_response_promise<op_reply>();
    commit_step_up(self, rp, req, scope, row, reply);
    return rp;
  }
  // A code by SMS that names what it approves; at most otp_step_ups_per_hour per user.
  auto phone = store::phone_of_user(**conn, req.who.subject);
  auto sent = store::otp_step_ups_since(**conn, req.who.subject, now - std::chrono::hours{1});
  if (!phone || !sent) return storage_error(phone ? sent.error() : phone.error(), "step-up read");
  if (!*phone) return make_error(platform_errc::not_found);
  if (*sent >= cfg.otp_step_ups_per_hour) return make_error(identity_errc::otp_resend_too_soon);
  auto rp = self->make_response_promise<op_reply>();
  auto code = random_digits(cfg.otp.code_digits);
  row.code_digest = keyed_digest(row.nonce, code);
  row.expires_at = now + cfg.step_up_otp_ttl;
  reply.expires_at = to_unix_s(row.expires_at);
  auto text = step_up_sms_text(code, op);
  sodium_wipe(code);
  // Send first: a code the user never received is not stored.
  self->request(self->state.sms, cfg.sms_timeout + std::chrono::seconds{1}, send_sms_atom::value,
                **phone, std::move(text))
      .then([self, rp, req, scope, row, reply](bool) mutable {
              commit_step_up(self, rp, req, scope, row, reply);
            },
            [rp](caf::error&) mutable { rp.deliver(make_error(identity_errc::sms_unavailable)); });
  return rp;
}

// Signs the approval for `op` and commits it (audit row, known payee, step-up spent).
void issue_approval(self_ptr self, promise rp, const std::string& user_id,
                    const std::string& device_id, const operation_binding& op, std::string tier,
                    std::optional<std::string> step_up_id) {
  auto& st = self->state;
  auto now = now_of(self);
  tokens::approval a;
  a.approval_id = new_id("ap-");
  a.user_id = user_id;
  a.device_id = device_id;
  a.operation = op;
  a.tier = std::move(tier);
  a.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(now) + st.cfg.approval_ttl;
  auto token = tokens::sign_approval(a, now, st.keys[0]);
  persistence::unit_of_work unit;
  if (step_up_id) store::use_step_up(unit, *step_up_id);
  store::add_known_payee(unit, user_id, op.operation, op.payee, now);
  store::add_approval(unit, a, now);
  ws::approval_reply reply{std::move(token), a.approval_id, a.tier,
                           std::chrono::duration_cast<seconds>(a.expires_at - now).count()};
  commit(
      self, std::move(unit),
      [rp, a, reply = std::move(reply)]() mutable {
        log::info("identity: approval issued",
                  {{"user_id", a.user_id}, {"approval_id", a.approval_id},
                   {"operation", a.operation.operation}, {"tier", a.tier}});
        rp.deliver(reply_of(ws::approval_reply_schema(), reply));
      },
      [rp](caf::error& err) mutable {
        // Another request spent the step-up between our read and write.
        rp.deliver(err == persistence::db_errc::unexpected_rows_affected
                       ? make_error(identity_errc::step_up_invalid)
                       : storage_error(err, "approval write"));
      });
}

// What a step-up proof says, judged before any hashing: the cheap checks first.
enum class proof_verdict { good, wrong, unusable };

caf::expected<proof_verdict> judge_step_up(self_ptr self, persistence::connection& conn,
                                           const store::step_up_row& row,
                                           const ws::step_up_proof& proof,
                                           const operation_binding& op, const op_request& req) {
  auto now = now_of(self);
  if (row.used || now >= row.expires_at || row.user_id != req.who.subject ||
      row.device_id != req.who.device_id || !(row.operation == op) ||
      row.tries >= self->state.cfg.step_up_max_tries)
    return proof_verdict::unusable;
  if (row.method == factor::otp) {
    if (!proof.otp || proof.signature) return proof_verdict::unusable;
    return digests_equal(keyed_digest(row.nonce, *proof.otp), row.code_digest)
               ? proof_verdict::good
               : proof_verdict::wrong;
  }
  if (!proof.signature || proof.otp) return proof_verdict::unusable;
  auto device = store::device(conn, row.device_id);
  if (!device) return device.error();
  if (!*device || (*device)->revoked) return proof_verdict::unusable;
  auto message = step_up_message(row.step_up_id, row.nonce, row.device_id, row.operation,
                                 row.expires_at);
  return signed_by_device(**device, message, *proof.signature) ? proof_verdict::good
                                                               : proof_verdict::wrong;
}

caf::result<op_reply> do_authorise(self_ptr self, const op_request& req) {
  if (auto err = require_user(req, true)) return err;
  auto body = ws::decode_body(ws::authorise_request_schema(), req);
  if (!body) return body.error();
  auto op = binding_of(body->operation, body->amount, body->payee);
  if (!valid_binding(op)) return make_error(identity_errc::invalid_operation);
  auto conn = reader(self);
  if (!conn) return storage_error(conn.error(), "authorise read");
  auto known = store::payee_known(**conn, req.who.subject, op.operation, op.payee);
  if (!known) return storage_error(known.error(), "authorise read");
  auto need = requirement_for(tiers_of(self), op, *known);
  if (!need) return make_error(identity_errc::operation_not_authorisable);

  // The knowledge factor the policy asks for (one of), given as mpin or password.
  std::optional<credential_kind> kind;
  std::string secret;
  if (!need->knowledge_one_of.empty()) {
    if (body->mpin.has_value() && body->password.has_value())
      return make_error(identity_errc::invalid_credential_format);
    auto given = body->mpin ? factor::mpin : factor::password;
    const auto& allowed = need->knowledge_one_of;
    if ((!body->mpin && !body->password) ||
        std::find(allowed.begin(), allowed.end(), given) == allowed.end())
      return make_error(identity_errc::credential_required);
    kind = body->mpin ? credential_kind::mpin : credential_kind::password;
    secret = body->mpin ? std::move(*body->mpin) : std::move(*body->password);
    if (!valid_credential_format(*kind, secret))
      return make_error(identity_errc::invalid_credential_format);
  }

  // The step-up, when the policy asks for one (or the client gave one anyway).
  std::optional<factor> stepped_up;
  std::optional<std::string> step_up_id;
  if (!need->step_up_one_of.empty() && !body->step_up)
    return make_error(identity_errc::step_up_required);
  if (body->step_up) {
    auto row = store::step_up(**conn, body->step_up->step_up_id);
    if (!row) return storage_error(row.error(), "authorise read");
    if (!*row) return make_error(identity_errc::step_up_invalid);
    const auto& accepted = need->step_up_accepted;
    if (std::find(accepted.begin(), accepted.end(), (*row)->method) == accepted.end())
      return make_error(identity_errc::step_up_method_not_allowed);
    auto verdict = judge_step_up(self, **conn, **row, *body->step_up, op, req);
    if (!verdict) return storage_error(verdict.error(), "authorise read");
    if (*verdict == proof_verdict::unusable) return make_error(identity_errc::step_up_invalid);
    if (*verdict == proof_verdict::wrong) {
      log::warn("identity: wrong step-up proof",
                {{"user_id", req.who.subject}, {"step_up_id", (*row)->step_up_id}});
      auto rp = self->make_response_promise<op_reply>();
      persistence::unit_of_work unit;
      store::count_step_up_try(unit, (*row)->step_up_id);
      auto code = (*row)->method == factor::otp ? identity_errc::otp_wrong
                                                : identity_errc::signature_invalid;
      commit(self, std::move(unit), rp, "step-up try",
             [rp, code]() mutable { rp.deliver(make_error(code)); });
      return rp;
    }
    stepped_up = (*row)->method;
    step_up_id = (*row)->step_up_id;
  }

  auto rp = self->make_response_promise<op_reply>();
  std::optional<factor> proven;
  if (kind) proven = *kind == credential_kind::mpin ? factor::mpin : factor::password;
  auto issue = [self, rp, user = req.who.subject, device = req.who.device_id, op,
                tier = tier_name(proven, stepped_up), step_up_id]() mutable {
    issue_approval(self, rp, user, device, op, tier, step_up_id);
  };
  if (kind)
    check_credential(self, rp, req.who.subject, *kind, std::move(secret), issue);
  else
    issue();
  return rp;
}

// ---- partner credentials (client credentials grant) ----

caf::result<op_reply> do_partner_token(self_ptr self, const op_request& req) {
  auto body = ws::decode_body(ws::partner_token_request_schema(), req);
  if (!body) return body.error();
  const auto& cfg = self->state.cfg;
  const partner* p = cfg.partners ? cfg.partners->find(body->client_id) : nullptr;
  // Known or not, one Argon2id verify: the same time and the same answer for both.
  const auto& hash = p ? p->secret_hash : self->state.decoy_hash;
  auto rp = self->make_response_promise<op_reply>();
  hash_job<bool>(
      self, rp,
      [self, rp, p, scope = body->scope.value_or("")](bool ok) mutable {
        if (!ok || p == nullptr) {
          log::warn("identity: partner credentials refused");
          return void(rp.deliver(make_error(identity_errc::wrong_credential)));
        }
        auto scopes = grant_scopes(*p, scope);
        if (!scopes) {
          log::warn("identity: partner asked for a scope it was not given",
                    {{"client_id", p->client_id}});
          return void(rp.deliver(make_error(identity_errc::scope_not_granted)));
        }
        auto& st = self->state;
        auto now = now_of(self);
        tokens::claims c;
        c.subject = partner_subject(p->client_id);
        c.scopes = *scopes;
        c.quota_per_day = p->quota_per_day;
        c.expires_at = now + st.cfg.partner_token_ttl;
        c.token_id = random_token(16);
        ws::partner_token_reply reply;
        reply.access_token = tokens::sign_es256(c, {st.cfg.issuer, st.cfg.audience, now}, st.keys[0]);
        reply.token_type = "Bearer";
        reply.expires_in_s = st.cfg.partner_token_ttl.count();
        for (const auto& s : *scopes) reply.scope += (reply.scope.empty() ? "" : " ") + s;
        log::info("identity: partner token issued", {{"client_id", p->client_id}});
        rp.deliver(reply_of(ws::partner_token_reply_schema(), reply));
      },
      verify_atom::value, hash, std::move(body->client_secret));
  return rp;
}

caf::result<op_reply> do_jwks(self_ptr self) {
  ws::jwks_reply reply;
  for (const auto& k : self->state.keys) {
    auto entry = json::parse(k.public_jwk_json()).as_object();
    auto text = [&](const char* name) { return std::string{entry.at(name).as_string()}; };
    reply.keys.push_back(ws::jwk_entry{text("kty"), text("crv"), text("kid"), text("use"),
                                       text("alg"), text("x"), text("y")});
  }
  return reply_of(ws::jwks_reply_schema(), reply);
}

using op_fn = caf::result<op_reply> (*)(self_ptr, const op_request&);

const std::map<std::string, op_fn, std::less<>>& op_table() {
  static const std::map<std::string, op_fn, std::less<>> table{
      {"identity.register", do_register},
      {"identity.verify_otp", do_verify_otp},
      {"identity.bind_device", do_bind_device},
      {"identity.challenge", do_challenge},
      {"identity.login", do_login},
      {"identity.refresh", do_refresh},
      {"identity.logout", do_logout},
      {"identity.logout_all", do_logout_all},
      {"identity.devices", do_devices},
      {"identity.set_password", do_set_password},
      {"identity.revoke_device", do_revoke_device},
      {"identity.jwks", [](self_ptr self, const op_request&) { return do_jwks(self); }},
      {"identity.step_up", do_step_up},
      {"identity.partner_token", do_partner_token},
      {"identity.authorise", do_authorise},
  };
  return table;
}

tokens::signing_key fresh_key(time_point now) {
  return tokens::signing_key::generate("k-" + std::to_string(to_unix_s(now)) + "-" +
                                       random_token(6));
}

}  // namespace

namespace {

// A signing key's PEM as the database keeps it: sealed under the storage key when there is one.
std::string stored_pem(const identity_settings& settings, const tokens::signing_key& key) {
  auto pem = key.private_pem();
  if (settings.storage_key.empty()) return pem;
  auto sealed = seal_stored(settings.storage_key, pem);
  sodium_wipe(pem);
  return sealed;
}

}  // namespace

caf::expected<std::vector<tokens::signing_key>> load_or_create_keys(
    caf::actor_system& sys, const sup::domain_context& ctx, const identity_settings& settings) {
  auto conn = ctx.readers->borrow();
  if (!conn) return conn.error();
  auto rows = store::published_keys(**conn);
  if (!rows) return rows.error();
  std::vector<tokens::signing_key> keys;
  persistence::unit_of_work reseal;  // keys written in the clear before a storage key was set
  for (const auto& row : *rows) {
    std::string pem = row.private_pem;
    if (is_sealed(pem)) {
      auto opened = settings.storage_key.empty() ? std::nullopt : open_stored(settings.storage_key, pem);
      if (!opened) {
        log::error("identity: a stored signing key does not open: is this the storage key it was "
                   "sealed with (identity.storage_key_file)?",
                   {{"kid", row.kid}});
        return make_error(platform_errc::start_failed);
      }
      pem = std::move(*opened);
    } else if (!settings.storage_key.empty()) {
      log::warn("identity: a signing key was stored in the clear; sealing it now", {{"kid", row.kid}});
      store::replace_stored_key(reseal, row.kid, seal_stored(settings.storage_key, pem));
    }
    std::string err;
    auto key = tokens::signing_key::from_pem(row.kid, pem, err);
    sodium_wipe(pem);
    if (!key) {
      log::error("identity: a stored signing key does not load", {{"kid", row.kid}});
      return make_error(platform_errc::start_failed);
    }
    keys.push_back(std::move(*key));
  }
  caf::scoped_actor self{sys};
  auto write = [&](persistence::unit_of_work unit) {
    caf::error failure;
    self->request(ctx.store, settings.store_timeout, persistence::write_atom::value, std::move(unit))
        .receive([](persistence::unit_results&) {}, [&](caf::error& err) { failure = err; });
    return failure;
  };
  if (!keys.empty()) {
    if (!reseal.steps.empty())
      if (auto err = write(std::move(reseal))) return err;
    return keys;
  }
  auto now = settings.clock->now();
  auto key = fresh_key(now);
  persistence::unit_of_work unit;
  store::add_key(unit, {key.kid, stored_pem(settings, key)}, now);
  if (auto err = write(std::move(unit))) return err;
  log::info("identity: first signing key made", {{"kid", key.kid}});
  keys.push_back(std::move(key));
  return keys;
}

namespace {

service_actor::behavior_type identity_service(service_actor::stateful_pointer<service_state> self,
                                              identity_settings settings,
                                              sup::domain_context_ptr ctx,
                                              std::vector<tokens::signing_key> keys) {
  SUPERAPP_ASSERT(settings.access_token_ttl <= seconds{15 * 60});
  SUPERAPP_ASSERT(settings.approval_ttl > seconds{0} &&
                  settings.approval_ttl <= tokens::approval_max_lifetime);
  SUPERAPP_ASSERT(settings.hashing_workers > 0 && !keys.empty());
  ensure_sodium();
  register_identity_errors();
  auto& st = self->state;
  st.cfg = std::move(settings);
  st.ctx = std::move(ctx);
  st.keys = std::move(keys);
  SUPERAPP_ASSERT(st.cfg.partner_token_ttl > seconds{0} && st.cfg.partner_token_ttl <= seconds{15 * 60});
  if (st.cfg.partners && !st.cfg.partners->partners.empty()) {
    auto decoy = hash_secret(random_token(32), st.cfg.argon2);
    SUPERAPP_ASSERT(decoy.has_value());
    st.decoy_hash = std::move(*decoy);
  }
  for (std::size_t i = 0; i < st.cfg.hashing_workers; ++i)
    st.hashers.push_back(self->spawn<caf::detached + caf::linked>(hasher, st.cfg.argon2, st.cfg.hashing));
  st.sms = self->spawn<caf::detached + caf::linked>(sms_sender, st.cfg.sms_url, st.cfg.sms_timeout);
  return {
      [self](op_atom, op_request& req) { return sup::run_op(op_table(), self, req); },
      [self](rotate_key_atom) -> caf::result<std::string> {
        auto& st = self->state;
        auto now = now_of(self);
        auto key = fresh_key(now);
        auto previous = st.keys.front().kid;
        persistence::unit_of_work unit;
        store::add_key(unit, {key.kid, stored_pem(st.cfg, key)}, now);
        // The previous key stays published so tokens it signed verify until they expire.
        store::retire_keys_except(unit, key.kid, previous, now);
        auto rp = self->make_response_promise<std::string>();
        commit(
            self, std::move(unit),
            [self, rp, key]() mutable {
              auto& keys = self->state.keys;
              keys.resize(1);
              keys.insert(keys.begin(), key);
              log::info("identity: signing key rotated", {{"kid", key.kid}});
              rp.deliver(key.kid);
            },
            [rp](caf::error& err) mutable { rp.deliver(storage_error(err, "rotate key")); });
        return rp;
      },
  };
}

}  // namespace

service_actor spawn_identity_service(caf::local_actor& parent, identity_settings settings,
                                     sup::domain_context_ptr ctx,
                                     std::vector<tokens::signing_key> keys) {
  return sup::spawn_counted<caf::detached>(parent, identity_service, std::move(settings),
                                           std::move(ctx), std::move(keys));
}

}  // namespace superapp::identity
