// The supervisor actor: OTP semantics (strategies, restart types, intensity) on CAF links.
//
// Every child is monitored: its exit, normal or not, reaches the supervisor as exactly one
// down_msg. Children are not linked, because CAF 0.17 drops the link of an actor that dies from
// an exit_msg sent over it, so the supervisor would never hear that a stopped child is gone.
// Instead, when the supervisor itself ends for any reason (a crash included), an attached
// functor sends every live child an exit: no subtree outlives its supervisor. Any exit_msg the
// supervisor receives is an order to shut down (from its parent or from the node). Work that
// takes more than one message (ordered stops, ordered starts of child supervisors) runs as a
// queue of operations, one at a time, so a crash arriving in the middle of a restart is handled
// after it, against the state the restart left.
#include "supervisors/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::sup::child_spec)

namespace superapp::sup {

const char* to_string(strategy x) {
  switch (x) {
    case strategy::one_for_one:
      return "one_for_one";
    case strategy::one_for_all:
      return "one_for_all";
    case strategy::rest_for_one:
      return "rest_for_one";
    case strategy::simple_one_for_one:
      return "simple_one_for_one";
  }
  return "unknown";
}

const char* to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

namespace {

using time_point = caf::actor_clock::time_point;
using retry_atom = caf::atom_constant<caf::atom("sup_retry")>;
using kill_atom = caf::atom_constant<caf::atom("sup_kill")>;

constexpr auto report_timeout = std::chrono::seconds{1};
// Dynamic children are keyed above this bit; static children by their index.
constexpr std::uint64_t dynamic_key_bit = std::uint64_t{1} << 63;

enum class child_state : std::uint8_t { starting, running, restarting, stopping, stopped, failed };

const char* to_string(child_state x) {
  switch (x) {
    case child_state::starting:
      return "starting";
    case child_state::running:
      return "running";
    case child_state::restarting:
      return "restarting";
    case child_state::stopping:
      return "stopping";
    case child_state::stopped:
      return "stopped";
    case child_state::failed:
      return "failed";
  }
  return "unknown";
}

struct child_record {
  std::shared_ptr<const child_spec> spec;
  caf::message args;
  caf::actor handle;  // set while an incarnation is alive, even one whose start failed
  child_state state = child_state::stopped;
  bool removed = false;  // temporary static child that ended: never started again
  std::int64_t restarts = 0;
  int consecutive_failures = 0;
  std::string last_exit_reason;
  time_point started_at{};
  std::uint64_t generation = 0;  // bumps on every start; stale timers and replies compare it
};

// Children being stopped together; the continuation runs when all have exited.
struct stop_wait {
  std::unordered_set<caf::actor_id> ids;
  std::vector<caf::actor> handles;
  std::function<void()> done;
  std::uint64_t token = 0;
};

bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::user_shutdown;
}

struct supervisor_state {
  supervisor_spec spec;
  std::string path;  // names from the root joined by '/': the `actor` field of log lines
  time_point started_at{};

  std::vector<child_record> statics;
  std::unordered_map<std::uint64_t, child_record> dynamics;
  std::uint64_t next_dynamic_key = dynamic_key_bit | 1;
  std::unordered_map<caf::actor_id, std::uint64_t> key_by_id;
  // Shared with the functor that takes the children down if the supervisor ends first.
  std::shared_ptr<std::unordered_map<caf::actor_id, caf::actor>> live =
      std::make_shared<std::unordered_map<caf::actor_id, caf::actor>>();

  std::deque<time_point> restart_times;
  std::mt19937_64 rng;

  std::deque<std::function<void()>> ops;
  bool op_running = false;
  std::optional<stop_wait> stopping;
  std::uint64_t next_stop_token = 1;

  bool started = false;
  caf::error start_error;
  bool shutting_down = false;
  std::vector<caf::response_promise> ready_waiters;

