// The ledger writer: core checks in memory, set-based commits (chained; two in flight on
// PostgreSQL), replies after each.
#include "actors/banking/ledger_writer.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/banking/ledger_store.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::banking {

namespace {

// Called with no error once the batch it waits for is durable, else with why it is not.
using waiter = std::function<void(const caf::error&)>;

struct batch {
  std::vector<account> new_accounts;
  std::vector<store::recorded_transfer> transfers;
  std::vector<store::spent_approval> approvals;
  std::vector<batch_reply> replies;     // client batches' replies, under their keys
  std::unordered_set<std::string> ids;  // accounts and transfers in it
  std::vector<waiter> waiters;
  std::int64_t indexing_through = 0;  // > 0: its commit also indexes up to here
  std::chrono::steady_clock::time_point sent;
  bool empty() const { return new_accounts.empty() && transfers.empty(); }
};

}  // namespace

struct ledger_state {
  ledger_settings cfg;
  sup::domain_context_ptr ctx;
  persistence::engine engine = persistence::engine::sqlite;  // how a batch is written
  ledger_core core;
  std::int64_t next_seq = 1;
  std::int64_t indexed_through = 0;    // as the database's index_progress says (ADR 0018)
  std::int64_t committed_through = 0;  // the highest seq known durable
  bool index_beside = false;           // the index pass runs on `indexer` (ADR 0022)
  caf::actor indexer;
  bool indexing_beside = false;                               // a pass is running there
  std::unordered_map<std::string, std::int64_t> pending_seq;  // pending transfers' seq, by id
  std::unordered_map<std::string, std::int64_t> spent;  // approval id -> expires_at_s
  std::map<std::string, limits_by_currency> limits;  // by user, as recorded
  std::map<std::string, std::int64_t> spent_today;    // per wallet: client transfers and holds
  std::int64_t day = 0;                               // UTC day (days since epoch) of spent_today
  // Client batches this writer accepted, by "<scope>|<key>": their digest and when (s). The
  // idempotent_replies table answers for older ones (the service looks there first).
  std::unordered_map<std::string, std::pair<std::string, std::int64_t>> batch_keys;
  std::int64_t purge_before_s = 0;  // spent approvals to delete with the next commit
  std::int64_t last_purge_s = 0;
  struct {
    metrics::gauge ids_in_memory, ids_as_hashes, holds, unindexed, index_runs;
    metrics::counter index_passes_failed;
  } series;
  batch open;  // accepted, waiting for the next commit
  // Sent to the store, oldest first: at most cfg.commits_in_flight. Each one's commit is
  // chained to the one before (ADR 0021), so the store answers them in this order.
  std::deque<batch> committing;
  std::int64_t last_commit = 0;  // the id of the newest commit sent (the chain's head, ADR 0021)
  std::mt19937_64 commit_ids{std::random_device{}()};
  // False until this ledger's first commit, the fence, has landed: until then requests wait in
  // the mailbox (ADR 0021).
  bool fenced = false;
  bool flush_queued = false;
  static inline const char* name = "ledger";
};

namespace {

using self_ptr = ledger_actor::stateful_pointer<ledger_state>;

using index_atom = caf::atom_constant<caf::atom("l_index")>;

// Where the index is written: SQLite's index file (ADR 0025), else the domain's database.
std::shared_ptr<persistence::database> index_database(const sup::domain_context& ctx) {
  auto i = ctx.companions.find(index_file);
  return i != ctx.companions.end() ? i->second : ctx.database;
}

struct indexer_state {
  std::shared_ptr<persistence::database> database;
  std::unique_ptr<persistence::connection> conn;  // its own writer connection, opened on use
  std::int64_t run_size = 0;                      // ids a run of the index takes (index_every)
  metrics::gauge runs;                            // the index's runs, when the node has metrics
  static inline const char* name = "ledger_indexer";
};

// Whether the indexer's commit of its one unit landed.
bool landed(const persistence::batch_outcome& outcome) {
  return outcome.commits == 1 && !outcome.units.empty() && outcome.units[0];
}

// Runs of the index merged at a time (ADR 0025): a lookup probes at most fan_in - 1 runs of
// each size class besides the newest, and an id is rewritten once per class it climbs.
constexpr std::size_t merge_fan_in = 8;

// After a pass landed: merges the oldest runs of the smallest size class that has
// merge_fan_in of them, in a transaction of its own, into one run after every other. A merge
// that finds the runs changed (another ledger's indexer) fails and rolls back; a later pass
// tries again. Answers how many runs fewer the index has.
std::int64_t merge_runs(indexer_state& st) {
  auto runs = store::index_runs(*st.conn);
  if (!runs) {
    log::warn("ledger: could not read the index's runs; no merge",
              {{"code", superapp::describe(runs.error()).wire_code}});
    return 0;
  }
  auto pick = store::runs_to_merge(*runs, st.run_size, merge_fan_in);
  if (pick.empty()) return 0;
  persistence::unit_of_work unit;
  const auto into = runs->back().run + 1;
  const auto ids = store::add_merge_runs(unit, pick, into);
  const auto started = std::chrono::steady_clock::now();
  const bool merged = landed(st.conn->commit_batch({&unit}));
  log::info(merged ? "ledger: index runs merged" : "ledger: an index merge did not land",
            {{"runs", static_cast<std::int64_t>(pick.size())},
             {"ids", ids},
             {"into", into},
             {"us", static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                  std::chrono::steady_clock::now() - started)
                                                  .count())}});
  return merged ? static_cast<std::int64_t>(pick.size()) - 1 : 0;
}

