// Wires the identity domain: migrations, the ops the front door delegates, the service worker.
#include "actors/identity/identity_domain.hpp"

#include <caf/all.hpp>

#include "actors/identity/identity_errc.hpp"
#include "actors/identity/identity_service.hpp"
#include "actors/identity/identity_store.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::identity {

sup::domain_definition identity_domain(identity_settings settings, std::string name) {
  register_identity_errors();
  return sup::service_domain(
      std::move(name), store::migrations(), ws::domain_op_names("identity"),
      [settings](caf::local_actor& parent, sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
        auto keys = load_or_create_keys(parent.system(), *ctx, settings);
        if (!keys) return keys.error();
        return caf::actor_cast<caf::actor>(
            spawn_identity_service(parent, settings, ctx, std::move(*keys)));
      });
}

}  // namespace superapp::identity