  static inline const char* name = "supervisor";
};

using sup_actor = caf::stateful_actor<supervisor_state>*;

// Everything the behaviour does, as functions over the actor; the behaviour only dispatches.
class supervisor_logic {
 public:
  explicit supervisor_logic(sup_actor self) : self_(self) {}

  supervisor_state& st() { return self_->state; }

  child_record* record(std::uint64_t key) {
    if (key & dynamic_key_bit) {
      auto i = st().dynamics.find(key);
      return i == st().dynamics.end() ? nullptr : &i->second;
    }
    return key < st().statics.size() ? &st().statics[key] : nullptr;
  }

  // CAF's own reasons as CAF words; ours as category.wire_code, e.g. platform.start_failed.
  std::string render(const caf::error& err) {
    if (!err) return "normal";
    if (err.category() == caf::atom("system") || err.category() == caf::atom("exit"))
      return self_->system().render(err);
    return caf::to_string(err.category()) + "." + std::string{describe(err).wire_code};
  }

  std::string child_path(const child_record& rec) const {
    return self_->state.path + "/" + rec.spec->id;
  }

  // -- operation queue -----------------------------------------------------

  void push_op(std::function<void()> op) {
    st().ops.push_back(std::move(op));
    run_ops();
  }

  void run_ops() {
    while (!st().op_running && !st().ops.empty()) {
      auto op = std::move(st().ops.front());
      st().ops.pop_front();
      st().op_running = true;
      op();
    }
  }

  void op_done() {
    st().op_running = false;
    run_ops();
  }

  // -- starting ----------------------------------------------------------------

  // Starts one child; `done` gets none or the start error. Child supervisors count as started
  // only when their whole subtree is.
  void start_one(std::uint64_t key, std::function<void(caf::error)> done) {
    auto* rec = record(key);
    SUPERAPP_ASSERT(rec != nullptr);
    SUPERAPP_ASSERT(!rec->handle);
    rec->generation += 1;
    rec->state = child_state::starting;
    auto generation = rec->generation;
    caf::expected<caf::actor> started = caf::error{};
    try {
      // A child supervisor learns its parent's path from its start arguments.
      started = rec->spec->kind == child_kind::supervisor && rec->args.empty()
                    ? rec->spec->start(*self_, caf::make_message(st().path))
                    : rec->spec->start(*self_, rec->args);
    } catch (const std::exception& e) {
      log::error("child start threw", {{"actor", child_path(*rec)}, {"what", e.what()}});
      started = make_error(platform_errc::start_failed);
    }
    if (!started || !*started) {
      auto err = started ? make_error(platform_errc::start_failed) : started.error();
      rec->state = child_state::failed;
      rec->last_exit_reason = render(err);
      log::warn("child failed to start",
                {{"actor", child_path(*rec)}, {"reason", rec->last_exit_reason}});
      done(err);
      return;
    }
    auto handle = *started;
    self_->monitor(handle);
    st().key_by_id[handle.id()] = key;
    st().live->emplace(handle.id(), handle);
    rec->handle = handle;
    rec->started_at = self_->clock().now();
    if (rec->spec->kind == child_kind::worker) {
      rec->state = child_state::running;
      done(caf::none);
      return;
    }
    self_->request(handle, st().spec.child_ready_timeout, ready_atom::value)
        .then(
            [this, key, generation, done](ready_atom) {
              auto* r = record(key);
              if (r != nullptr && r->generation == generation && r->state == child_state::starting)
                r->state = child_state::running;
              done(caf::none);
            },
            [this, key, generation, done](caf::error& err) {
              auto* r = record(key);
              if (r != nullptr && r->generation == generation) {
                r->state = child_state::failed;
                r->last_exit_reason = render(err);
                // A subtree that timed out starting may still be alive: take it down.
                if (r->handle) self_->send_exit(r->handle, caf::exit_reason::kill);
              }
              done(err);
            });
  }