// The index pass beside the commits (ADR 0022), on a connection of its own: (index, after,
// through) indexes the transfers in (after, through] in one transaction and answers where the
// database's index stands then. When `after` is not where it stands (a pass of an earlier
// ledger landed meanwhile), the pass fails and rolls back, and the answer still says where it
// stands, so the next pass starts from there.
caf::behavior ledger_indexer(caf::stateful_actor<indexer_state>* self,
                             std::shared_ptr<persistence::database> database, std::int64_t run_size,
                             metrics::gauge runs) {
  self->state.database = std::move(database);
  self->state.run_size = run_size;
  self->state.runs = std::move(runs);
  // Linked to its ledger: it ends with it, whatever the ledger's exit reason.
  self->set_exit_handler([self](caf::exit_msg& msg) { self->quit(msg.reason); });
  return {
      [self](index_atom, std::int64_t after, std::int64_t through) -> caf::result<std::int64_t> {
        auto& st = self->state;
        if (st.conn && !st.conn->healthy()) st.conn.reset();
        if (!st.conn) {
          auto c = st.database->connect(persistence::connection_role::writer);
          if (!c) return c.error();
          st.conn = std::move(*c);
        }
        persistence::unit_of_work unit;
        store::add_index_pass(unit, st.conn->kind(), after, through, st.run_size);
        auto outcome = st.conn->commit_batch({&unit});
        if (landed(outcome)) {
          const auto runs = store::runs_after_pass(*outcome.units[0]) - merge_runs(st);
          if (st.runs) st.runs.set(runs);
          return through;
        }
        auto stands = st.conn->execute({"SELECT indexed_through FROM index_progress", {}});
        if (!stands || stands->rows.empty())
          return stands ? make_error(platform_errc::storage_failure) : stands.error();
        auto now = persistence::as_int(stands->rows[0][0]);
        if (!now) return make_error(platform_errc::storage_failure);
        const auto why = !outcome.units.empty() && !outcome.units[0]
                             ? superapp::describe(outcome.units[0].error()).wire_code
                             : std::string_view{"commit_failed"};
        log::info("ledger: an index pass did not land",
                  {{"code", why}, {"after", after}, {"through", through}, {"stands_at", *now}});
        return *now;
      },
  };
}

std::int64_t now_ms(self_ptr self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             self->state.cfg.clock->now().time_since_epoch())
      .count();
}

std::int64_t now_s(self_ptr self) { return now_ms(self) / 1000; }

// Whether `id` (an account or a transfer) is accepted but not yet durable.
bool unsettled(self_ptr self, const std::string& id) {
  const auto& st = self->state;
  if (st.open.ids.count(id) != 0) return true;
  return std::any_of(st.committing.begin(), st.committing.end(),
                     [&id](const batch& b) { return b.ids.count(id) != 0; });
}

// Whether another commit may be sent now. Behind one in flight, only a batch at least half its
// size: one sent with the few transfers that came just after would commit in less time than
// the ledger needs to answer the first and build the next, and the database would wait again.
bool may_send(self_ptr self) {
  const auto& st = self->state;
  if (st.committing.empty()) return true;
  if (st.committing.size() >= st.cfg.commits_in_flight) return false;
  return st.open.transfers.size() * 2 >= st.committing.back().transfers.size();
}

void flush(self_ptr self, bool index_now = false);

// What the ledger holds in memory (ADR 0020), and what its index lacks, for /metrics.
void publish_sizes(self_ptr self) {
  auto& st = self->state;
  if (!st.series.ids_in_memory) return;
  st.series.ids_in_memory.set(static_cast<std::int64_t>(st.core.ids_in_memory()));
  st.series.ids_as_hashes.set(static_cast<std::int64_t>(st.core.ids_as_hashes()));
  st.series.holds.set(static_cast<std::int64_t>(st.core.pending_in_memory()));
  st.series.unindexed.set(st.committed_through - st.indexed_through);
}

