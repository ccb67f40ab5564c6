// The kyc ops' schemas and catalogue entries.
#include "protocols/ws/kyc_ops.hpp"

#include <limits>

#include "protocols/ws/ops.hpp"

namespace superapp::ws {
namespace {

constexpr int_range non_negative{0, std::numeric_limits<std::int64_t>::max()};
constexpr min_length non_empty{1};
constexpr max_length name_chars{max_kyc_name_chars};
constexpr max_length id_chars{64};

}  // namespace

const body_schema<kyc_submit_request>& kyc_submit_request_schema() {
  static const auto document =
      body_schema<kyc_document>{}
          .required("type", &kyc_document::type, name_chars, non_empty)
          .required("number", &kyc_document::number, max_length{max_document_number_chars},
                    non_empty);
  static const auto s =
      body_schema<kyc_submit_request>{}
          .required("level", &kyc_submit_request::level, name_chars, non_empty)
          .required("documents", &kyc_submit_request::documents, document,
                    max_items{max_kyc_documents});
  return s;
}
const body_schema<kyc_check_reply>& kyc_check_reply_schema() {
  static const auto s = body_schema<kyc_check_reply>{}
                            .required("check_id", &kyc_check_reply::check_id, id_chars)
                            .required("level", &kyc_check_reply::level, name_chars)
                            .required("state", &kyc_check_reply::state, max_length{16});
  return s;
}
const body_schema<kyc_status_reply>& kyc_status_reply_schema() {
  static const auto row =
      body_schema<kyc_limits_row>{}
          .required("currency", &kyc_limits_row::currency, max_length{3}, min_length{3})
          .required("per_transaction_minor", &kyc_limits_row::per_transaction_minor, non_negative)
          .required("per_day_minor", &kyc_limits_row::per_day_minor, non_negative)
          .required("balance_minor", &kyc_limits_row::balance_minor, non_negative);
  static const auto s =
      body_schema<kyc_status_reply>{}
          .required("level", &kyc_status_reply::level, name_chars)
          .required("limits", &kyc_status_reply::limits, row, max_items{max_kyc_rows})
          .optional("check_id", &kyc_status_reply::check_id, id_chars)
          .optional("check_level", &kyc_status_reply::check_level, name_chars)
          .optional("check_state", &kyc_status_reply::check_state, max_length{16})
          .optional("check_reason", &kyc_status_reply::check_reason, max_length{64});
  return s;
}
const body_schema<kyc_levels_reply>& kyc_levels_reply_schema() {
  static const auto level =
      body_schema<kyc_level_row>{}
          .required("level", &kyc_level_row::level, name_chars)
          .required("rank", &kyc_level_row::rank, non_negative)
          .required("documents_required", &kyc_level_row::documents_required, non_negative);
  static const auto limits =
      body_schema<kyc_level_limits_row>{}
          .required("level", &kyc_level_limits_row::level, name_chars)
          .required("currency", &kyc_level_limits_row::currency, max_length{3}, min_length{3})
          .required("per_transaction_minor", &kyc_level_limits_row::per_transaction_minor,
                    non_negative)
          .required("per_day_minor", &kyc_level_limits_row::per_day_minor, non_negative)
          .required("balance_minor", &kyc_level_limits_row::balance_minor, non_negative);
  static const auto type =
      body_schema<kyc_document_type_row>{}.required("type", &kyc_document_type_row::type, name_chars);
  static const auto s =
      body_schema<kyc_levels_reply>{}
          .required("default_level", &kyc_levels_reply::default_level, name_chars)
          .required("levels", &kyc_levels_reply::levels, level, max_items{max_kyc_rows})
          .required("limits", &kyc_levels_reply::limits, limits, max_items{max_kyc_rows})
          .required("document_types", &kyc_levels_reply::document_types, type,
                    max_items{max_kyc_rows});
  return s;
}

void add_kyc_ops(op_catalogue& c) {
  c.add(scoped_op(make_op("kyc.levels", lane::query,
                          "The verification levels, their limits per currency (minor units) and "
                          "the document types a check may carry.",
                          empty_body_schema(), kyc_levels_reply_schema()),
                  "user"));
  c.add(scoped_op(make_op("kyc.status", lane::query,
                          "The caller's verification level, its limits, and the latest check.",
                          empty_body_schema(), kyc_status_reply_schema()),
                  "user"));
  c.add(scoped_op(make_op("kyc.submit", lane::transactional,
                          "Submits identity documents for a higher level; the provider decides "
                          "later and kyc.check.verified or kyc.check.rejected is pushed.",
                          kyc_submit_request_schema(), kyc_check_reply_schema()),
                  "user"));
}

}  // namespace superapp::ws
