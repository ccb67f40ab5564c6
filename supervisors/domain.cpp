// Builds a domain's supervision tree from its definition.
#include "supervisors/domain.hpp"

#include <algorithm>
#include <caf/all.hpp>

#include "persistence/connection.hpp"
#include "persistence/writer.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::sup {
namespace {

// The store's start fills this slot; the front door and workers, started after it by the same
// supervisor (so never concurrently), read it.
using context_slot = std::shared_ptr<domain_context_ptr>;

child_spec store_child(const domain_definition& def, const domain_settings& settings,
                       context_slot slot) {
  child_spec c;
  c.id = "store";
  c.shutdown_timeout = settings.shutdown_timeout;
  c.start = [name = def.name, migrations = def.migrations, companions = def.companions,
             main_cfg = with_companions(def, settings.database), settings,
             slot](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    // Companion files first: the domain's connections attach them.
    std::map<std::string, std::shared_ptr<persistence::database>> companion_dbs;
    if (settings.database.engine_kind == persistence::engine::sqlite) {
      for (const auto& c : companions) {
        auto cfg = settings.database;
        cfg.sqlite_attach.clear();  // the settings may name the companions already
        cfg.sqlite_file = persistence::sqlite_companion_path(settings.database, name, c.name);
        // Migrated on a connection of its file alone: with the domain's file attached, its
        // `schema_migrations` would be in reach by the same bare name.
        auto plain = persistence::open_database(cfg, name);
        if (!plain) return plain.error();
        auto conn = (*plain)->connect(persistence::connection_role::writer);
        if (!conn) return conn.error();
        if (auto version = persistence::apply_migrations(**conn, c.migrations); !version) {
          log::error("migrations failed", {{"domain", name}, {"companion", c.name}});
          return version.error();
        }
        cfg.sqlite_attach.emplace_back(name, persistence::sqlite_path(settings.database, name));
        auto attached = persistence::open_database(cfg, name);
        if (!attached) return attached.error();
        companion_dbs.emplace(c.name, std::move(*attached));
      }
    }
    auto db = persistence::open_database(main_cfg, name);
    if (!db) return db.error();
    std::shared_ptr<persistence::database> database{std::move(*db)};
    auto conn = database->connect(persistence::connection_role::writer);
    if (!conn) return conn.error();
    auto version = persistence::apply_migrations(**conn, migrations);
    if (!version) {
      log::error("migrations failed", {{"domain", name}});
      return version.error();
    }
    auto ctx = std::make_shared<domain_context>();
    ctx->domain = name;
    ctx->database = database;
    ctx->companions = std::move(companion_dbs);
    ctx->readers = std::make_shared<persistence::connection_pool>(
        *database, settings.database.reader_connections, persistence::connection_role::reader);
    admission_gate::gate_metrics series;
    if (settings.metrics != nullptr) {
      metrics::label_set labels{{"domain", name}};
      series.admitted = settings.metrics->add_counter(
          "superapp_front_door_requests_total", "Requests admitted at a domain's front door",
          labels);
      series.rejected = settings.metrics->add_counter(
          "superapp_front_door_rejected_total",
          "Requests refused as overloaded at a domain's front door", labels);
      series.latency = settings.metrics->add_histogram(front_door_latency_metric,
                                                       front_door_latency_help, labels);
    }
    ctx->gate = std::make_shared<admission_gate>(settings.front_door_credits, series);
    if (settings.chaos) ctx->chaos = settings.chaos->for_domain(name);
    auto writer = persistence::spawn_writer(parent.system(), std::move(*conn),
                                            {settings.database.max_batch_units});
    ctx->store = caf::actor_cast<caf::actor>(writer);
    *slot = ctx;
    log::info("store up", {{"domain", name}, {"schema_version", *version}});
    return ctx->store;
  };
  return c;
}

}  // namespace

persistence::database_config with_companions(const domain_definition& definition,
                                             persistence::database_config cfg) {
  if (cfg.engine_kind != persistence::engine::sqlite) return cfg;
  for (const auto& c : definition.companions) {
    auto attached = [&](const auto& a) { return a.first == c.name; };
    if (std::none_of(cfg.sqlite_attach.begin(), cfg.sqlite_attach.end(), attached))
      cfg.sqlite_attach.emplace_back(
          c.name, persistence::sqlite_companion_path(cfg, definition.name, c.name));
  }
  return cfg;
}