void queue_flush(self_ptr self) {
  auto& st = self->state;
  if (st.open.transfers.size() >= st.cfg.max_batch_transfers && may_send(self)) return flush(self);
  if (st.flush_queued || !may_send(self)) return;  // a commit's return flushes what came meanwhile
  st.flush_queued = true;
  // Behind whatever is in the mailbox now: those transfers join this batch.
  self->send(self, ledger_flush_atom::value);
}

// Answers `w` once everything accepted so far is durable.
void after_commit(self_ptr self, waiter w) {
  auto& st = self->state;
  if (st.open.empty()) {
    if (st.committing.empty()) return w(caf::error{});
    return st.committing.back().waiters.push_back(std::move(w));
  }
  st.open.waiters.push_back(std::move(w));
  queue_flush(self);
}

void record(self_ptr self, const applied_transfer& a) {
  auto& st = self->state;
  st.open.ids.insert(a.t.id);
  store::recorded_transfer r{a, st.next_seq++, now_ms(self)};
  if (a.t.kind == transfer_kind::pending) {
    st.pending_seq.emplace(a.t.id, r.seq);
  } else if (a.t.kind == transfer_kind::post_pending || a.t.kind == transfer_kind::void_pending) {
    auto it = st.pending_seq.find(a.t.pending_id);
    if (it != st.pending_seq.end()) {
      r.pending_seq = it->second;
      st.pending_seq.erase(it);
    }
  }
  st.open.transfers.push_back(std::move(r));
}

void fail_everything(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  std::int64_t transfers = 0;
  for (auto& b : st.committing) {
    transfers += static_cast<std::int64_t>(b.transfers.size());
    for (auto& w : b.waiters) w(make_error(platform_errc::storage_failure));
  }
  for (auto& w : st.open.waiters) w(make_error(platform_errc::storage_failure));
  log::error("ledger: a commit failed; restarting from the database",
             {{"code", superapp::describe(err).wire_code}, {"transfers", transfers}});
  // Memory is ahead of the database now: only a reload makes them agree again.
  self->quit(make_error(platform_errc::storage_failure));
}

// Money that moved between two users' wallets is told to them through the outbox, in the
// commit that moves it: the payee of a transfer, a batch item or a hold's capture gets
// banking.transfer.received; both users of an operator's reversal get banking.transfer.reversed.
// Holds placed or released, top-ups (banking.payment.*) and ledger-internal accounts tell no one.
void add_transfer_events(self_ptr self, persistence::unit_of_work& unit,
                         const std::vector<store::recorded_transfer>& transfers) {
  const auto topic = events::topic_for_domain("banking");
  for (const auto& r : transfers) {
    const auto& a = r.applied;
    if (a.t.kind != transfer_kind::immediate && a.t.kind != transfer_kind::post_pending) continue;
    auto payer = wallet_owner(a.debit_account);
    auto payee = wallet_owner(a.credit_account);
    if (!payer || !payee) continue;
    const bool reversal = a.t.id.rfind("rv_", 0) == 0;
    boost::json::object body{{"transfer_id", a.t.id},
                             {"from", "user:" + *payer},
                             {"to", "user:" + *payee},
                             {"amount", {{"minor", a.amount}, {"currency", a.t.currency}}}};
    if (a.t.kind == transfer_kind::post_pending) body["hold_id"] = a.t.pending_id;
    auto type = reversal ? "banking.transfer.reversed" : "banking.transfer.received";
    auto e = events::make_event(*self->state.cfg.clock, type, 1, a.t.id, 1,
                                boost::json::serialize(body));
    e.audience = {*payee};
    if (reversal) e.audience.insert(e.audience.begin(), *payer);
    persistence::append_to_outbox(unit, e, topic, r.at_ms);
  }
}

void committed(self_ptr self, const persistence::unit_results& results);

// Where the index pass due over the unindexed transfers up to `upto` ends, if one is due: once
// they reach `index_every`, or, when `idle`, whatever there is. Wherever it runs, a pass takes
// at most `index_every` (ADR 0025): a long backlog (books upgraded by migration 12, a lost
// index file, a busy spell) is indexed a run of the usual size at a time, not in one
// transaction that grows with it and, in a commit, stops every transfer meanwhile.
std::optional<std::int64_t> pass_due(const ledger_state& st, std::int64_t upto, bool idle) {
  const auto every = static_cast<std::int64_t>(st.cfg.index_every);
  const auto backlog = upto - st.indexed_through;
  if (backlog <= 0 || (!idle && backlog < every)) return std::nullopt;
  return st.indexed_through + std::min(backlog, every);
}

