// The gateway's names for the token primitives, which live in protocols/tokens (superapp_tokens)
// so the identity domain can issue what the gateway verifies.
#pragma once

#include "protocols/tokens/jwt.hpp"

namespace superapp::filters {

using tokens::base64url_decode;
using tokens::base64url_encode;
using tokens::claims;
using tokens::jwk_set;
using tokens::jwks_json;
using tokens::jwt_clock_skew_allowance;
using tokens::jwt_key_store;
using tokens::jwt_outcome;
using tokens::jwt_policy;
using tokens::jwt_verifier;
using tokens::max_token_bytes;
using tokens::pkey_ptr;
using tokens::sign_es256;
using tokens::sign_es256_raw;
using tokens::signing_key;
using tokens::token_issue;
using tokens::unknown_kid_failure;

}  // namespace superapp::filters
