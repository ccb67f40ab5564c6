// The kyc error category: wire codes, messages, retryability.
#include "actors/kyc/kyc_errc.hpp"

namespace superapp::kyc {
namespace {

const bool registered = [] {
  register_enum_category<kyc_errc, last_kyc_errc>(kyc_category);
  return true;
}();

}  // namespace

void register_kyc_errors() {
  (void)registered;
  register_enum_category<kyc_errc, last_kyc_errc>(kyc_category);
}

caf::error make_error(kyc_errc code) { return caf::error{static_cast<std::uint8_t>(code), kyc_category}; }

error_description describe(kyc_errc code) {
  switch (code) {
    case kyc_errc::invalid_level:
      return {"invalid_level", "there is no such verification level (see kyc.levels)", false};
    case kyc_errc::level_already_held:
      return {"level_already_held", "you are already verified at this level or above", false};
    case kyc_errc::check_pending:
      return {"check_pending", "a verification is in progress; wait for its outcome", false};
    case kyc_errc::invalid_documents:
      return {"invalid_documents",
              "the level needs a given number of documents of different accepted types, each "
              "with a number of letters, digits, '-' or spaces",
              false};
    case kyc_errc::provider_unavailable:
      return {"provider_unavailable", "the verification provider is not reachable; retry", true};
    case kyc_errc::webhook_signature_invalid:
      return {"webhook_signature_invalid", "the callback's signature does not verify", false};
    case kyc_errc::webhook_stale:
      return {"webhook_stale", "the callback's timestamp is outside the accepted window", false};
    case kyc_errc::webhook_conflict:
      return {"webhook_conflict", "the callback contradicts the decision already recorded", false};
  }
  return {"internal", "internal error", false};
}

}  // namespace superapp::kyc
