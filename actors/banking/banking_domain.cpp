// Wires the banking domain: the ledger's migrations and the ledger writer worker.
#include "actors/banking/banking_domain.hpp"

#include <caf/all.hpp>

#include "actors/banking/ledger_store.hpp"

namespace superapp::banking {

sup::domain_definition banking_domain(banking_settings settings, std::string name) {
  sup::domain_definition def;
  def.name = std::move(name);
  def.migrations = store::migrations();
  sup::domain_worker ledger;
  ledger.spec.id = "ledger";
  ledger.spec.shutdown_timeout = std::chrono::seconds{10};  // the commit in flight finishes
  ledger.start = [settings](caf::local_actor& parent, const caf::message&,
                            sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto writer = start_ledger(parent, settings.ledger, std::move(ctx));
    if (!writer) return writer.error();
    auto handle = caf::actor_cast<caf::actor>(*writer);
    if (settings.ledger_slot) settings.ledger_slot->set(handle);
    return handle;
  };
  def.workers.push_back(std::move(ledger));
  return def;
}

}  // namespace superapp::banking