// Starts an index pass beside the commits (ADR 0022) over what is durable and not yet indexed,
// when one is due. One pass at a time.
void index_beside(self_ptr self, bool idle) {
  auto& st = self->state;
  if (!st.index_beside || st.indexing_beside) return;
  const auto due = pass_due(st, st.committed_through, idle);
  if (!due) return;
  st.indexing_beside = true;
  const auto started = std::chrono::steady_clock::now();
  const auto through = *due;
  const auto tail = through - st.indexed_through;
  self->request(st.indexer, st.cfg.index_pass_timeout, index_atom::value, st.indexed_through,
                through)
      .then(
          [self, started, tail, through](std::int64_t stands) {
            auto& st = self->state;
            st.indexing_beside = false;
            st.indexed_through = stands;
            if (stands != through && st.series.index_passes_failed)
              st.series.index_passes_failed.increment();
            publish_sizes(self);
            log::debug("ledger: indexed beside the commits",
                       {{"transfers", tail},
                        {"indexed_through", stands},
                        {"us", static_cast<std::int64_t>(
                                   std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count())}});
            // What became durable meanwhile may be due already; after a failed pass, the next
            // commit or idle tick tries again.
            if (stands == through) index_beside(self, false);
          },
          [self](caf::error& err) {
            self->state.indexing_beside = false;
            if (self->state.series.index_passes_failed)
              self->state.series.index_passes_failed.increment();
            log::warn("ledger: an index pass failed; the next one tries again",
                      {{"code", superapp::describe(err).wire_code}});
          });
}

// Starts `unit` with the chain's next link (ADR 0021): it lands only if the commit sent before
// it did, and nothing else the database holds moved the chain's head.
void chain(self_ptr self, persistence::unit_of_work& unit) {
  auto& st = self->state;
  const auto id = std::uniform_int_distribution<std::int64_t>{1, INT64_MAX}(st.commit_ids);
  store::add_commit_guard(unit, std::exchange(st.last_commit, id), id);
}

// A ledger's first commit moves only the chain's head, before the ledger takes any request. A
// ledger before this one may have left a commit still running in the store (its request timed
// out, the database did the work later). The store's writer takes units in order, so the fence
// runs after any such commit; if that one landed, the fence finds another head, fails, and the
// ledger loads again. Until the fence lands no request is taken, so no answer (a refusal, a
// balance) comes from books that miss a late commit.
void fence(self_ptr self) {
  auto& st = self->state;
  persistence::unit_of_work unit;
  chain(self, unit);
  self->request(st.ctx->store, st.cfg.store_timeout, persistence::write_atom::value,
                std::move(unit))
      .then([self](persistence::unit_results&) { self->state.fenced = true; },
            [self](caf::error& err) {
              log::warn(
                  "ledger: the books moved after they were loaded (a commit of the ledger"
                  " before this one landed late) or could not be checked; loading again",
                  {{"code", superapp::describe(err).wire_code}});
              self->quit(make_error(platform_errc::storage_failure));
            });
}

// Commits what is open. The commit also carries the index pass (ADR 0018) when one is due
// (`pass_due`; `index_now`: the writer is idle). Not in every small commit: a hundred random
// ids and accounts still dirty a few hundred index pages, which made a commit of 100 transfers
// three times slower (bench_ledger --in-flight 100: 12k/s, 36-45k/s without). Under light load
// the writer is idle at most expiry ticks, so the tail stays short.
//
// A commit may be sent while another is in flight (ADR 0021): it is built on the balances the
// one before leaves, and chained to it, so it lands only if that one did. The store starts it
// as soon as the one before returns, instead of after that one's answer has come back here and
// this one has been built: the database's idle time between commits.
void flush(self_ptr self, bool index_now) {
  auto& st = self->state;
  st.flush_queued = false;
  if (!may_send(self)) return;
  const auto through = st.next_seq - 1;
  const auto tail = through - st.indexed_through;
  const bool indexing = std::any_of(st.committing.begin(), st.committing.end(),
                                    [](const batch& b) { return b.indexing_through > 0; });
  if (st.open.empty() && !(index_now && tail > 0 && !indexing)) {
    // Nothing to commit: the waiters wait for what is in flight, if anything.
    for (auto& w : std::exchange(st.open.waiters, {})) after_commit(self, std::move(w));
    return;
  }
  auto& b = st.committing.emplace_back(std::move(st.open));
  st.open = batch{};
  persistence::unit_of_work unit;
  chain(self, unit);
  store::add_batch(unit, st.engine, b.new_accounts, b.transfers, st.core, b.approvals,
                   std::exchange(st.purge_before_s, 0));
  for (const auto& r : b.replies)
    persistence::record_reply(unit, r.scope, r.key, r.digest, r.reply_json, now_ms(self));
  add_transfer_events(self, unit, b.transfers);
  if (!st.index_beside && !indexing)
    if (const auto due = pass_due(st, through, index_now)) {
      b.indexing_through = *due;
      store::add_index_pass(unit, st.engine, st.indexed_through, *due,
                            static_cast<std::int64_t>(st.cfg.index_every));
    }
  b.sent = std::chrono::steady_clock::now();
  self->request(st.ctx->store,
                b.indexing_through > 0 ? st.cfg.index_pass_timeout : st.cfg.store_timeout,
                persistence::write_atom::value, std::move(unit))
      .then([self](persistence::unit_results& results) { committed(self, results); },
            [self](caf::error& err) { fail_everything(self, err); });
}

