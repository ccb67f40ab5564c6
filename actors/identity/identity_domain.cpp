// Wires the identity domain: migrations, the ops the front door delegates, the service worker.
#include "actors/identity/identity_domain.hpp"

#include <mutex>

#include <caf/all.hpp>

#include "actors/identity/identity_errc.hpp"
#include "actors/identity/identity_service.hpp"
#include "actors/identity/identity_store.hpp"
#include "protocols/ws/ops.hpp"

namespace superapp::identity {
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

sup::domain_definition identity_domain(identity_settings settings, std::string name) {
  register_identity_errors();
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
    if (op.name.rfind("identity.", 0) == 0 && op.name != "identity.ping") def.ops[op.name] = delegate;

  sup::domain_worker service;
  service.spec.id = "service";
  service.spec.shutdown_timeout = std::chrono::seconds{5};
  service.start = [settings, slot](caf::local_actor& parent, const caf::message&,
                                   sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
    auto keys = load_or_create_keys(parent.system(), *ctx, settings);
    if (!keys) return keys.error();
    auto actor = spawn_identity_service(parent, settings, ctx, std::move(*keys));
    slot->set(actor);
    return caf::actor_cast<caf::actor>(actor);
  };
  def.workers.push_back(std::move(service));
  return def;
}

}  // namespace superapp::identity