  // Starts `keys` one after another; stops at the first failure and reports its key.
  void start_sequence(std::vector<std::uint64_t> keys, std::size_t next,
                      std::function<void(std::optional<std::uint64_t>, caf::error)> done) {
    if (next == keys.size()) {
      done(std::nullopt, caf::none);
      return;
    }
    auto key = keys[next];
    start_one(key, [this, keys = std::move(keys), next, done](caf::error err) mutable {
      if (err) {
        done(keys[next], std::move(err));
        return;
      }
      start_sequence(std::move(keys), next + 1, std::move(done));
    });
  }

  void start_initial_children() {
    std::vector<std::uint64_t> keys;
    for (std::size_t i = 0; i < st().statics.size(); ++i) keys.push_back(i);
    start_sequence(std::move(keys), 0,
                   [this](std::optional<std::uint64_t> failed_key, caf::error err) {
                     if (err) {
                       log::error("supervisor start failed",
                                  {{"actor", child_path(*record(*failed_key))},
                                   {"reason", render(err)}});
                       st().start_error = make_error(platform_errc::start_failed);
                       begin_shutdown(st().start_error);
                       op_done();
                       return;
                     }
                     st().started = true;
                     for (auto& rp : st().ready_waiters) rp.deliver(ready_atom::value);
                     st().ready_waiters.clear();
                     op_done();
                   });
  }

  // -- stopping ----------------------------------------------------------------

  // Stops the given children at the same time; `done` runs once every one has exited.
  // Children that outlive their shutdown_timeout are killed.
  void stop_group(const std::vector<std::uint64_t>& keys, std::function<void()> done) {
    SUPERAPP_ASSERT(!st().stopping);
    stop_wait wait;
    wait.token = st().next_stop_token++;
    auto timeout = std::chrono::milliseconds{0};
    for (auto key : keys) {
      auto* rec = record(key);
      if (rec == nullptr) continue;
      if (!rec->handle) {
        if (rec->state != child_state::failed) rec->state = child_state::stopped;
        continue;
      }
      rec->state = child_state::stopping;
      wait.ids.insert(rec->handle.id());
      wait.handles.push_back(rec->handle);
      timeout = std::max(timeout, rec->spec->shutdown_timeout);
    }
    if (wait.ids.empty()) {
      done();
      return;
    }
    wait.done = std::move(done);
    auto token = wait.token;
    for (auto& h : wait.handles) self_->send_exit(h, caf::exit_reason::user_shutdown);
    st().stopping = std::move(wait);
    self_->delayed_send(self_, timeout, kill_atom::value, token);
  }

  void on_kill_timer(std::uint64_t token) {
    if (!st().stopping || st().stopping->token != token) return;
    for (auto& h : st().stopping->handles)
      if (st().stopping->ids.count(h.id()) > 0) {
        log::warn("killing a child after its shutdown timeout",
                  {{"actor", st().path}, {"actor_id", static_cast<std::uint64_t>(h.id())}});
        self_->send_exit(h, caf::exit_reason::kill);
      }
  }

  // Stops `keys` one by one in the given order (each waits for the previous).
  void stop_sequence(std::vector<std::uint64_t> keys, std::size_t next, std::function<void()> done) {
    if (next == keys.size()) {
      done();
      return;
    }
    auto key = keys[next];
    stop_group({key}, [this, keys = std::move(keys), next, done = std::move(done)]() mutable {
      stop_sequence(std::move(keys), next + 1, std::move(done));
    });
  }

  std::vector<std::uint64_t> dynamic_keys() {
    std::vector<std::uint64_t> keys;
    keys.reserve(st().dynamics.size());
    for (auto& [key, rec] : st().dynamics) keys.push_back(key);
    return keys;
  }

  std::vector<std::uint64_t> static_keys_reversed() {
    std::vector<std::uint64_t> keys;
    for (std::size_t i = st().statics.size(); i > 0; --i) keys.push_back(i - 1);
    return keys;
  }

