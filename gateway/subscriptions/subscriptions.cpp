// The subscription router and the per-session subscription actors.
#include "gateway/subscriptions/subscriptions.hpp"

#include <openssl/rand.h>

#include <array>
#include <boost/json.hpp>
#include <caf/all.hpp>
#include <map>
#include <set>
#include <unordered_map>

#include "gateway/subscriptions/event_ring.hpp"
#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"


namespace superapp::gateway {

namespace {

using expire_atom = caf::atom_constant<caf::atom("sub_ttl")>;

std::string new_resume_token() {
  std::array<unsigned char, 16> bytes{};
  SUPERAPP_ASSERT(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1);
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

// One per session that subscribed: its topics, its numbered events, and the session actor it
// pushes to. It outlives a dropped connection by detached_ttl so a reconnect can resume.
struct subscription_state {
  std::string subject;
  std::string token;
  subscription_limits limits;
  std::vector<std::string> topics;
  event_ring ring;
  caf::actor session;
  std::uint64_t generation = 0;  // which detachment a TTL timer belongs to

  subscription_state(std::string who, std::string resume_token, subscription_limits l)
      : subject(std::move(who)),
        token(std::move(resume_token)),
        limits(l),
        ring(l.max_events, l.max_bytes) {}
};

caf::behavior subscription_actor(caf::event_based_actor* self, caf::actor router,
                                 std::shared_ptr<subscription_state> state, caf::actor session) {
  self->monitor(router);
  auto attach = [self, state](caf::actor next) {
    if (state->session) self->demonitor(state->session);
    state->session = std::move(next);
    ++state->generation;
    if (state->session) self->monitor(state->session);
  };
  attach(std::move(session));
  self->set_down_handler([self, state, router](caf::down_msg& down) {
    if (down.source == router) return self->quit(down.reason);
    if (!state->session || down.source != state->session) return;
    state->session = nullptr;
    self->delayed_send(self, state->limits.detached_ttl, expire_atom::value, state->generation);
  });
  return {
      [state](subscribe_atom, std::string& topic) -> caf::result<std::string> {
        for (const auto& t : state->topics)
          if (t == topic) return state->token;
        if (state->topics.size() >= state->limits.max_topics)
          return make_error(platform_errc::bad_request);
        state->topics.push_back(std::move(topic));
        return state->token;
      },
      [state](unsubscribe_atom, const std::string& topic) {
        auto& t = state->topics;
        const auto before = t.size();
        std::erase(t, topic);
        return t.size() != before;
      },
      [self, state](client_event_atom, const client_event& event) {
        for (const auto& topic : state->topics) {
          if (!topic_matches(topic, event.type)) continue;
          const auto& frame = state->ring.push(event.type, event.body_json);
          if (state->session) self->send(state->session, push_atom::value, frame);
          return;
        }
      },
      [state, attach](resume_atom, caf::actor& next, std::int64_t last_seq) {
        resume_outcome outcome;
        auto frames = last_seq < 0 ? std::nullopt
                                   : state->ring.since(static_cast<std::uint64_t>(last_seq));
        if (frames) {
          outcome.frames = std::move(*frames);
        } else {
          outcome.resync = true;  // the topics stay; the client refetches and carries on
        }
        attach(std::move(next));
        return outcome;
      },
      [self, state](end_session_atom, std::string& reason) {
        // Through here, so the session gets the ending event's push before it is closed.
        if (state->session) self->send(state->session, end_session_atom::value, std::move(reason));
      },
      [self, state](expire_atom, std::uint64_t generation) {
        if (!state->session && generation == state->generation) self->quit();
      },
  };
}

struct router_state {
  subscription_limits limits;
  std::unordered_map<caf::actor_addr, caf::actor> by_session;
  std::unordered_map<std::string, caf::actor> by_token;
  std::unordered_multimap<std::string, caf::actor> by_subject;
  struct entry {
    std::string subject;
    std::string token;
    caf::actor_addr session;  // the one session by_session maps to this subscription
  };
  std::unordered_map<caf::actor_addr, entry> subscriptions;  // by the subscription's address
  std::set<caf::actor_addr> watched_sessions;
  // Every authenticated session, subscribed or not, so an ending event can close it.
  struct known_session {
    std::string subject;
    std::string device_id;
  };
  std::unordered_map<caf::actor_addr, known_session> known;
  std::unordered_multimap<std::string, caf::actor> sessions_by_subject;
};

void forget_session(router_state& st, const caf::actor_addr& session) {
  auto found = st.known.find(session);
  if (found == st.known.end()) return;
  auto [first, last] = st.sessions_by_subject.equal_range(found->second.subject);
  for (auto it = first; it != last; ++it)
    if (it->second.address() == session) {
      st.sessions_by_subject.erase(it);
      break;
    }
  st.known.erase(found);
}

void forget_subscription(router_state& st, const caf::actor_addr& sub) {
  auto found = st.subscriptions.find(sub);
  if (found == st.subscriptions.end()) return;
  st.by_token.erase(found->second.token);
  auto [first, last] = st.by_subject.equal_range(found->second.subject);
  for (auto it = first; it != last; ++it)
    if (it->second.address() == sub) {
      st.by_subject.erase(it);
      break;
    }
  if (auto s = st.by_session.find(found->second.session);
      s != st.by_session.end() && s->second.address() == sub)
    st.by_session.erase(s);
  st.subscriptions.erase(found);
}

}  // namespace

caf::behavior subscription_router(caf::event_based_actor* self, subscription_limits limits) {
  auto st = std::make_shared<router_state>();
  st->limits = limits;
  auto watch_session = [self, st](const caf::actor& session) {
    if (st->watched_sessions.insert(session.address()).second) self->monitor(session);
  };
  self->set_down_handler([st](caf::down_msg& down) {
    if (st->watched_sessions.erase(down.source) > 0) {
      st->by_session.erase(down.source);  // the subscription lives on until its TTL
      forget_session(*st, down.source);
      return;
    }
    forget_subscription(*st, down.source);
  });
  return {
      [self, st, watch_session](subscribe_atom, std::string& subject, caf::actor& session,
                                std::string& topic) -> caf::result<std::string> {
        if (!valid_topic(topic)) return make_error(platform_errc::bad_request);
        auto& sub = st->by_session[session.address()];
        if (!sub) {
          auto token = new_resume_token();
          auto state = std::make_shared<subscription_state>(subject, token, st->limits);
          sub = self->spawn(subscription_actor, caf::actor_cast<caf::actor>(self), state,
                            session);
          self->monitor(sub);
          watch_session(session);
          st->subscriptions[sub.address()] = {subject, token, session.address()};
          st->by_token.emplace(token, sub);
          st->by_subject.emplace(std::move(subject), sub);
        } else if (st->subscriptions.at(sub.address()).subject != subject) {
          return make_error(platform_errc::forbidden);  // a session's user never changes
        }
        self->delegate(sub, subscribe_atom::value, std::move(topic));
        return caf::delegated<std::string>{};
      },
      [self, st](unsubscribe_atom, caf::actor& session,
                 std::string& topic) -> caf::result<bool> {
        auto found = st->by_session.find(session.address());
        if (found == st->by_session.end()) return false;
        self->delegate(found->second, unsubscribe_atom::value, std::move(topic));
        return caf::delegated<bool>{};
      },
      [self, st, watch_session](resume_atom, std::string& token, std::string& subject,
                                caf::actor& session,
                                std::int64_t last_seq) -> caf::result<resume_outcome> {
        auto found = st->by_token.find(token);
        // Another user's token answers exactly like an unknown one.
        if (found == st->by_token.end() ||
            st->subscriptions.at(found->second.address()).subject != subject)
          return resume_outcome{true, {}};
        auto sub = found->second;
        if (auto current = st->by_session.find(session.address());
            current != st->by_session.end() && current->second != sub) {
          // The session subscribed afresh before resuming: the resumed state replaces it.
          auto replaced = current->second;
          self->send_exit(replaced, caf::exit_reason::normal);
          forget_subscription(*st, replaced.address());
        }
        // One session per subscription: a connection it was attached to no longer gets it.
        auto& entry = st->subscriptions.at(sub.address());
        if (auto previous = st->by_session.find(entry.session);
            previous != st->by_session.end() && previous->second == sub)
          st->by_session.erase(previous);
        entry.session = session.address();
        st->by_session[session.address()] = sub;
        watch_session(session);
        self->delegate(sub, resume_atom::value, std::move(session), last_seq);
        return caf::delegated<resume_outcome>{};
      },
      [st, watch_session](session_user_atom, std::string& subject, std::string& device_id,
                          caf::actor& session) {
        if (!session || st->known.count(session.address()) != 0) return;
        watch_session(session);
        st->sessions_by_subject.emplace(subject, session);
        st->known.emplace(session.address(), router_state::known_session{std::move(subject), std::move(device_id)});
      },
      [self, st](client_event_atom, client_event& event) {
        if (event.audience.empty()) return;
        boost::json::error_code ec;
        auto body = boost::json::parse(event.body_json, ec);
        if (ec || !body.is_object()) {
          log::warn("event dropped: its body is not a JSON object", {{"type", event.type}});
          return;
        }
        auto ending = session_ending_for(event.type, body.as_object());
        auto message = caf::make_message(client_event_atom::value, std::move(event));
        const auto& audience = message.get_as<client_event>(1).audience;
        for (const auto& user : audience) {
          auto [first, last] = st->by_subject.equal_range(user);
          for (auto it = first; it != last; ++it) self->send(it->second, message);
        }
        if (!ending) return;
        for (const auto& user : audience) {
          auto [first, last] = st->sessions_by_subject.equal_range(user);
          for (auto it = first; it != last; ++it) {
            const auto& who = st->known.at(it->second.address());
            if (!ending->every_device && who.device_id != ending->device_id) continue;
            // A subscribed session is told through its subscription actor, behind the push.
            auto sub = st->by_session.find(it->second.address());
            self->send(sub != st->by_session.end() ? sub->second : it->second,
                       end_session_atom::value, ending->reason);
          }
        }
      },
  };
}

std::optional<session_ending> session_ending_for(const std::string& type,
                                                 const boost::json::object& body) {
  auto text = [&](const char* key) {
    auto* v = body.if_contains(key);
    return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
  };
  if (type == "identity.device.revoked") {
    auto device = text("device_id");
    if (device.empty()) return std::nullopt;
    return session_ending{false, std::move(device), "device revoked"};
  }
  if (type == "identity.user.logged_out") {
    auto* everywhere = body.if_contains("everywhere");
    if (everywhere != nullptr && everywhere->is_bool() && everywhere->as_bool())
      return session_ending{true, {}, "logged out"};
    auto device = text("device_id");
    if (device.empty()) return std::nullopt;
    return session_ending{false, std::move(device), "logged out"};
  }
  return std::nullopt;
}

sup::child_spec subscription_router_child(subscription_limits limits,
                                          std::function<void(const caf::actor&)> on_started) {
  sup::child_spec c;
  c.id = "subscriptions";
  c.answers_probe = false;
  c.start = [limits, on_started = std::move(on_started)](
                caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    auto router = sup::spawn_counted(parent, subscription_router, limits);
    if (on_started) on_started(router);
    return router;
  };
  return c;
}

}  // namespace superapp::gateway