namespace {

using chaos_due_atom = caf::atom_constant<caf::atom("chaos_due")>;
using chaos_run_atom = caf::atom_constant<caf::atom("chaos_run")>;

// Every front door answers probe, ping and the op `<domain>.ping`, dispatches the domain's ops
// by name (an op nobody handles is `unknown_op`, not CAF's unexpected_message), then the
// domain's own behaviour for everything else. Under an operator's chaos it fails every op with
// `unavailable`, or holds each for the delay and then runs it, answering the original caller.
caf::behavior front_door_actor(caf::event_based_actor* self, domain_context_ptr ctx,
                               front_door_fn domain_behavior,
                               std::shared_ptr<const std::map<std::string, op_handler>> ops,
                               caller_seal_ptr seal) {
  // Domain names are SQL identifiers ([a-z][a-z0-9_]*), so they need no JSON escaping.
  auto pong = R"({"pong":true,"domain":")" + ctx->domain + "\"}";
  auto dispatch = [self, ctx, ops, ping_op = ctx->domain + ".ping",
                   pong](op_request& request) -> caf::result<op_reply> {
    if (request.op == ping_op) return op_reply{pong};
    auto handler = ops->find(request.op);
    if (handler == ops->end()) return make_error(platform_errc::unknown_op);
    return handler->second(self, ctx, request);
  };
  // Ops held by a chaos delay: the promise to the original caller and the request.
  struct held_op {
    caf::response_promise promise;
    op_request request;
  };
  auto held = std::make_shared<std::map<std::uint64_t, held_op>>();
  auto next_held = std::make_shared<std::uint64_t>(0);
  caf::message_handler basics{
      [self](probe_atom) {
        return worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
      [name = ctx->domain](ping_atom) { return name; },
      [self, ctx, seal, dispatch, held, next_held](op_atom,
                                                   op_request& request) -> caf::result<op_reply> {
        // The caller is whoever the gateway says under its seal, never what a message claims.
        if (seal && !seal->verify(request)) {
          log::warn("op refused: caller seal missing, forged, altered or stale",
                    {{"domain", ctx->domain}, {"op", request.op}});
          return make_error(platform_errc::unauthorized);
        }
        if (ctx->chaos) {
          auto chaos = ctx->chaos->current(wall_clock_ms());
          if (chaos.mode == chaos_mode::fail) return make_error(platform_errc::unavailable);
          if (chaos.mode == chaos_mode::delay) {
            auto id = ++*next_held;
            held->emplace(id, held_op{self->make_response_promise(), std::move(request)});
            self->delayed_send(self, std::chrono::milliseconds{chaos.delay_ms},
                               chaos_due_atom::value, id);
            return caf::delegated<op_reply>{};
          }
        }
        return dispatch(request);
      },
      [self, held](chaos_due_atom, std::uint64_t id) {
        auto i = held->find(id);
        if (i == held->end()) return;
        // Back through this actor as the original caller's request, so the handler's answer,
        // now or later, goes to that caller. The request stays here until it runs.
        auto promise = std::move(i->second.promise);
        promise.delegate(caf::actor_cast<caf::actor>(self), chaos_run_atom::value, id);
      },
      [held, dispatch](chaos_run_atom, std::uint64_t id) -> caf::result<op_reply> {
        // Only ids this actor handed out run (their seal was checked when they came in).
        auto i = held->find(id);
        if (i == held->end()) return make_error(platform_errc::unauthorized);
        auto request = std::move(i->second.request);
        held->erase(i);
        return dispatch(request);
      },
  };
  if (!domain_behavior) return basics;
  auto own = domain_behavior(self, ctx);
  return basics.or_else(caf::message_handler{own.as_behavior_impl()});
}

child_spec front_door_child(const domain_definition& def, const domain_settings& settings,
                            context_slot slot) {
  child_spec c;
  c.id = "front_door";
  c.answers_probe = true;
  c.shutdown_timeout = settings.shutdown_timeout;
  c.start = [behavior = def.front_door,
             ops = std::make_shared<const std::map<std::string, op_handler>>(def.ops),
             directory = settings.directory, seal = settings.caller_seal,
             slot](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    auto ctx = *slot;
    SUPERAPP_ASSERT(ctx != nullptr);
    auto door = sup::spawn_counted(parent, front_door_actor, ctx, behavior, ops, seal);
    if (directory) directory->publish(ctx->domain, door, ctx->gate);
    return door;
  };
  return c;
}

}  // namespace

supervisor_spec domain_supervisor(domain_definition definition, domain_settings settings) {
  SUPERAPP_ASSERT(!definition.name.empty());
  auto slot = std::make_shared<domain_context_ptr>();
  supervisor_spec spec;
  spec.name = definition.name;
  spec.strategy_kind = strategy::rest_for_one;
  spec.intensity = settings.intensity;
  spec.backoff = settings.backoff;
  spec.children.push_back(store_child(definition, settings, slot));
  spec.children.push_back(front_door_child(definition, settings, slot));
  for (auto& worker : definition.workers) {
    SUPERAPP_ASSERT(static_cast<bool>(worker.start));
    child_spec c = worker.spec;
    c.start = [start = worker.start, slot](caf::local_actor& parent,
                                           const caf::message& args) -> caf::expected<caf::actor> {
      return start(parent, args, *slot);
    };
    spec.children.push_back(std::move(c));
  }
  return spec;
}

}  // namespace superapp::sup

namespace superapp::sup {

supervisor_spec node_root_supervisor(std::string name, std::vector<supervisor_spec> domains) {
  supervisor_spec spec;
  spec.name = std::move(name);
  spec.strategy_kind = strategy::one_for_one;
  // With a 30 s backoff cap, one domain can fail at most ~6 times a minute at steady state.
  spec.intensity = {10 * std::max<int>(1, static_cast<int>(domains.size())), std::chrono::minutes{1}};
  spec.backoff = {std::chrono::seconds{1}, std::chrono::seconds{30}, 20};
  for (auto& d : domains) spec.children.push_back(supervisor_child(std::move(d)));
  return spec;
}

}  // namespace superapp::sup