  // Orderly shutdown: dynamic children all at once, then static ones in reverse start order,
  // then exit with `reason`. Pending operations are dropped; one already running finishes first.
  void begin_shutdown(caf::error reason) {
    if (st().shutting_down) return;
    st().shutting_down = true;
    st().ops.clear();
    for (auto& rp : st().ready_waiters)
      rp.deliver(st().start_error ? st().start_error : make_error(platform_errc::shutting_down));
    st().ready_waiters.clear();
    push_op([this, reason = std::move(reason)]() mutable {
      stop_group(dynamic_keys(), [this, reason = std::move(reason)]() mutable {
        st().dynamics.clear();
        stop_sequence(static_keys_reversed(), 0, [this, reason = std::move(reason)] {
          log::info("supervisor stopped", {{"actor", st().path}, {"reason", render(reason)}});
          self_->quit(reason);
        });
      });
    });
  }

  // -- exits and restarts --------------------------------------------------------

  // Any exit_msg is an order to shut this subtree down, from the parent or the node.
  void on_exit(caf::exit_msg& msg) {
    begin_shutdown(msg.reason ? msg.reason : caf::error{caf::exit_reason::user_shutdown});
  }

  void on_down(caf::down_msg& msg) {
    auto id = msg.source ? msg.source.id() : caf::actor_id{0};
    auto found = st().key_by_id.find(id);
    if (found == st().key_by_id.end()) return;
    auto key = found->second;
    st().key_by_id.erase(found);
    st().live->erase(id);
    auto* rec = record(key);
    if (rec == nullptr || rec->handle.address() != msg.source) return;  // an old incarnation
    rec->handle = nullptr;
    rec->last_exit_reason = render(msg.reason);
    if (st().stopping && st().stopping->ids.erase(id) > 0) {
      if (rec->state == child_state::stopping) rec->state = child_state::stopped;
      if (st().stopping->ids.empty()) {
        auto done = std::move(st().stopping->done);
        st().stopping.reset();
        done();
      }
      return;
    }
    // A child supervisor dying before it reported ready, or one whose start already failed:
    // the start path accounts for it.
    if (rec->state == child_state::starting || rec->state == child_state::failed) return;
    rec->state = child_state::stopped;
    if (st().shutting_down) return;
    if (!is_normal_exit(msg.reason))
      log::warn("child crashed",
                {{"actor", child_path(*rec)}, {"reason", rec->last_exit_reason}});
    auto generation = rec->generation;
    push_op([this, key, generation, reason = msg.reason] {
      handle_child_exit(key, generation, reason);
    });
  }

  void handle_child_exit(std::uint64_t key, std::uint64_t generation, const caf::error& reason) {
    auto* rec = record(key);
    if (rec == nullptr || rec->generation != generation || rec->handle) {
      op_done();  // superseded: restarted meanwhile by a wider restart
      return;
    }
    auto restart = rec->spec->restart;
    bool wanted = restart == restart_type::permanent ||
                  (restart == restart_type::transient && !is_normal_exit(reason));
    if (!wanted) {
      forget(key);
      op_done();
      return;
    }
    schedule_restart(key, /*after_running=*/true);
    op_done();
  }

  // Drops a child that will not run again (temporary, or transient that ended normally).
  void forget(std::uint64_t key) {
    if (key & dynamic_key_bit) {
      st().dynamics.erase(key);
      return;
    }
    auto* rec = record(key);
    if (rec->spec->restart == restart_type::temporary) rec->removed = true;
    rec->state = child_state::stopped;
  }

  // Counts a restart against the intensity; false when the supervisor must give up.
  bool admit_restart() {
    auto now = self_->clock().now();
    auto& times = st().restart_times;
    times.push_back(now);
    while (!times.empty() && times.front() + st().spec.intensity.period <= now) times.pop_front();
    return static_cast<int>(times.size()) <= st().spec.intensity.max_restarts;
  }

