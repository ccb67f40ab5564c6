// Every outcome of the kyc domain a client or the provider can see: stable wire codes.
#pragma once

#include <cstdint>

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "protocols/error_catalogue.hpp"

namespace superapp::kyc {

// Wire codes are "<snake_case>" as describe() gives them; never renumber, only append.
enum class kyc_errc : std::uint8_t {
  invalid_level = 1,          // no such level
  level_already_held = 2,     // the caller is at this level or above
  check_pending = 3,          // a check is with the provider already: wait for its outcome
  invalid_documents = 4,      // wrong count for the level, unknown or repeated type, bad number
  provider_unavailable = 5,   // the KYC provider did not take the check: retry
  webhook_signature_invalid = 6,  // a provider callback whose HMAC does not verify
  webhook_stale = 7,          // a provider callback signed too long ago (or in the future)
  webhook_conflict = 8,       // a callback contradicting the decision already recorded
};

inline constexpr kyc_errc last_kyc_errc = kyc_errc::webhook_conflict;
inline constexpr caf::atom_value kyc_category = caf::atom("kyc");

caf::error make_error(kyc_errc code);
error_description describe(kyc_errc code);

// Registers the `kyc` category with the error catalogue; idempotent (also at static init).
void register_kyc_errors();

}  // namespace superapp::kyc
