// Wires the banking domain: the ledger's migrations, the ledger writer, and the service that
// runs the client ops.
#include "actors/banking/banking_domain.hpp"

#include <caf/all.hpp>

#include "actors/banking/banking_errc.hpp"
#include "actors/banking/banking_service.hpp"
#include "actors/banking/ledger_store.hpp"
#include "protocols/ws/ops.hpp"

namespace superapp::banking {

sup::domain_definition banking_domain(banking_settings settings, std::string name) {
  register_banking_errors();
  auto ledger_slot = settings.ledger_slot ? settings.ledger_slot : std::make_shared<sup::service_slot>();
  auto service_slot = std::make_shared<sup::service_slot>();
  sup::domain_definition def;
  def.name = std::move(name);
  def.migrations = store::migrations();
  auto delegate = sup::delegate_to(service_slot);
  for (const auto& op : ws::domain_op_names("banking")) def.ops[op] = delegate;
  sup::domain_worker ledger;
  ledger.spec.id = "ledger";
  ledger.spec.shutdown_timeout = std::chrono::seconds{10};  // the commit in flight finishes
  ledger.start = [settings, ledger_slot](caf::local_actor& parent, const caf::message&,
                                         sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto writer = start_ledger(parent, settings.ledger, std::move(ctx));
    if (!writer) return writer.error();
    auto handle = caf::actor_cast<caf::actor>(*writer);
    ledger_slot->set(handle);
    return handle;
  };
  def.workers.push_back(std::move(ledger));
  // After the ledger: a service finds the ledger running (and a restarted one in the slot).
  sup::domain_worker service;
  service.spec.id = "service";
  service.spec.shutdown_timeout = std::chrono::seconds{5};
  service.start = [settings, ledger_slot, service_slot](caf::local_actor& parent, const caf::message&,
                                                        sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto handle = caf::actor_cast<caf::actor>(spawn_banking_service(parent, settings, ledger_slot, std::move(ctx)));
    service_slot->set(handle);
    return handle;
  };
  def.workers.push_back(std::move(service));
  return def;
}

}  // namespace superapp::banking