  std::chrono::milliseconds backoff_delay(int consecutive_failures) {
    const auto& b = st().spec.backoff;
    if (b.initial.count() <= 0 || consecutive_failures <= 0) return std::chrono::milliseconds{0};
    auto delay = b.initial;
    for (int i = 1; i < consecutive_failures && delay < b.max; ++i) delay *= 2;
    if (b.max.count() > 0) delay = std::min(delay, b.max);
    if (b.jitter_percent > 0) {
      auto spread = delay.count() * b.jitter_percent / 100;
      std::uniform_int_distribution<std::int64_t> dist{-spread, spread};
      delay += std::chrono::milliseconds{dist(st().rng)};
    }
    return std::max(delay, std::chrono::milliseconds{0});
  }

  // `after_running`: the child ran and then ended, rather than failing to start. One that ran
  // longer than the intensity period without failing starts its backoff afresh.
  void schedule_restart(std::uint64_t key, bool after_running) {
    auto* rec = record(key);
    if (after_running && rec->started_at + st().spec.intensity.period <= self_->clock().now())
      rec->consecutive_failures = 0;
    rec->restarts += 1;
    rec->consecutive_failures += 1;
    if (!admit_restart()) {
      log::error("supervisor gives up: restart intensity exceeded",
                 {{"actor", st().path},
                  {"max_restarts", st().spec.intensity.max_restarts},
                  {"period_ms", static_cast<std::int64_t>(st().spec.intensity.period.count())}});
      begin_shutdown(make_error(platform_errc::restart_intensity_exceeded));
      return;
    }
    rec->state = child_state::restarting;
    auto delay = backoff_delay(rec->consecutive_failures);
    auto generation = rec->generation;
    if (delay.count() == 0) {
      push_op([this, key, generation] { restart_after_exit(key, generation); });
      return;
    }
    self_->delayed_send(self_, delay, retry_atom::value, key, generation);
  }

  void on_retry(std::uint64_t key, std::uint64_t generation) {
    if (st().shutting_down) return;
    push_op([this, key, generation] { restart_after_exit(key, generation); });
  }

  // Restarts per strategy: one child, all children, or the child and those started after it.
  void restart_after_exit(std::uint64_t key, std::uint64_t generation) {
    auto* rec = record(key);
    if (rec == nullptr || rec->generation != generation || rec->state != child_state::restarting) {
      op_done();
      return;
    }
    auto strategy_kind = st().spec.strategy_kind;
    if (strategy_kind == strategy::one_for_one || strategy_kind == strategy::simple_one_for_one ||
        (key & dynamic_key_bit)) {
      start_one(key, [this, key](caf::error err) {
        on_restart_result(key, std::move(err));
        op_done();
      });
      return;
    }
    std::size_t first = strategy_kind == strategy::one_for_all ? 0 : key;
    std::vector<std::uint64_t> to_stop;  // reverse start order
    for (std::size_t i = st().statics.size(); i > first; --i)
      if (i - 1 != key) to_stop.push_back(i - 1);
    stop_sequence(to_stop, 0, [this, key, first] {
      std::vector<std::uint64_t> to_start;
      for (std::size_t i = first; i < st().statics.size(); ++i) {
        auto& r = st().statics[i];
        if (r.removed) continue;
        if (i != key && r.spec->restart == restart_type::temporary) {
          r.removed = true;  // OTP: temporary children are not restarted with their siblings
          continue;
        }
        if (!r.handle) to_start.push_back(i);
      }
      start_sequence(std::move(to_start), 0,
                     [this](std::optional<std::uint64_t> failed_key, caf::error err) {
                       if (err) on_restart_result(*failed_key, std::move(err));
                       op_done();
                     });
    });
  }

  void on_restart_result(std::uint64_t key, caf::error err) {
    auto* rec = record(key);
    if (rec == nullptr) return;
    if (!err) {
      log::info("child restarted", {{"actor", child_path(*rec)}, {"restarts", rec->restarts}});
      return;
    }
    // A failed restart counts as one more failure, with the same intensity and backoff.
    if (st().shutting_down) return;
    schedule_restart(key, /*after_running=*/false);
  }

  // -- dynamic children (simple_one_for_one) --------------------------------------------------

