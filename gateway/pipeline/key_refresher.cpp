// The key refresher: identity.jwks -> jwk_set -> the gateway's key store.
#include "gateway/pipeline/key_refresher.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/filters/jwt.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::gateway {

namespace {

using refresh_atom = caf::atom_constant<caf::atom("key_fresh")>;

const boost::json::array* keys_of(const boost::json::value& doc) {
  const auto* object = doc.if_object();
  if (object == nullptr) return nullptr;
  auto keys = object->find("keys");
  return keys == object->end() ? nullptr : keys->value().if_array();
}

struct refresher_state {
  std::shared_ptr<gateway_services> services;
  key_refresh_settings settings;
  std::string identity_jwks;  // the last answer, to skip swaps when nothing changed
};

caf::behavior key_refresher(caf::event_based_actor* self, std::shared_ptr<refresher_state> st) {
  auto apply = [st](const std::string& identity_jwks) {
    if (identity_jwks == st->identity_jwks) return;
    std::string error;
    auto merged = merge_jwks(st->services->configured_jwks(), identity_jwks, error);
    std::optional<filters::jwk_set> set;
    if (merged) set = filters::jwk_set::from_jwks_json(*merged, error);
    if (!set) {
      log::warn("gateway: the identity domain's keys were not usable; the old keys stay",
                {{"reason", error}});
      return;
    }
    st->services->keys.replace(std::move(*set));
    st->services->set_served_jwks(*merged);
    st->identity_jwks = identity_jwks;
    log::info("gateway: verification keys updated from the identity domain");
  };
  self->send(self, refresh_atom::value);
  return {
      [self, st, apply](refresh_atom) {
        auto door = st->services->directory->lookup(st->settings.identity_domain);
        if (!door) {
          self->delayed_send(self, st->settings.retry, refresh_atom::value);
          return;
        }
        op_request request;
        request.op = st->settings.jwks_op;
        request.body_json = "{}";
        if (st->services->caller_seal) st->services->caller_seal->seal(request);
        sup::admitted_request(
            self, door->gate, door->front_door, st->settings.timeout,
            [self, st, apply](op_reply& reply) {
              apply(reply.body_json);
              self->delayed_send(self, st->settings.interval, refresh_atom::value);
            },
            [self, st](caf::error&) {
              self->delayed_send(self, st->settings.retry, refresh_atom::value);
            },
            op_atom::value, std::move(request));
      },
  };
}

}  // namespace

std::optional<std::string> merge_jwks(std::string_view a, std::string_view b, std::string& error) {
  boost::json::error_code ec;
  auto first = boost::json::parse(a.empty() ? std::string_view{R"({"keys":[]})"} : a, ec);
  if (ec || keys_of(first) == nullptr) {
    error = "the configured keys are not a JWKS document";
    return std::nullopt;
  }
  auto second = boost::json::parse(b, ec);
  if (ec || keys_of(second) == nullptr) {
    error = "the identity domain's answer is not a JWKS document";
    return std::nullopt;
  }
  boost::json::array keys = *keys_of(first);
  for (const auto& key : *keys_of(second)) keys.push_back(key);
  return boost::json::serialize(boost::json::object{{"keys", std::move(keys)}});
}

sup::child_spec key_refresher_child(std::shared_ptr<gateway_services> services,
                                    key_refresh_settings settings) {
  sup::child_spec c;
  c.id = "key_refresher";
  c.start = [services = std::move(services), settings](
                caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    auto st = std::make_shared<refresher_state>();
    st->services = services;
    st->settings = settings;
    return parent.spawn(key_refresher, st);
  };
  return c;
}

}  // namespace superapp::gateway