// The oldest commit in flight returned: its waiters are answered, and what came meanwhile is
// sent.
void committed(self_ptr self, const persistence::unit_results& results) {
  auto& st = self->state;
  auto b = std::move(st.committing.front());
  st.committing.pop_front();
  log::debug(
      "ledger: committed",
      {{"transfers", static_cast<std::int64_t>(b.transfers.size())},
       {"indexed_through", b.indexing_through},
       {"us", static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - b.sent)
                                            .count())}});
  for (auto& w : b.waiters) w(caf::error{});
  // Holds settled durably leave memory (expire() walks what is left every second).
  for (const auto& r : b.transfers)
    if (r.applied.t.kind == transfer_kind::post_pending ||
        r.applied.t.kind == transfer_kind::void_pending)
      st.core.forget_settled_pending(r.applied.t.pending_id);
  st.core.forget_settled([self](const std::string& id) { return unsettled(self, id); });
  if (b.indexing_through > 0) {
    st.indexed_through = b.indexing_through;
    if (st.series.index_runs) st.series.index_runs.set(store::runs_after_pass(results.results));
  }
  if (!b.transfers.empty()) st.committed_through = b.transfers.back().seq;
  publish_sizes(self);
  index_beside(self, false);
  if (!st.open.empty() || !st.open.waiters.empty()) flush(self);
}

// What the database holds under `id`: the core asks when an id matches the hash of an older
// transfer's (ADR 0020). One indexed read on the writer's thread, only for a retry older than
// the recent ids (or a hash collision, about never).
stored_id stored_under(const sup::domain_context& ctx, const std::string& id) {
  auto conn = ctx.readers->borrow();
  auto t = conn ? store::find_recorded(**conn, id) : conn.error();
  if (!t) {
    log::warn("ledger: could not read an older transfer id; the transfer is refused",
              {{"code", superapp::describe(t.error()).wire_code}});
    return {stored_id::state::unreadable};
  }
  if (!*t) return {stored_id::state::absent};
  return {stored_id::state::present, ledger_core::digest_of(**t)};
}

template <class T>
waiter deliver_when_durable(caf::typed_response_promise<T> rp, T value) {
  return [rp, value](const caf::error& err) mutable {
    if (err) rp.deliver(err);
    else rp.deliver(value);
  };
}

const currency_limits* limits_of(self_ptr self, const std::string& account, const std::string& currency) {
  auto owner = wallet_owner(account);
  if (!owner) return nullptr;
  const auto& st = self->state;
  auto user = st.limits.find(*owner);
  const auto& by_currency = user != st.limits.end() ? user->second : st.cfg.default_limits;
  auto it = by_currency.find(currency);
  return it == by_currency.end() ? nullptr : &it->second;
}

// A client's transfer or hold against its payer's and payee's KYC limits, as the balances are
// plus, inside a batch, what its earlier items already take from the payer (`earlier_paid`)
// and give the payee (`earlier_received`).
transfer_result judge_limits(self_ptr self, const transfer& t, std::int64_t earlier_paid = 0,
                             std::int64_t earlier_received = 0) {
  if (t.kind != transfer_kind::immediate && t.kind != transfer_kind::pending) return transfer_result::ok;
  auto& st = self->state;
  if (auto today = now_s(self) / 86'400; today != st.day) {
    st.day = today;
    st.spent_today.clear();
  }
  if (const auto* payer = limits_of(self, t.debit_account, t.currency)) {
    if (t.amount > payer->per_transaction) return transfer_result::exceeds_transaction_limit;
    auto spent = st.spent_today[t.debit_account] + earlier_paid;
    if (spent > payer->per_day || t.amount > payer->per_day - spent) return transfer_result::exceeds_daily_limit;
  }
  if (const auto* payee = limits_of(self, t.credit_account, t.currency)) {
    const auto* b = st.core.balance_of(t.credit_account);
    auto held =
        (b ? b->credits_posted - b->debits_posted + b->credits_pending : 0) + earlier_received;
    if (held > payee->balance || t.amount > payee->balance - held) return transfer_result::exceeds_balance_limit;
  }
  return transfer_result::ok;
}