  caf::result<caf::actor> start_dynamic(caf::message args) {
    if (st().spec.strategy_kind != strategy::simple_one_for_one)
      return make_error(platform_errc::invalid_argument);
    if (st().shutting_down) return make_error(platform_errc::shutting_down);
    if (st().dynamics.size() >= st().spec.max_dynamic_children)
      return make_error(platform_errc::overloaded);
    auto key = st().next_dynamic_key++;
    auto& rec = st().dynamics[key];
    rec.spec = st().statics.empty() ? nullptr : st().statics.front().spec;
    SUPERAPP_ASSERT(rec.spec != nullptr);
    rec.args = std::move(args);
    auto rp = self_->make_response_promise<caf::actor>();
    start_one(key, [this, key, rp](caf::error err) mutable {
      if (err) {
        auto* r = record(key);
        if (r != nullptr && !r->handle) st().dynamics.erase(key);
        rp.deliver(std::move(err));
        return;
      }
      rp.deliver(record(key)->handle);
    });
    return rp;
  }

  std::optional<std::uint64_t> key_of(const std::string& id) {
    for (std::size_t i = 0; i < st().statics.size(); ++i)
      if (!st().statics[i].removed && st().statics[i].spec->id == id) return i;
    return std::nullopt;
  }

  caf::result<caf::unit_t> stop_child(std::optional<std::uint64_t> key) {
    if (!key) return make_error(platform_errc::not_found);
    auto rp = self_->make_response_promise<caf::unit_t>();
    push_op([this, key = *key, rp]() mutable {
      stop_group({key}, [this, key, rp]() mutable {
        if (key & dynamic_key_bit) st().dynamics.erase(key);
        rp.deliver(caf::unit);
        op_done();
      });
    });
    return rp;
  }

  // Operator action: stop the child (and its subtree) and start it again, outside the
  // restart intensity.
  caf::result<caf::unit_t> restart_child(const std::string& id) {
    auto key = key_of(id);
    if (!key || st().shutting_down) return make_error(platform_errc::not_found);
    auto rp = self_->make_response_promise<caf::unit_t>();
    push_op([this, key = *key, rp]() mutable {
      stop_group({key}, [this, key, rp]() mutable {
        start_one(key, [this, key, rp](caf::error err) mutable {
          if (err) {
            rp.deliver(err);
            on_restart_result(key, std::move(err));
          } else {
            rp.deliver(caf::unit);
          }
          op_done();
        });
      });
    });
    return rp;
  }

  // -- reports -------------------------------------------------------------------------------

  tree_node describe_child(const child_record& rec) {
    tree_node n;
    n.name = rec.spec->id;
    n.kind = rec.spec->kind == child_kind::supervisor ? "supervisor" : "worker";
    n.restart = to_string(rec.spec->restart);
    n.state = to_string(rec.state);
    n.restarts = rec.restarts;
    n.last_exit_reason = rec.last_exit_reason;
    if (rec.handle) {
      n.messages = messages_of(rec.handle);
      n.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(self_->clock().now() -
                                                                          rec.started_at)
                        .count();
    }
    return n;
  }

  tree_node describe_self() {
    tree_node n;
    n.name = st().spec.name;
    n.kind = "supervisor";
    n.strategy = to_string(st().spec.strategy_kind);
    n.state = st().shutting_down ? "stopping" : (st().started ? "running" : "starting");
    auto now = self_->clock().now();
    auto& times = st().restart_times;
    while (!times.empty() && times.front() + st().spec.intensity.period <= now) times.pop_front();
    n.intensity_used = static_cast<std::int64_t>(times.size());
    n.intensity_max = st().spec.intensity.max_restarts;
    n.intensity_period_ms = st().spec.intensity.period.count();
    n.mailbox_depth = static_cast<std::int64_t>(self_->mailbox().size());
    n.messages = messages_of_self(self_);
    n.uptime_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - st().started_at).count();
    n.dynamic_children = static_cast<std::int64_t>(st().dynamics.size());
    return n;
  }

