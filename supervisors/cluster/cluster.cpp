// The cluster subtree: the registry other nodes look domains up in, and one link per peer.
#include "supervisors/cluster/cluster.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <map>
#include <unordered_map>

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/front_door_messages.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::cluster {

namespace {

using reconnect_atom = caf::atom_constant<caf::atom("cl_recon")>;
using relookup_atom = caf::atom_constant<caf::atom("cl_relook")>;

caf::behavior registry_actor(caf::event_based_actor*, std::vector<std::string> local,
                             sup::front_door_directory_ptr directory) {
  return {
      [local](domains_atom) { return local; },
      [local, directory](lookup_atom, const std::string& domain) -> caf::result<caf::actor> {
        if (std::find(local.begin(), local.end(), domain) == local.end())
          return make_error(platform_errc::not_found);
        auto entry = directory->lookup(domain);
        if (!entry) return make_error(platform_errc::unavailable);  // restarting right now
        return entry->front_door;
      },
  };
}

sup::child_spec registry_child(const cluster_settings& settings,
                               sup::front_door_directory_ptr directory,
                               std::function<void(std::uint16_t)> on_published) {
  sup::child_spec c;
  c.id = "registry";
  c.start = [settings, directory, on_published](caf::local_actor& parent,
                                                const caf::message&) -> caf::expected<caf::actor> {
    auto registry = sup::spawn_counted(parent, registry_actor, settings.local_domains, directory);
    auto& mm = parent.system().middleman();
    auto port = mm.publish(registry, settings.port, settings.bind.c_str(), true);
    if (!port) {
      log::error("cluster: cannot publish the registry",
                 {{"bind", settings.bind}, {"port", static_cast<std::int64_t>(settings.port)}});
      caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
      return make_error(platform_errc::start_failed);
    }
    // A restarted registry publishes on the same port: withdraw this one when it goes.
    registry->attach_functor([mm = mm.actor_handle(), addr = registry.address(), p = *port] {
      caf::anon_send(mm, caf::unpublish_atom::value, addr, p);
    });
    log::info("cluster: domains published", {{"port", static_cast<std::int64_t>(*port)}});
    if (on_published) on_published(*port);
    return registry;
  };
  return c;
}

// One per peer: connects (asynchronously, through the middleman actor), looks up the peer's
// domains and publishes itself in the local directory as their front door; forwards each op
// to the peer's front door and answers it; fails what is in flight when the peer goes.
struct link_state {
  peer_address peer;
  cluster_settings settings;
  sup::front_door_directory_ptr directory;
  sup::admission_gate_ptr gate;
  caf::actor registry;
  std::map<std::string, caf::actor> doors;  // domain -> the peer's front door
  struct pending_op {
    std::string domain;
    caf::typed_response_promise<op_reply> promise;
  };
  std::unordered_map<std::uint64_t, pending_op> pending;
  std::uint64_t next_op = 0;
  std::uint64_t epoch = 0;  // bumped whenever the connection is lost
  std::chrono::milliseconds backoff{0};
  std::string name;
};

std::string domain_of(const std::string& op) { return op.substr(0, op.find('.')); }

void fail_pending(link_state& st, const std::string* domain) {
  for (auto it = st.pending.begin(); it != st.pending.end();) {
    if (domain == nullptr || it->second.domain == *domain) {
      it->second.promise.deliver(make_error(platform_errc::unavailable));
      it = st.pending.erase(it);
    } else {
      ++it;
    }
  }
}

caf::behavior peer_link(caf::event_based_actor* self, std::shared_ptr<link_state> st) {
  auto me = caf::actor_cast<caf::actor>(self);
  self->attach_functor([st, addr = self->address()] {
    for (const auto& [domain, door] : st->doors) st->directory->withdraw(domain, addr);
  });
  auto withdraw_all = [st, self] {
    for (const auto& [domain, door] : st->doors) st->directory->withdraw(domain, self->address());
    st->doors.clear();
  };
  auto schedule_reconnect = [self, st] {
    st->backoff = st->backoff.count() == 0
                      ? st->settings.reconnect_min
                      : std::min(st->backoff * 2, st->settings.reconnect_max);
    self->delayed_send(self, st->backoff, reconnect_atom::value, st->epoch);
  };
  auto lookup = std::make_shared<std::function<void(const std::string&)>>();
  *lookup = [self, st, lookup](const std::string& domain) {
    const auto epoch = st->epoch;
    self->request(st->registry, st->settings.request_timeout, lookup_atom::value, domain)
        .then(
            [self, st, domain, epoch](caf::actor& door) {
              if (epoch != st->epoch || !door) return;
              st->doors[domain] = door;
              self->monitor(door);
              st->directory->publish(domain, caf::actor_cast<caf::actor>(self), st->gate);
              log::info("cluster: peer domain reachable", {{"peer", st->name}, {"domain", domain}});
            },
            [self, st, domain, epoch](caf::error&) {
              if (epoch != st->epoch) return;
              self->delayed_send(self, st->settings.reconnect_min, relookup_atom::value, domain,
                                 epoch);
            });
  };
  auto on_registry = [self, st, lookup](caf::actor registry) {
    st->registry = std::move(registry);
    st->backoff = std::chrono::milliseconds{0};
    self->monitor(st->registry);
    const auto epoch = st->epoch;
    self->request(st->registry, st->settings.request_timeout, domains_atom::value)
        .then(
            [st, lookup, epoch](std::vector<std::string>& domains) {
              if (epoch != st->epoch) return;
              for (const auto& d : domains) (*lookup)(d);
            },
            [self](caf::error&) { self->quit(make_error(platform_errc::unavailable)); });
  };
  auto connect = [self, st, on_registry, schedule_reconnect] {
    auto mm = self->home_system().middleman().actor_handle();
    self->request(mm, st->settings.connect_timeout, caf::connect_atom::value, st->peer.host,
                  st->peer.port)
        .then(
            [on_registry, schedule_reconnect](caf::node_id&, caf::strong_actor_ptr& ptr,
                                              std::set<std::string>&) {
              if (!ptr) return schedule_reconnect();
              on_registry(caf::actor_cast<caf::actor>(ptr));
            },
            [schedule_reconnect](caf::error&) { schedule_reconnect(); });
  };
  self->set_down_handler([self, st, withdraw_all, schedule_reconnect](caf::down_msg& down) {
    if (st->registry && down.source == st->registry.address()) {
      // The peer is gone (killed, partitioned, shut down): nothing it held can still answer.
      log::warn("cluster: peer unreachable", {{"peer", st->name}});
      ++st->epoch;
      st->registry = nullptr;
      fail_pending(*st, nullptr);
      withdraw_all();
      return schedule_reconnect();
    }
    for (auto it = st->doors.begin(); it != st->doors.end(); ++it) {
      if (it->second.address() != down.source) continue;
      // That domain's front door restarted on the peer: find its successor.
      const auto domain = it->first;
      st->directory->withdraw(domain, self->address());
      st->doors.erase(it);
      fail_pending(*st, &domain);
      self->delayed_send(self, st->settings.reconnect_min, relookup_atom::value, domain, st->epoch);
      return;
    }
  });
  self->send(self, reconnect_atom::value, st->epoch);
  return {
      [connect, st](reconnect_atom, std::uint64_t epoch) {
        if (epoch == st->epoch && !st->registry) connect();
      },
      [st, lookup](relookup_atom, const std::string& domain, std::uint64_t epoch) {
        if (epoch == st->epoch && st->registry) (*lookup)(domain);
      },
      [self, st](op_atom, op_request& request) -> caf::result<op_reply> {
        auto domain = domain_of(request.op);
        auto door = st->doors.find(domain);
        if (door == st->doors.end()) return make_error(platform_errc::unavailable);
        auto promise = self->make_response_promise<op_reply>();
        const auto id = st->next_op++;
        st->pending.emplace(id, link_state::pending_op{domain, promise});
        auto finish = [st, id](auto&& outcome) {
          auto it = st->pending.find(id);
          if (it == st->pending.end()) return;  // already failed when the peer went down
          it->second.promise.deliver(std::forward<decltype(outcome)>(outcome));
          st->pending.erase(it);
        };
        self->request(door->second, st->settings.request_timeout, op_atom::value,
                      std::move(request))
            .then([finish](op_reply& reply) mutable { finish(std::move(reply)); },
                  [finish](caf::error& err) mutable { finish(std::move(err)); });
        return promise;
      },
      [](sup::ping_atom) { return std::string{"cluster_link"}; },
  };
}

}  // namespace

void prepare_config(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.add_message_type<caller>("superapp.caller");
  cfg.add_message_type<op_request>("superapp.op_request");
  cfg.add_message_type<op_reply>("superapp.op_reply");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
  // A node that dies or hangs is noticed within seconds, not never (CAF-0.17-NOTES section 8).
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds{1}});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{3}});
}

sup::supervisor_spec cluster_supervisor(cluster_settings settings,
                                        sup::front_door_directory_ptr directory,
                                        std::function<void(std::uint16_t)> on_published) {
  SUPERAPP_ASSERT(directory != nullptr);
  sup::supervisor_spec spec;
  spec.name = "cluster";
  spec.strategy_kind = sup::strategy::one_for_one;
  if (settings.publish) spec.children.push_back(registry_child(settings, directory, on_published));
  for (const auto& peer : settings.peers) {
    sup::child_spec c;
    c.id = "peer:" + peer.host + ":" + std::to_string(peer.port);
    c.start = [settings, directory, peer, name = c.id](
                  caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
      auto st = std::make_shared<link_state>();
      st->peer = peer;
      st->settings = settings;
      st->directory = directory;
      st->gate = std::make_shared<sup::admission_gate>(settings.credits_per_peer);
      st->name = name;
      return sup::spawn_counted(parent, peer_link, st);
    };
    spec.children.push_back(std::move(c));
  }
  return spec;
}

}  // namespace superapp::cluster
