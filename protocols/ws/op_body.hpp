// The domain side of an op: its body decoded with the op's schema, its reply encoded with it,
// and the caller checked. What every domain service does first.
#pragma once

#include <algorithm>
#include <string_view>

#include <boost/json.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "protocols/ws/body.hpp"

namespace superapp::ws {

// The app users' scope: what identity puts in every user's access token.
inline constexpr std::string_view user_scope = "user";

template <class T>
op_reply reply_of(const body_schema<T>& schema, const T& value) {
  return op_reply{boost::json::serialize(schema.encode(value))};
}

// The gateway validated the body already; a body that fails here came another way: bad_request.
template <class T>
caf::expected<T> decode_body(const body_schema<T>& schema, const op_request& req) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(req.body_json, ec);
  if (ec) return make_error(platform_errc::bad_request);
  auto body = schema.decode(doc);
  if (!body) return make_error(platform_errc::bad_request);
  return std::move(*body);
}

// An op for callers holding `scope` (the catalogue's required_scope): no caller (or, with
// `with_device`, no device) is `unauthorized`, a caller without the scope `forbidden`. The
// gateway checks the same; this is the domain's own check (defence in depth).
inline caf::error require_scope(const op_request& req, std::string_view scope,
                                bool with_device = false) {
  if (req.who.subject.empty() || (with_device && req.who.device_id.empty()))
    return make_error(platform_errc::unauthorized);
  const auto& scopes = req.who.scopes;
  if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end())
    return make_error(platform_errc::forbidden);
  return {};
}

}  // namespace superapp::ws
