// Limits per KYC level: the user_limits table, the kyc.check.verified events, and the worker
// that keeps the first from the second.
#include "actors/banking/limits.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/banking/ledger_writer.hpp"
#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/bus_messages.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::banking {

std::string wallet_id(std::string_view user_id, std::string_view currency) {
  return "wallet:" + std::string{user_id} + ":" + std::string{currency};
}

std::optional<std::string> wallet_owner(std::string_view account_id) {
  constexpr std::string_view prefix = "wallet:";
  // "wallet:" + user + ":" + three letters
  if (account_id.rfind(prefix, 0) != 0 || account_id.size() < prefix.size() + 5 ||
      account_id[account_id.size() - 4] != ':')
    return std::nullopt;
  return std::string{account_id.substr(prefix.size(), account_id.size() - prefix.size() - 4)};
}

namespace store {

using persistence::int_at;
using persistence::text_at;

persistence::migration limits_migration(std::int64_t version) {
  return persistence::migration{version, "banking: limits per KYC level", R"sql(
CREATE TABLE user_limits (
  user_id TEXT NOT NULL,
  currency TEXT NOT NULL,
  level TEXT NOT NULL,
  per_transaction BIGINT NOT NULL,
  per_day BIGINT NOT NULL,
  balance BIGINT NOT NULL,
  PRIMARY KEY (user_id, currency)
);
)sql"};
}

caf::expected<std::map<std::string, limits_by_currency>> load_limits(persistence::connection& c) {
  auto r = c.execute({"SELECT user_id, currency, per_transaction, per_day, balance FROM user_limits", {}});
  if (!r) return r.error();
  std::map<std::string, limits_by_currency> out;
  for (const auto& row : r->rows)
    out[text_at(row, 0)][text_at(row, 1)] = {int_at(row, 2), int_at(row, 3), int_at(row, 4)};
  return out;
}

caf::expected<std::optional<limits_by_currency>> user_limits(persistence::connection& c, const std::string& user_id) {
  auto r = c.execute({"SELECT currency, per_transaction, per_day, balance FROM user_limits WHERE user_id = $1", {user_id}});
  if (!r) return r.error();
  if (r->rows.empty()) return std::optional<limits_by_currency>{};
  limits_by_currency out;
  for (const auto& row : r->rows) out[text_at(row, 0)] = {int_at(row, 1), int_at(row, 2), int_at(row, 3)};
  return std::optional<limits_by_currency>{std::move(out)};
}

persistence::migration levels_migration(std::int64_t version) {
  // Levels recorded before this migration get sequence 0: any kyc event is newer.
  return persistence::migration{version, "banking: the kyc sequence of each user's level", R"sql(
CREATE TABLE user_levels (
  user_id TEXT PRIMARY KEY,
  level TEXT NOT NULL,
  kyc_sequence BIGINT NOT NULL
);
INSERT INTO user_levels (user_id, level, kyc_sequence)
  SELECT user_id, MIN(level), 0 FROM user_limits GROUP BY user_id;
)sql"};
}

caf::expected<std::int64_t> recorded_sequence(persistence::connection& c,
                                              const std::string& user_id) {
  auto r = c.execute({"SELECT kyc_sequence FROM user_levels WHERE user_id = $1", {user_id}});
  if (!r) return r.error();
  return r->rows.empty() ? std::int64_t{0} : int_at(r->rows[0], 0);
}

void set_limits(persistence::unit_of_work& u, const std::string& user_id, const std::string& level,
                const limits_by_currency& limits, std::int64_t kyc_sequence) {
  u.add({"INSERT INTO user_levels (user_id, level, kyc_sequence) VALUES ($1, $2, $3)"
         " ON CONFLICT (user_id) DO UPDATE SET level = excluded.level,"
         " kyc_sequence = excluded.kyc_sequence",
         {user_id, level, kyc_sequence}},
        1);
  u.add({"DELETE FROM user_limits WHERE user_id = $1", {user_id}});
  for (const auto& [currency, l] : limits)
    u.add({"INSERT INTO user_limits (user_id, currency, level, per_transaction, per_day, balance)"
           " VALUES ($1, $2, $3, $4, $5, $6)",
           {user_id, currency, level, l.per_transaction, l.per_day, l.balance}},
          1);
}

caf::expected<std::map<std::string, std::int64_t>> spent_since(persistence::connection& c,
                                                               std::int64_t day_start_ms) {
  auto r = c.execute({"SELECT debit_account, CAST(SUM(amount) AS BIGINT) FROM transfers"
                      " WHERE kind IN ('immediate', 'pending') AND at_ms >= $1 AND debit_account LIKE 'wallet:%'"
                      " GROUP BY debit_account",
                      {day_start_ms}});
  if (!r) return r.error();
  std::map<std::string, std::int64_t> out;
  for (const auto& row : r->rows) out[text_at(row, 0)] = int_at(row, 1);
  return out;
}

}  // namespace store