// `a` paid for `ts` (one transfer, or a batch's items): it is spent in their commit, recorded
// under the first one, and their amounts count towards their payers' day.
void spend_approval(self_ptr self, const approval_spend& a, std::span<const transfer> ts) {
  auto& st = self->state;
  for (const auto& t : ts) st.spent_today[t.debit_account] += t.amount;
  st.spent.emplace(a.approval_id, a.expires_at_s);
  st.open.approvals.push_back({a.approval_id, ts.front().id, a.expires_at_s});
}

// One transfer: the core's verdict now, `ok` (and `exists` of one not yet durable) after its
// commit. An approval already spent by another transfer refuses it before the core sees it.
caf::result<transfer_result> apply_one(self_ptr self, const transfer& t, const approval_spend* approval) {
  auto& st = self->state;
  const bool spends = approval != nullptr && !st.core.knows(t.id);
  if (spends && st.spent.count(approval->approval_id) != 0) return transfer_result::approval_already_used;
  if (spends)
    if (auto limited = judge_limits(self, t); limited != transfer_result::ok) return limited;
  applied_transfer a;
  auto r = st.core.apply(t, now_s(self), &a);
  if (r == transfer_result::ok) {
    record(self, a);
    if (spends) spend_approval(self, *approval, {&t, 1});
  }
  if (r != transfer_result::ok && !(r == transfer_result::exists && unsettled(self, t.id))) return r;
  auto rp = self->make_response_promise<transfer_result>();
  after_commit(self, deliver_when_durable(rp, r));
  return rp;
}

// A linked batch, all or nothing. With an approval (a client's batch): the approval is spent
// once for the whole batch, and every item is judged against the KYC limits as the earlier
// items leave them. Amounts are positive and one currency (the service checks), so the sums
// cannot overflow before the core refuses.
caf::result<std::vector<transfer_result>> apply_batch(self_ptr self,
                                                      const std::vector<transfer>& ts,
                                                      const approval_spend* approval,
                                                      const batch_reply* reply = nullptr) {
  auto& st = self->state;
  auto refuse_all = [&](std::size_t at, transfer_result why) {
    std::vector<transfer_result> results(ts.size(), transfer_result::linked_transfer_failed);
    results[at] = why;
    return results;
  };
  std::string reply_key;
  if (reply != nullptr) {
    reply_key = reply->scope + "|" + reply->key;
    auto seen = st.batch_keys.find(reply_key);
    if (seen != st.batch_keys.end() && seen->second.first != reply->digest)
      return std::vector<transfer_result>(ts.size(), transfer_result::idempotency_conflict);
  }
  const bool spends = approval != nullptr && !ts.empty() && !st.core.knows(ts.front().id);
  if (spends) {
    if (st.spent.count(approval->approval_id) != 0)
      return refuse_all(0, transfer_result::approval_already_used);
    std::int64_t paid = 0;
    std::map<std::string, std::int64_t> received;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const auto& t = ts[i];
      if (auto limited = judge_limits(self, t, paid, received[t.credit_account]);
          limited != transfer_result::ok)
        return refuse_all(i, limited);
      paid += t.amount;
      received[t.credit_account] += t.amount;
    }
  }
  std::vector<applied_transfer> applied;
  auto results = st.core.apply_linked(ts, now_s(self), &applied);
  for (const auto& a : applied) record(self, a);
  if (spends && !applied.empty()) {
    spend_approval(self, *approval, ts);
    if (reply != nullptr) {
      st.batch_keys[reply_key] = {reply->digest, now_s(self)};
      st.open.replies.push_back(*reply);
    }
  }
  bool durable_answer = !applied.empty();
  for (std::size_t i = 0; i < ts.size(); ++i)
    durable_answer |= results[i] == transfer_result::exists && unsettled(self, ts[i].id);
  if (!durable_answer) return results;
  auto rp = self->make_response_promise<std::vector<transfer_result>>();
  after_commit(self, deliver_when_durable(rp, results));
  return rp;
}

