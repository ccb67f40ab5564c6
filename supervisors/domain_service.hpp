// A domain whose ops are run by one service worker (identity, kyc, ...): the front door hands
// every op to the service its worker started last, and the service awaits each of its writes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "persistence/writer.hpp"
#include "supervisors/domain.hpp"

namespace superapp::sup {

// The front door starts before the workers (store -> front door -> workers), so the op handlers
// find the running service here; a restarted service replaces its handle.
class service_slot {
 public:
  void set(caf::actor a) {
    std::lock_guard<std::mutex> guard{mutex_};
    actor_ = std::move(a);
  }
  caf::actor get() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return actor_;
  }

 private:
  mutable std::mutex mutex_;
  caf::actor actor_;
};

// An op handler that delegates the op to the slot's service; `unavailable` while none runs.
inline op_handler delegate_to(std::shared_ptr<service_slot> slot) {
  return [slot](caf::event_based_actor* self, const domain_context_ptr&,
                op_request& req) -> caf::result<op_reply> {
    auto service = slot->get();
    if (!service) return make_error(platform_errc::unavailable);
    self->delegate(service, op_atom::value, std::move(req));
    return caf::delegated<op_reply>{};
  };
}

// Starts the service from the domain supervisor with the store's context of the moment.
using service_start =
    std::function<caf::expected<caf::actor>(caf::local_actor& parent, domain_context_ptr ctx)>;

// A domain whose `ops` all go to one service worker (id "service"), started by `start` after
// the front door, and started again when the store restarts (rest_for_one).
inline domain_definition service_domain(std::string name,
                                        std::vector<persistence::migration> migrations,
                                        const std::vector<std::string>& ops, service_start start) {
  auto slot = std::make_shared<service_slot>();
  domain_definition def;
  def.name = std::move(name);
  def.migrations = std::move(migrations);
  auto delegate = delegate_to(slot);
  for (const auto& op : ops) def.ops[op] = delegate;
  domain_worker service;
  service.spec.id = "service";
  service.spec.shutdown_timeout = std::chrono::seconds{5};
  service.start = [start = std::move(start), slot](caf::local_actor& parent, const caf::message&,
                                                   domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto actor = start(parent, std::move(ctx));
    if (actor) slot->set(*actor);
    return actor;
  };
  def.workers.push_back(std::move(service));
  return def;
}

// A service's op handler: the function `table` (op name -> fn(self, req)) has for `req.op`, or
// `unknown_op`.
template <class Self, class Table>
caf::result<op_reply> run_op(const Table& table, Self self, op_request& req) {
  auto it = table.find(req.op);
  if (it == table.end()) return make_error(platform_errc::unknown_op);
  return it->second(self, req);
}

// Commits `unit` through the domain's writer and waits for it (no other message of `self` runs
// meanwhile): read-decide-write stays atomic for a service that is its domain's only writer.
// `on_fail` gets the database's errors (a failed expected_rows_affected is
// db_errc::unexpected_rows_affected).
template <class Self, class OnOk, class OnFail>
void commit_awaited(Self* self, const domain_context& ctx, std::chrono::milliseconds timeout,
                    persistence::unit_of_work unit, OnOk on_ok, OnFail on_fail) {
  self->request(ctx.store, timeout, persistence::write_atom::value, std::move(unit))
      .await([on_ok](persistence::unit_results&) mutable { on_ok(); },
             [on_fail](caf::error& err) mutable { on_fail(err); });
}

}  // namespace superapp::sup
