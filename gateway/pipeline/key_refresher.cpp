// The key refresher: identity.jwks -> jwk_set -> the gateway's key store.
#include "gateway/pipeline/key_refresher.hpp"

#include <cstdint>
#include <vector>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "gateway/filters/jwt.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/counted.hpp"
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
  bool in_flight = false;
  std::optional<caf::actor_clock::time_point> last_ask;   // when identity was last asked
  std::vector<caf::response_promise> waiting;            // sessions waiting for the answer
  std::uint64_t timer = 0;  // only the latest scheduled tick acts (on-demand asks reschedule)
};

// identity's answer -> the key store. False when the answer was not a usable JWKS document.
bool install_keys(refresher_state& st, const std::string& identity_jwks) {
  if (identity_jwks == st.identity_jwks) return true;
  std::string error;
  auto merged = merge_jwks(st.services->configured_jwks(), identity_jwks, error);
  std::optional<filters::jwk_set> set;
  if (merged) set = filters::jwk_set::from_jwks_json(*merged, error);
  if (!set) {
    log::warn("gateway: the identity domain's keys were not usable; the old keys stay",
              {{"reason", error}});
    return false;
  }
  st.services->keys.replace(std::move(*set));
  st.services->set_served_jwks(*merged);
  st.identity_jwks = identity_jwks;
  log::info("gateway: verification keys updated from the identity domain");
  return true;
}

caf::behavior key_refresher(caf::event_based_actor* self, std::shared_ptr<refresher_state> st) {
  auto schedule = [self, st](std::chrono::milliseconds after) {
    self->delayed_send(self, after, refresh_atom::value, ++st->timer);
  };
  auto finish = [self, st, schedule](bool fetched, std::chrono::milliseconds next) {
    st->in_flight = false;
    for (auto& rp : st->waiting) rp.deliver(fetched);
    st->waiting.clear();
    schedule(next);
  };
  auto ask = [self, st, finish] {
    auto door = st->services->directory->lookup(st->settings.identity_domain);
    if (!door) return finish(false, st->settings.retry);
    st->in_flight = true;
    st->last_ask = self->clock().now();
    op_request request;
    request.op = st->settings.jwks_op;
    request.body_json = "{}";
    if (st->services->caller_seal) st->services->caller_seal->seal(request);
    sup::admitted_request(
        self, door->gate, door->front_door, st->settings.timeout,
        [st, finish](op_reply& reply) {
          // An unusable answer is identity's bug, not an outage: asked again at the interval.
          finish(install_keys(*st, reply.body_json), st->settings.interval);
        },
        [st, finish](caf::error&) { finish(false, st->settings.retry); },
        op_atom::value, std::move(request));
  };
  self->send(self, refresh_atom::value, st->timer);
  return {
      [st, ask](refresh_atom, std::uint64_t timer) {
        if (timer == st->timer && !st->in_flight) ask();
      },
      [self, st, ask](refresh_keys_atom) -> caf::result<bool> {
        // A token with a kid nobody here knows. Join the ask in flight, or ask now unless
        // identity was asked less than `on_demand_gap` ago: forged kids cannot make the
        // gateway flood identity, and a session then verifies against the keys as they are.
        auto now = self->clock().now();
        if (!st->in_flight && st->last_ask && now - *st->last_ask < st->settings.on_demand_gap)
          return false;
        auto rp = self->make_response_promise<bool>();
        st->waiting.push_back(rp);
        if (!st->in_flight) ask();
        return rp;
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
    auto refresher = sup::spawn_counted(parent, key_refresher, st);
    services->key_refresher.set(refresher);
    return refresher;
  };
  return c;
}

}  // namespace superapp::gateway
