// Wires the kyc domain: migrations, the ops the front door delegates, the service worker.
#include "actors/kyc/kyc_domain.hpp"

#include <caf/all.hpp>

#include "actors/kyc/kyc_errc.hpp"
#include "actors/kyc/kyc_service.hpp"
#include "actors/kyc/kyc_store.hpp"
#include "protocols/ws/ops.hpp"
#include "supervisors/domain_service.hpp"

namespace superapp::kyc {

sup::domain_definition kyc_domain(kyc_settings settings, std::string name) {
  register_kyc_errors();
  auto ops = ws::domain_op_names("kyc");
  ops.emplace_back(provider_callback_op);
  return sup::service_domain(
      std::move(name), store::migrations(), ops,
      [settings](caf::local_actor& parent, sup::domain_context_ptr ctx) -> caf::expected<caf::actor> {
        return caf::actor_cast<caf::actor>(spawn_kyc_service(parent, settings, std::move(ctx)));
      });
}

}  // namespace superapp::kyc
