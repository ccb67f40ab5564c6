// Wires the kyc domain: migrations, the ops the front door delegates, the service worker.
#include "actors/kyc/kyc_domain.hpp"

#include <mutex>

#include <caf/all.hpp>

#include "actors/kyc/kyc_errc.hpp"
#include "actors/kyc/kyc_service.hpp"
#include "actors/kyc/kyc_store.hpp"
#include "protocols/ws/ops.hpp"

namespace superapp::kyc {
namespace {

// The front door starts before the service (store -> front door -> workers), so the op
// handlers find the running service here; a restarted service replaces its handle.
class service_slot {
 public:
  void set(service_actor a) {
    std::lock_guard<std::mutex> guard{mutex_};
    actor_ = std::move(a);
  }
  service_actor get() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return actor_;
  }

 private:
  mutable std::mutex mutex_;
  service_actor actor_;
};

}  // namespace

sup::domain_definition kyc_domain(kyc_settings settings, std::string name) {
  register_kyc_errors();
  auto slot = std::make_shared<service_slot>();
  sup::domain_definition def;
  def.name = std::move(name);
  def.migrations = store::migrations();
  sup::op_handler delegate = [slot](caf::event_based_actor* self, const sup::domain_context_ptr&,
                                    op_request& req) -> caf::result<op_reply> {
    auto service = slot->get();
    if (!service) return make_error(platform_errc::unavailable);
    return self->delegate(service, op_atom::value, std::move(req));
  };
  for (const auto& op : ws::protocol_ops().all())
    if (op.name.rfind("kyc.", 0) == 0 && op.name != "kyc.ping") def.ops[op.name] = delegate;
  def.ops[std::string{provider_callback_op}] = delegate;

  sup::domain_worker service;
  service.spec.id = "service";
  service.spec.shutdown_timeout = std::chrono::seconds{5};
  service.start = [settings, slot](caf::local_actor& parent, const caf::message&,
                                   sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto actor = spawn_kyc_service(parent, settings, std::move(ctx));
    slot->set(actor);
    return caf::actor_cast<caf::actor>(actor);
  };
  def.workers.push_back(std::move(service));
  return def;
}

}  // namespace superapp::kyc
