// The group-commit writer: queues units, commits everything queued in one transaction, replies.
#include "persistence/writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>
#include <utility>

#include "persistence/db_errc.hpp"
#include "protocols/assert.hpp"

namespace superapp::persistence {
namespace {

struct pending_unit {
  unit_of_work unit;
  caf::typed_response_promise<unit_results> promise;
};

struct writer_state {
  std::shared_ptr<connection> conn;
  writer_options options;
  std::vector<pending_unit> pending;
  bool flush_queued = false;
  writer_stats stats;
  static inline const char* name = "persistence_writer";
};

using writer_pointer = writer_actor::stateful_pointer<writer_state>;

void queue_flush(writer_pointer self) {
  auto& st = self->state;
  if (st.flush_queued || st.pending.empty()) return;
  st.flush_queued = true;
  // The flush lands behind every unit already in the mailbox, so one transaction takes them all.
  self->send(self, flush_atom::value);
}

void flush(writer_pointer self) {
  auto& st = self->state;
  st.flush_queued = false;
  if (st.pending.empty()) return;
  auto take = std::min(st.pending.size(), st.options.max_batch_units);
  std::vector<pending_unit> batch;
  batch.reserve(take);
  std::move(st.pending.begin(), st.pending.begin() + static_cast<std::ptrdiff_t>(take),
            std::back_inserter(batch));
  st.pending.erase(st.pending.begin(), st.pending.begin() + static_cast<std::ptrdiff_t>(take));
  std::vector<const unit_of_work*> units;
  units.reserve(batch.size());
  for (const auto& p : batch) units.push_back(&p.unit);

  auto outcome = st.conn->commit_batch(units);
  SUPERAPP_ASSERT(outcome.units.size() == batch.size());

  auto batch_units = static_cast<std::int64_t>(batch.size());
  st.stats.batches += 1;
  st.stats.commits += outcome.commits;
  st.stats.fallback_batches += outcome.used_fallback ? 1 : 0;
  st.stats.largest_batch_units = std::max(st.stats.largest_batch_units, batch_units);
  st.stats.units += batch_units;
  // Replies go out only now, after commit returned: an acknowledged unit is durable.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& r = outcome.units[i];
    if (r && outcome.commits == 1) {
      st.stats.committed_units += 1;
      batch[i].promise.deliver(unit_results{std::move(*r)});
    } else {
      st.stats.failed_units += 1;
      caf::error err = r ? make_error(db_errc::batch_aborted) : std::move(r.error());
      SUPERAPP_ASSERT(err);  // an empty error crashes the requester's handler
      batch[i].promise.deliver(std::move(err));
    }
  }
  if (!st.conn->healthy()) {
    // A lost session will not come back by itself: fail what is queued and let the
    // supervisor restart us with a fresh connection.
    spdlog::error("persistence writer: connection lost, stopping");
    for (auto& p : st.pending) {
      st.stats.failed_units += 1;
      p.promise.deliver(make_error(db_errc::connection_lost));
    }
    st.pending.clear();
    self->quit(make_error(db_errc::connection_lost));
    return;
  }
  queue_flush(self);
}

writer_actor::behavior_type writer_behavior(writer_pointer self, std::shared_ptr<connection> conn,
                                            writer_options options) {
  SUPERAPP_ASSERT(conn != nullptr);
  SUPERAPP_ASSERT(options.max_batch_units > 0);
  self->state.conn = std::move(conn);
  self->state.options = options;
  // An orderly stop (the domain tree shutting down) commits and answers every unit the writer
  // has accepted before it goes; units still in its mailbox are failed by CAF as
  // request_receiver_down. Nothing is left unanswered or half-written.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    while (!self->state.pending.empty() && self->state.conn->healthy()) flush(self);
    self->quit(msg.reason);
  });
  return {
      [self](write_atom, unit_of_work& unit) -> caf::result<unit_results> {
        auto promise = self->make_response_promise<unit_results>();
        self->state.pending.push_back({std::move(unit), promise});
        queue_flush(self);
        return promise;
      },
      [self](stats_atom) -> writer_stats { return self->state.stats; },
      [self](flush_atom) { flush(self); },
  };
}

}  // namespace

writer_actor spawn_writer(caf::actor_system& sys, std::unique_ptr<connection> conn,
                          writer_options options) {
  return sys.spawn<caf::detached>(writer_behavior, std::shared_ptr<connection>{std::move(conn)},
                                  options);
}

writer_actor spawn_writer_scheduled(caf::actor_system& sys, std::unique_ptr<connection> conn,
                                    writer_options options) {
  return sys.spawn(writer_behavior, std::shared_ptr<connection>{std::move(conn)}, options);
}

}  // namespace superapp::persistence