  caf::result<tree_node> report() {
    struct job {
      tree_node node;
      std::size_t pending = 0;
      caf::typed_response_promise<tree_node> rp;
    };
    auto j = std::make_shared<job>();
    j->node = describe_self();
    std::vector<const child_record*> shown;
    for (auto& r : st().statics)
      if (!r.removed && st().spec.strategy_kind != strategy::simple_one_for_one)
        shown.push_back(&r);
    if (!st().dynamics.empty()) {
      std::vector<const child_record*> all;
      for (auto& [key, r] : st().dynamics) all.push_back(&r);
      auto n = std::min(all.size(), st().spec.report_children_max);
      std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                        [](const child_record* a, const child_record* b) {
                          if (a->restarts != b->restarts) return a->restarts > b->restarts;
                          return a->started_at < b->started_at;
                        });
      shown.insert(shown.end(), all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    }
    j->rp = self_->make_response_promise<tree_node>();
    j->node.children.reserve(shown.size());
    auto finish_one = [j] {
      if (--j->pending == 0) j->rp.deliver(std::move(j->node));
    };
    j->pending = 1;  // released below, after every probe was sent
    for (auto* r : shown) {
      auto idx = j->node.children.size();
      j->node.children.push_back(describe_child(*r));
      if (!r->handle || r->state != child_state::running) continue;
      if (r->spec->kind == child_kind::supervisor) {
        ++j->pending;
        self_->request(r->handle, report_timeout, report_atom::value)
            .then(
                [j, idx, finish_one](tree_node& sub) {
                  auto& mine = j->node.children[idx];
                  mine.strategy = std::move(sub.strategy);
                  mine.intensity_used = sub.intensity_used;
                  mine.intensity_max = sub.intensity_max;
                  mine.intensity_period_ms = sub.intensity_period_ms;
                  mine.mailbox_depth = sub.mailbox_depth;
                  mine.dynamic_children = sub.dynamic_children;
                  mine.children = std::move(sub.children);
                  finish_one();
                },
                [finish_one](caf::error&) { finish_one(); });
      } else if (r->spec->answers_probe) {
        ++j->pending;
        self_->request(r->handle, report_timeout, probe_atom::value)
            .then(
                [j, idx, finish_one](worker_stats& ws) {
                  j->node.children[idx].mailbox_depth = ws.mailbox_depth;
                  finish_one();
                },
                [finish_one](caf::error&) { finish_one(); });
      }
    }
    auto rp = j->rp;
    finish_one();
    return rp;
  }

  caf::result<ready_atom> ready() {
    if (st().started) return ready_atom::value;
    if (st().start_error) return st().start_error;
    if (st().shutting_down) return make_error(platform_errc::shutting_down);
    auto rp = self_->make_response_promise();
    st().ready_waiters.push_back(rp);
    return rp;
  }

 private:
  sup_actor self_;
};

