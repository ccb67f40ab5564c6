// Wires the banking domain: the ledger's migrations, the ledger writer, and the service that
// runs the client ops.
#include "actors/banking/banking_domain.hpp"

#include <caf/all.hpp>

#include "actors/banking/banking_errc.hpp"
#include "actors/banking/banking_service.hpp"
#include "actors/banking/ledger_store.hpp"
#include "actors/banking/limits.hpp"
#include "protocols/ws/ops.hpp"

namespace superapp::banking {

sup::domain_definition banking_domain(banking_settings settings, std::string name) {
  register_banking_errors();
  banking_slots slots;
  if (settings.ledger_slot) slots.ledger = settings.ledger_slot;
  auto ledger_slot = slots.ledger;
  auto service_slot = std::make_shared<sup::service_slot>();
  sup::domain_definition def;
  def.name = std::move(name);
  def.migrations = store::migrations();
  def.companions.push_back({index_file, store::index_file_migrations()});
  auto delegate = sup::delegate_to(service_slot);
  for (const auto& op : ws::domain_op_names("banking")) def.ops[op] = delegate;
  def.ops[std::string{bank_callback_op}] = delegate;
  def.ops[std::string{reverse_op}] = delegate;
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
  // kyc's events: from a durable consumer (a node on Kafka) or from the node's bus.
  auto kyc_handler = settings.kyc_consumer ? std::make_shared<sup::service_slot>() : nullptr;
  if (kyc_handler)
    def.workers.push_back(
        kyc_limits_worker(nullptr, ledger_slot, settings.ledger.store_timeout, kyc_handler));
  else if (settings.bus)
    def.workers.push_back(
        kyc_limits_worker(settings.bus, ledger_slot, settings.ledger.store_timeout));
  sup::domain_worker connector;
  connector.spec.id = "bank_connector";
  connector.spec.shutdown_timeout = std::chrono::seconds{5};  // a bank call in flight ends
  connector.start = [settings, slot = slots.connector](caf::local_actor& parent, const caf::message&,
                                                      sup::domain_context_ptr) -> caf::expected<caf::actor> {
    auto handle = caf::actor_cast<caf::actor>(spawn_bank_connector(parent, settings.open_banking));
    slot->set(handle);
    return handle;
  };
  def.workers.push_back(std::move(connector));
  def.workers.push_back(
      payments_worker(settings.payments, slots.ledger, slots.connector, slots.payments, slots.running));
  // After the others: the service finds them running (and restarted ones in their slots).
  sup::domain_worker service;
  service.spec.id = "service";
  service.spec.shutdown_timeout = std::chrono::seconds{5};
  service.start = [settings, slots, service_slot](caf::local_actor& parent, const caf::message&,
                                                  sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto handle = caf::actor_cast<caf::actor>(spawn_banking_service(parent, settings, slots, std::move(ctx)));
    service_slot->set(handle);
    return handle;
  };
  def.workers.push_back(std::move(service));
  // Last: a crash of the consumer (its broker) restarts nothing of banking's own.
  if (kyc_handler)
    def.workers.push_back(settings.kyc_consumer([kyc_handler] { return kyc_handler->get(); }));
  return def;
}

}  // namespace superapp::banking