std::optional<verified_level> parse_verified(const events::event& e) {
  if (e.type != "kyc.check.verified" || e.aggregate_id.empty()) return std::nullopt;
  boost::system::error_code ec;
  auto doc = boost::json::parse(e.body_json, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  const auto* level = o ? o->if_contains("level_now") : nullptr;
  const auto* limits = o ? o->if_contains("limits") : nullptr;
  if (!level || !level->is_string() || !limits || !limits->is_array()) return std::nullopt;
  verified_level out{e.aggregate_id, std::string{level->as_string()}, {}};
  for (const auto& item : limits->as_array()) {
    const auto* l = item.if_object();
    auto number = [l](const char* key) -> std::optional<std::int64_t> {
      const auto* v = l ? l->if_contains(key) : nullptr;
      if (!v || !v->is_int64() || v->as_int64() < 0) return std::nullopt;
      return v->as_int64();
    };
    const auto* currency = l ? l->if_contains("currency") : nullptr;
    auto per_tx = number("per_transaction_minor"), per_day = number("per_day_minor"), balance = number("balance_minor");
    if (!currency || !currency->is_string() || currency->as_string().size() != 3 || !per_tx || !per_day || !balance)
      return std::nullopt;
    out.limits[std::string{currency->as_string()}] = {*per_tx, *per_day, *balance};
  }
  return out;
}

namespace {

using attach_atom = caf::atom_constant<caf::atom("lim_attach")>;
constexpr std::string_view consumer = "banking.kyc_limits";
constexpr std::chrono::milliseconds retry{500};

struct limits_state {
  std::shared_ptr<bus::bus_directory> buses;
  std::shared_ptr<sup::service_slot> ledger;
  sup::domain_context_ptr ctx;
  std::chrono::milliseconds store_timeout{10'000};
  caf::actor bus;
  static inline const char* name = "kyc_limits";
};

using self_ptr = caf::stateful_actor<limits_state>*;

// Whether this consumer applied the event before (its inbox), on a reader connection.
caf::expected<bool> applied(self_ptr self, const events::event_id& id) {
  auto conn = self->state.ctx->readers->borrow();
  if (!conn) return conn.error();
  return persistence::applied_before(**conn, consumer, id);
}

void tell_ledger(self_ptr self, const verified_level& v) {
  if (auto ledger = self->state.ledger->get())
    caf::anon_send(caf::actor_cast<ledger_actor>(ledger), limits_atom::value, v.user_id, v.limits);
}

// Records the level's limits, once per event (the inbox), then tells the ledger. Waits for the
// commit before the next event: levels are applied in the order they arrive, and a level older
// than the one recorded (a lower kyc sequence: a Kafka retry arriving after a later level) is
// claimed in the inbox and changes nothing. `asked` (a durable consumer's request) is answered
// true once recorded, or with the error, which the consumer retries; without it (the bus) a
// failure restarts the worker, which replays the ring.
void apply(self_ptr self, const events::event& e, std::optional<caf::response_promise> asked = {}) {
  auto v = parse_verified(e);
  if (!v) {
    if (asked) asked->deliver(true);  // not banking's concern: done with it
    return;
  }
  auto recorded = [&]() -> caf::expected<std::int64_t> {
    auto conn = self->state.ctx->readers->borrow();
    if (!conn) return conn.error();
    return store::recorded_sequence(**conn, v->user_id);
  }();
  if (!recorded) {
    log::error("banking: the recorded KYC level could not be read",
               {{"user_id", v->user_id}, {"code", superapp::describe(recorded.error()).wire_code}});
    if (asked)
      asked->deliver(recorded.error());
    else
      self->quit(recorded.error());
    return;
  }
  const bool newer = e.sequence > *recorded;
  auto now_ms = e.occurred_at_ms;
  persistence::unit_of_work unit;
  persistence::inbox_claim(unit, consumer, e.id, now_ms);
  if (newer) store::set_limits(unit, v->user_id, v->level, v->limits, e.sequence);
  self->request(self->state.ctx->store, self->state.store_timeout, persistence::write_atom::value,
                std::move(unit))
      .await(
          [self, v = *v, asked, newer, seq = e.sequence](persistence::unit_results&) mutable {
            if (newer) {
              log::info("banking: limits of a KYC level recorded",
                        {{"user_id", v.user_id}, {"level", v.level}});
              tell_ledger(self, v);
            } else {
              log::warn("banking: a KYC level older than the one recorded is ignored",
                        {{"user_id", v.user_id}, {"level", v.level}, {"kyc_sequence", seq}});
            }
            if (asked) asked->deliver(true);
          },
          [self, v = *v, id = e.id, asked, newer, seq = e.sequence,
           recorded = *recorded](caf::error& err) mutable {
            auto seen = applied(self, id);
            if (seen && *seen) {  // a replay: recorded before (the ledger may have restarted since)
              if (newer || seq == recorded) tell_ledger(self, v);
              if (asked) asked->deliver(true);
              return;
            }
            log::error("banking: the limits of a KYC level could not be recorded",
                       {{"user_id", v.user_id}, {"code", superapp::describe(err).wire_code}});
            if (asked)
              asked->deliver(err);
            else
              self->quit(err);
          });
}

caf::behavior kyc_limits(self_ptr self, std::shared_ptr<bus::bus_directory> buses,
                         std::shared_ptr<sup::service_slot> ledger, sup::domain_context_ptr ctx,
                         std::chrono::milliseconds store_timeout) {
  auto& st = self->state;
  st.buses = std::move(buses);
  st.ledger = std::move(ledger);
  st.ctx = std::move(ctx);
  st.store_timeout = store_timeout;
  self->set_down_handler([self](caf::down_msg& down) {
    if (self->state.bus && down.source == self->state.bus.address()) {
      self->state.bus = nullptr;
      self->delayed_send(self, retry, attach_atom::value);
    }
  });
  if (st.buses) self->send(self, attach_atom::value);  // else a durable consumer asks
  const auto topic = events::topic_for_domain("kyc");
  return {
      [self](bus::event_apply_atom, const std::string&, const events::event& e) {
        auto promise = self->make_response_promise<bool>();
        apply(self, e, promise);
        return promise;
      },
      [self, topic](attach_atom) {
        auto& st = self->state;
        if (st.bus) return;
        auto current = st.buses ? st.buses->current() : caf::actor{};
        if (!current) {
          self->delayed_send(self, retry, attach_atom::value);
          return;
        }
        st.bus = current;
        self->monitor(current);
        // Everything the bus still holds of the topic (the inbox drops what was applied), then
        // live events. After a node or bus restart kyc's relay has filled the new bus with
        // what it published in the last hour (ADR 0019), so a level the old bus delivered and
        // the node died before recording comes again.
        self->request(current, retry * 10, bus::bus_stats_atom::value)
            .then(
                [self, current, topic](const bus::bus_stats& stats) {
                  self->request(current, retry * 10, bus::bus_subscribe_atom::value, topic,
                                caf::actor_cast<caf::actor>(self), bus::bus_position{stats.epoch, 0})
                      .then([](const bus::bus_subscribed&) {},
                            [self, current, topic](caf::error&) {
                              log::warn("banking: KYC events older than the bus holds were missed");
                              self->request(current, retry * 10, bus::bus_subscribe_atom::value, topic,
                                            caf::actor_cast<caf::actor>(self), bus::bus_position::live())
                                  .then([](const bus::bus_subscribed&) {}, [self](caf::error&) {
                                    self->state.bus = nullptr;
                                    self->delayed_send(self, retry, attach_atom::value);
                                  });
                            });
                },
                [self](caf::error&) {
                  self->state.bus = nullptr;
                  self->delayed_send(self, retry, attach_atom::value);
                });
      },
      [self](bus::bus_event_atom, const bus::bus_delivery& delivery) {
        // A refill after a restart (ADR 0019) repeats mostly what was recorded: skip those by
        // the inbox rather than fail a write for each.
        if (delivery.refilled) {
          if (!parse_verified(delivery.event)) return;
          if (auto seen = applied(self, delivery.event.id); seen && *seen) return;
          log::info("banking: a KYC level missed before the restart is recorded now",
                    {{"user_id", delivery.event.aggregate_id}});
        }
        apply(self, delivery.event);
      },
  };
}

}  // namespace

sup::domain_worker kyc_limits_worker(std::shared_ptr<bus::bus_directory> buses,
                                     std::shared_ptr<sup::service_slot> ledger_slot,
                                     std::chrono::milliseconds store_timeout,
                                     std::shared_ptr<sup::service_slot> handler_slot) {
  sup::domain_worker w;
  w.spec.id = "kyc_limits";
  w.spec.shutdown_timeout = std::chrono::seconds{5};
  w.start = [buses, ledger_slot, store_timeout, handler_slot](
                caf::local_actor& parent, const caf::message&,
                sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto handle =
        sup::spawn_counted(parent, kyc_limits, buses, ledger_slot, std::move(ctx), store_timeout);
    if (handler_slot) handler_slot->set(handle);
    return handle;
  };
  return w;
}

}  // namespace superapp::banking