caf::behavior supervisor_actor(sup_actor self, supervisor_spec spec, std::string parent_path) {
  SUPERAPP_ASSERT(spec.intensity.max_restarts >= 0);
  SUPERAPP_ASSERT(spec.intensity.period.count() > 0);
  if (spec.strategy_kind == strategy::simple_one_for_one) SUPERAPP_ASSERT(spec.children.size() == 1);
  auto& st = self->state;
  st.started_at = self->clock().now();
  st.path = parent_path.empty() ? spec.name : parent_path + "/" + spec.name;
  st.rng.seed(spec.jitter_seed != 0 ? spec.jitter_seed : std::random_device{}());
  for (auto& c : spec.children) {
    SUPERAPP_ASSERT(static_cast<bool>(c.start));
    child_record rec;
    rec.spec = std::make_shared<const child_spec>(c);
    st.statics.push_back(std::move(rec));
  }
  st.spec = std::move(spec);
  auto logic = std::make_shared<supervisor_logic>(self);
  self->set_exit_handler([logic](caf::exit_msg& msg) { logic->on_exit(msg); });
  self->set_down_handler([logic](caf::down_msg& msg) { logic->on_down(msg); });
  // Normally empty by now (an orderly stop went first); after a crash or a kill it is not.
  self->attach_functor([live = st.live](const caf::error&) {
    for (auto& [id, child] : *live)
      caf::anon_send_exit(child.address(), caf::exit_reason::user_shutdown);
  });
  if (st.spec.strategy_kind == strategy::simple_one_for_one) {
    st.started = true;
  } else {
    logic->push_op([logic] { logic->start_initial_children(); });
  }
  return {
      [logic](ready_atom) { return logic->ready(); },
      [logic](start_child_atom, caf::message& args) {
        return logic->start_dynamic(std::move(args));
      },
      [logic](start_child_atom) { return logic->start_dynamic(caf::message{}); },
      [logic](stop_child_atom, const std::string& id) {
        return logic->stop_child(logic->key_of(id));
      },
      [logic](stop_child_atom, const caf::actor& child) -> caf::result<caf::unit_t> {
        auto i = logic->st().key_by_id.find(child.id());
        if (i == logic->st().key_by_id.end()) return make_error(platform_errc::not_found);
        return logic->stop_child(i->second);
      },
      [logic](restart_child_atom, const std::string& id) { return logic->restart_child(id); },
      [logic](which_child_atom, const std::string& id) -> caf::result<caf::actor> {
        auto key = logic->key_of(id);
        if (!key || !logic->record(*key)->handle) return make_error(platform_errc::not_found);
        return logic->record(*key)->handle;
      },
      [logic](count_children_atom) {
        std::uint64_t n = logic->st().dynamics.size();
        for (auto& r : logic->st().statics)
          if (r.handle) ++n;
        return n;
      },
      [logic](report_atom) { return logic->report(); },
      [logic](retry_atom, std::uint64_t key, std::uint64_t generation) {
        logic->on_retry(key, generation);
      },
      [logic](kill_atom, std::uint64_t token) { logic->on_kill_timer(token); },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec) {
  return sup::spawn_counted(sys, supervisor_actor, std::move(spec), std::string{});
}

child_spec supervisor_child(supervisor_spec spec, restart_type restart,
                            std::chrono::milliseconds shutdown_timeout) {
  child_spec c;
  c.id = spec.name;
  c.kind = child_kind::supervisor;
  c.restart = restart;
  c.shutdown_timeout = shutdown_timeout;
  auto shared = std::make_shared<const supervisor_spec>(std::move(spec));
  c.start = [shared](caf::local_actor& parent,
                     const caf::message& args) -> caf::expected<caf::actor> {
    std::string parent_path;
    if (args.match_elements<std::string>()) parent_path = args.get_as<std::string>(0);
    return sup::spawn_counted(parent, supervisor_actor, *shared, std::move(parent_path));
  };
  return c;
}

caf::error await_ready(caf::scoped_actor& self, const caf::actor& supervisor,
                       std::chrono::milliseconds timeout) {
  caf::error result;
  self->request(supervisor, timeout, ready_atom::value)
      .receive([](ready_atom) {}, [&](caf::error& err) { result = std::move(err); });
  if (result == caf::sec::request_receiver_down) {
    // It had already given up by the time it was asked: its exit reason says why.
    self->monitor(supervisor);
    self->receive([&](caf::down_msg& dm) { result = std::move(dm.reason); },
                  caf::after(timeout) >> [] {});
  }
  return result;
}

caf::error shutdown(caf::scoped_actor& self, const caf::actor& supervisor,
                    std::chrono::milliseconds timeout) {
  caf::error reason;
  self->monitor(supervisor);
  self->send_exit(supervisor, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg& dm) {
                  reason = std::move(dm.reason);
                  down = true;
                },
                caf::after(timeout) >> [&] {
                  self->send_exit(supervisor, caf::exit_reason::kill);
                });
  if (!down) {
    self->receive([&](caf::down_msg& dm) { reason = std::move(dm.reason); });
    return make_error(platform_errc::timeout);
  }
  return is_normal_exit(reason) ? caf::error{} : reason;
}

}  // namespace superapp::sup
