// Bodies of the kyc domain's client ops (kyc.*) and their schemas: the gateway checks requests
// with them, the kyc domain decodes with them. See actors/kyc/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/ws/body.hpp"

namespace superapp::ws {

inline constexpr std::size_t max_kyc_name_chars = 32;       // level and document type names
inline constexpr std::size_t max_document_number_chars = 64;
inline constexpr std::size_t max_kyc_documents = 5;
inline constexpr std::size_t max_kyc_rows = 256;  // levels x currencies listed

struct kyc_document {
  std::string type;    // one of the policy's document types, e.g. "passport"
  std::string number;  // as printed: letters, digits, '-' and spaces
};
struct kyc_submit_request {
  std::string level;  // the level to be verified for, above the caller's current one
  std::vector<kyc_document> documents;
};
struct kyc_check_reply {
  std::string check_id;
  std::string level;
  std::string state;  // pending | verified | rejected
};
struct kyc_limits_row {
  std::string currency;
  std::int64_t per_transaction_minor = 0;
  std::int64_t per_day_minor = 0;
  std::int64_t balance_minor = 0;
};
struct kyc_status_reply {
  std::string level;
  std::vector<kyc_limits_row> limits;
  // The caller's latest check, if any.
  std::optional<std::string> check_id;
  std::optional<std::string> check_level;
  std::optional<std::string> check_state;
  std::optional<std::string> check_reason;  // why a check was rejected
};
struct kyc_level_row {
  std::string level;
  std::int64_t rank = 0;
  std::int64_t documents_required = 0;
};
struct kyc_level_limits_row {
  std::string level;
  std::string currency;
  std::int64_t per_transaction_minor = 0;
  std::int64_t per_day_minor = 0;
  std::int64_t balance_minor = 0;
};
struct kyc_document_type_row {
  std::string type;
};
struct kyc_levels_reply {
  std::string default_level;
  std::vector<kyc_level_row> levels;
  std::vector<kyc_level_limits_row> limits;
  std::vector<kyc_document_type_row> document_types;
};

const body_schema<kyc_submit_request>& kyc_submit_request_schema();
const body_schema<kyc_check_reply>& kyc_check_reply_schema();
const body_schema<kyc_status_reply>& kyc_status_reply_schema();
const body_schema<kyc_levels_reply>& kyc_levels_reply_schema();

class op_catalogue;
void add_kyc_ops(op_catalogue& c);

}  // namespace superapp::ws