ledger_actor::behavior_type ledger(self_ptr self, ledger_settings settings,
                                   sup::domain_context_ptr ctx, store::loaded data,
                                   std::map<std::string, limits_by_currency> limits,
                                   std::map<std::string, std::int64_t> spent_today) {
  auto& st = self->state;
  st.cfg = std::move(settings);
  st.ctx = std::move(ctx);
  const bool postgres =
      st.ctx->database && st.ctx->database->kind() == persistence::engine::postgres;
  st.engine = postgres ? persistence::engine::postgres : persistence::engine::sqlite;
  if (st.cfg.commits_in_flight == 0) st.cfg.commits_in_flight = postgres ? 2 : 1;
  // By engine, beside the commits on both: PostgreSQL takes both at once, and SQLite's index
  // lives in a file of its own (ADR 0025), whose write lock is not the ledger's.
  st.index_beside = st.ctx->database && st.cfg.index_pass != index_pass_mode::in_commit;
  for (const auto& [a, b] : data.accounts) {
    st.core.add_account(a);
    st.core.restore(a.id, b);
  }
  metrics::counter lookups;
  if (auto* registry = st.cfg.metrics) {
    const std::string kind_help = "Transfer ids the ledger knows, by how it keeps them (ADR 0020)";
    st.series.ids_in_memory = registry->add_gauge("superapp_ledger_transfer_ids", kind_help,
                                                  {{"domain", st.ctx->domain}, {"kept", "memory"}});
    st.series.ids_as_hashes = registry->add_gauge("superapp_ledger_transfer_ids", kind_help,
                                                  {{"domain", st.ctx->domain}, {"kept", "hash"}});
    st.series.holds = registry->add_gauge(
        "superapp_ledger_holds_in_memory",
        "Holds the ledger keeps in memory: open ones, and settled ones until durable",
        {{"domain", st.ctx->domain}});
    st.series.unindexed = registry->add_gauge(
        "superapp_ledger_unindexed_transfers",
        "Committed transfers not yet in the lookups by id and account (ADR 0018): reads scan them",
        {{"domain", st.ctx->domain}});
    st.series.index_passes_failed = registry->add_counter(
        "superapp_ledger_index_passes_failed_total",
        "Index passes beside the commits that did not land (ADR 0022); the next one tries again",
        {{"domain", st.ctx->domain}});
    lookups = registry->add_counter(
        "superapp_ledger_older_id_lookups_total",
        "Transfer ids the ledger looked up in the database: retries older than the ids in memory",
        {{"domain", st.ctx->domain}});
    st.series.index_runs = registry->add_gauge(
        "superapp_ledger_index_runs",
        "Runs of the lookup by id (ADR 0025): a lookup probes each; merged beside the commits",
        {{"domain", st.ctx->domain}});
    st.series.index_runs.set(data.index_runs);
  }
  if (st.index_beside)
    st.indexer = self->spawn<caf::detached + caf::linked>(
        ledger_indexer, index_database(*st.ctx), static_cast<std::int64_t>(st.cfg.index_every),
        st.series.index_runs);
  st.core.keep_recent(st.cfg.recent_transfer_ids,
                      [ctx = st.ctx, lookups](const std::string& id) mutable {
                        if (lookups) lookups.increment();
                        return stored_under(*ctx, id);
                      });
  for (const auto& t : data.transfers) st.core.remember(t);
  for (auto h : data.older_id_hashes) st.core.remember_hash(h);
  data.older_id_hashes = {};
  for (const auto& [p, seq] : data.pending) {
    st.core.restore_pending(p, pending_state::state::pending);
    st.pending_seq.emplace(p.id, seq);
  }
  st.indexed_through = data.indexed_through;
  st.committed_through = data.next_seq - 1;
  st.last_commit = data.last_commit;
  publish_sizes(self);
  for (const auto& [id, expires] : data.approvals) st.spent.emplace(id, expires);
  st.next_seq = data.next_seq;
  st.limits = std::move(limits);
  st.spent_today = std::move(spent_today);
  st.day = now_s(self) / 86'400;
  log::info("ledger: loaded",
            {{"accounts", static_cast<std::int64_t>(data.accounts.size())},
             {"transfer_ids", static_cast<std::int64_t>(st.core.ids_in_memory())},
             {"older_transfer_ids", static_cast<std::int64_t>(st.core.ids_as_hashes())},
             {"pending", static_cast<std::int64_t>(data.pending.size())}});
  self->delayed_send(self, st.cfg.expire_every, expire_atom::value);
  fence(self);
  return {
      [self](open_account_atom, const account& a) -> caf::result<bool> {
        auto& st = self->state;
        if (!st.fenced) return caf::skip;
        const bool existed = st.core.find_account(a.id) != nullptr;
        if (!st.core.add_account(a)) return false;
        auto rp = self->make_response_promise<bool>();
        if (!existed) {
          st.open.new_accounts.push_back(a);
          st.open.ids.insert(a.id);
        }
        if (!existed || unsettled(self, a.id)) after_commit(self, deliver_when_durable(rp, true));
        else rp.deliver(true);
        return rp;
      },
      [self](transfer_atom, const transfer& t) -> caf::result<transfer_result> {
        if (!self->state.fenced) return caf::skip;
        return apply_one(self, t, nullptr);
      },
      [self](transfer_atom, const transfer& t, const approval_spend& a) -> caf::result<transfer_result> {
        if (!self->state.fenced) return caf::skip;
        return apply_one(self, t, &a);
      },
      [self](linked_atom, const std::vector<transfer>& ts) -> caf::result<std::vector<transfer_result>> {
        if (!self->state.fenced) return caf::skip;
        return apply_batch(self, ts, nullptr);
      },
      [self](linked_atom, const std::vector<transfer>& ts, const approval_spend& a,
             const batch_reply& r) -> caf::result<std::vector<transfer_result>> {
        if (!self->state.fenced) return caf::skip;
        return apply_batch(self, ts, &a, &r);
      },
      [self](balance_atom, const std::string& id) -> caf::result<balances> {
        if (!self->state.fenced) return caf::skip;
        const auto* b = self->state.core.balance_of(id);
        if (b == nullptr) return make_error(platform_errc::not_found);
        return *b;
      },
      [self](ledger_flush_atom) { flush(self); },
      [self](limits_atom, const std::string& user, const limits_by_currency& limits) {
        self->state.limits[user] = limits;
      },
      [self](expire_atom) {
        auto& st = self->state;
        self->delayed_send(self, st.cfg.expire_every, expire_atom::value);
        if (!st.fenced) return;
        const auto now = now_s(self);
        for (const auto& released : st.core.expire(now)) record(self, released);
        // An expired approval can no longer be presented: forget it, here and (with the next
        // commit) in the database.
        // Kept a minute past expiry: verifiers accept a few seconds of clock skew.
        if (now - st.last_purge_s >= 60) {
          const auto before = now - 60;
          std::erase_if(st.spent, [before](const auto& kv) { return kv.second < before; });
          // The replies table keeps a batch's key for a day; so does this.
          std::erase_if(st.batch_keys,
                        [now](const auto& kv) { return kv.second.second < now - 86'400; });
          st.purge_before_s = before;
          st.last_purge_s = now;
        }
        if (!st.open.empty()) queue_flush(self);
        // Idle: index the transfers a busy spell left unindexed, so reads find them by index.
        else if (st.committing.empty() && st.index_beside)
          index_beside(self, true);
        else if (st.committing.empty() && st.indexed_through < st.next_seq - 1)
          flush(self, true);
      },
  };
}

}  // namespace

caf::expected<ledger_actor> start_ledger(caf::local_actor& parent, ledger_settings settings,
                                         sup::domain_context_ptr ctx) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          settings.clock->now().time_since_epoch())
                          .count();
  store::loaded data;
  std::map<std::string, limits_by_currency> limits;
  std::map<std::string, std::int64_t> spent_today;
  if (auto i = ctx->companions.find(index_file); i != ctx->companions.end()) {
    // SQLite: an index file that is not of these books is emptied before the books load.
    auto conn = i->second->connect(persistence::connection_role::writer);
    if (!conn) return conn.error();
    auto reset = store::reset_unmatched_index(**conn);
    if (!reset) return reset.error();
    if (*reset)
      log::warn("ledger: the index file did not match the books; it is built again",
                {{"domain", ctx->domain}});
  }
  {
    auto conn = ctx->readers->borrow();  // back to the pool before the ledger runs
    if (!conn) return conn.error();
    auto loaded = store::load(**conn, settings.recent_transfer_ids);
    if (!loaded) return loaded.error();
    data = std::move(*loaded);
    auto l = store::load_limits(**conn);
    if (!l) return l.error();
    limits = std::move(*l);
    auto spent = store::spent_since(**conn, now_ms - now_ms % 86'400'000);
    if (!spent) return spent.error();
    spent_today = std::move(*spent);
  }
  return sup::spawn_counted(parent, ledger, std::move(settings), std::move(ctx), std::move(data),
                            std::move(limits), std::move(spent_today));
}

}  // namespace superapp::banking
