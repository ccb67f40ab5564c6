// Runs one node: actor system, root supervisor over the domain trees, admin listener, signals.
#include "app/node_runtime.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <algorithm>
#include <atomic>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "app/cli_common.hpp"
#include "app/domains.hpp"
#include "app/gateway_wiring.hpp"
#include "gateway/admin/admin_listener.hpp"
#include "gateway/admin/ops_monitor.hpp"
#include "gateway/admin/tree_json.hpp"
#include "gateway/pipeline/key_refresher.hpp"
#include "gateway/subscriptions/event_feed.hpp"
#include "simulators/bank/bank_simulator.hpp"
#include "simulators/kyc/kyc_simulator.hpp"
#include "simulators/sms/sms_simulator.hpp"
#include "protocols/caller_seal.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/events/event.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/outbox_relay.hpp"
#include "supervisors/cluster/cluster.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/kafka/kafka_bridge.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/node/logging.hpp"
#include "supervisors/supervisor.hpp"

namespace superapp::app {
namespace {

using tree_completion = std::function<void(caf::expected<sup::tree_node>)>;
using events_completion = admin::admin_callbacks::events_completion;
using fetch_tree_atom = caf::atom_constant<caf::atom("fetch_tree")>;
using fetch_events_atom = caf::atom_constant<caf::atom("fetch_evts")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;

}  // namespace
}  // namespace superapp::app

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::app::tree_completion)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::app::events_completion)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::admin::events_query)

namespace superapp::app {
namespace {

constexpr auto start_timeout = std::chrono::seconds{60};
constexpr auto report_timeout = std::chrono::seconds{2};

std::string position_text(const bus::bus_position& p) {
  return std::to_string(p.epoch) + ":" + std::to_string(p.seq);
}

// The body of GET /api/events: at most `limit` events and where the next page starts.
std::string events_page(const std::string& topic, const bus::bus_replayed& r, std::int64_t limit) {
  boost::json::object out;
  out["topic"] = topic;
  out["resync"] = false;
  boost::json::array list;
  auto next = r.head;
  auto n = std::min(r.deliveries.size(), static_cast<std::size_t>(limit));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& d = r.deliveries[i];
    boost::json::object item;
    item["seq"] = d.position.seq;
    item["event"] = boost::json::parse(events::to_json(d.event));
    list.push_back(std::move(item));
  }
  if (n < r.deliveries.size()) next = r.deliveries[n - 1].position;
  out["events"] = std::move(list);
  out["next"] = position_text(next);
  return boost::json::serialize(out);
}

// The admin listener's io threads must never wait on an actor, so they hand a completion to
// this actor, which asks the root (or the bus) and calls the completion from an actor thread.
caf::behavior admin_bridge(caf::event_based_actor* self, caf::actor root,
                           bus::bus_directory_ptr buses) {
  return {
      [self, root](fetch_tree_atom, tree_completion& done) {
        self->request(root, report_timeout, sup::report_atom::value)
            .then([done](sup::tree_node& tree) { done(std::move(tree)); },
                  [done](caf::error& err) { done(std::move(err)); });
      },
      [self, buses](fetch_events_atom, admin::events_query& q, events_completion& done) {
        auto bus = buses->current();
        if (!bus) return done(make_error(platform_errc::unavailable));
        auto on_page = [done, topic = q.topic, limit = q.limit](bus::bus_replayed& r) {
          done(events_page(topic, r, limit));
        };
        auto on_error = [done, topic = q.topic](caf::error& err) {
          if (err != events::events_errc::resync_required) return done(std::move(err));
          // The position is from an earlier bus (a restart) or has left the ring.
          boost::json::object out{{"topic", topic}, {"resync", true},
                                  {"events", boost::json::array{}}, {"next", nullptr}};
          done(boost::json::serialize(out));
        };
        if (q.has_after)
          self->request(bus, report_timeout, bus::bus_replay_atom::value, q.topic,
                        bus::bus_position{q.after_epoch, q.after_seq})
              .then(on_page, on_error);
        else
          self->request(bus, report_timeout, bus::bus_recent_atom::value, q.topic, q.limit)
              .then(on_page, on_error);
      },
  };
}

sup::domain_settings domain_settings_from(const node::node_config& config,
                                          sup::front_door_directory_ptr directory,
                                          metrics::registry& registry) {
  const auto& s = config.supervision;
  sup::domain_settings settings;
  settings.database = node::to_database_config(config);
  settings.intensity = {static_cast<int>(s.max_restarts), std::chrono::milliseconds{s.period_ms}};
  settings.backoff = {std::chrono::milliseconds{s.backoff_initial_ms},
                      std::chrono::milliseconds{s.backoff_max_ms},
                      static_cast<int>(s.backoff_jitter_percent)};
  settings.front_door_credits = config.admission.front_door_credits;
  settings.shutdown_timeout = std::chrono::milliseconds{s.shutdown_timeout_ms};
  settings.directory = std::move(directory);
  settings.metrics = &registry;
  return settings;
}

// The key the gateway seals forwarded ops with and front doors verify them with.
caller_seal_ptr caller_seal_for(const node::node_config& config, const superapp::clock& clock,
                                std::string& failure) {
  const auto& path = config.node.internal_key_file;
  if (path.empty()) {
    log::info("internal key made for this process; set node.internal_key_file when the "
              "gateway and the domains run on different nodes");
    return std::make_shared<const caller_seal>(caller_seal::generate(clock));
  }
  std::string error;
  auto key = caller_seal::from_hex(read_text_file(path), clock, error);
  if (!key) {
    failure = "config error: node.internal_key_file: " + path + ": " + error;
    return nullptr;
  }
  return std::make_shared<const caller_seal>(std::move(*key));
}

// <data_dir>/node.json tells `superapp admin` on this machine where the node listens.
void write_node_file(const node::node_config& config, const admin::admin_endpoint& endpoint,
                     const std::string& ws_url, std::uint16_t cluster_port,
                     const std::string& sms_url, const std::string& kyc_url, const std::string& bank_url) {
  boost::json::object info;
  info["name"] = config.node.name;
  info["pid"] = static_cast<std::int64_t>(::getpid());
  const auto admin_url = "http://" + endpoint.address + ":" + std::to_string(endpoint.port);
  info["admin_url"] = admin_url;
  info["dashboard_url"] = admin_url + "/dashboard/";
  info["ws_url"] = ws_url;
  if (!sms_url.empty()) info["sms_url"] = sms_url;
  if (!kyc_url.empty()) info["kyc_url"] = kyc_url;
  if (!bank_url.empty()) info["bank_url"] = bank_url;
  if (cluster_port != 0) info["cluster_port"] = static_cast<std::int64_t>(cluster_port);
  auto path = std::filesystem::path{config.node.data_dir} / "node.json";
  std::ofstream out{path, std::ios::trunc};
  out << boost::json::serialize(info) << "\n";
}

}  // namespace

int run_node(const node::node_config& config, bool dev_keys) {
  if (auto failure = node::init_logging(config.log)) {
    std::fprintf(stderr, "%s\n", failure->c_str());
    return 2;
  }
  // Signals are taken by sigwait below; block them before any thread exists so no other
  // thread is picked to run a default handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::filesystem::create_directories(config.node.data_dir);
  if (config.persistence.engine == persistence::engine::sqlite)
    std::filesystem::create_directories(config.persistence.sqlite_directory);

  caf::actor_system_config cfg;
  const bool clustered = config.cluster.publish || !config.cluster.peers.empty();
  if (clustered) cluster::prepare_config(cfg);
  cfg.set("scheduler.max-threads", node::effective_scheduler_threads(config));
  cfg.set("work-stealing.moderate-poll-attempts", config.node.scheduler_idle_polls);
  add_error_renderers(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  metrics::registry registry;
  registry.add_sampled_gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                             metrics::process_resident_memory_bytes);
  registry.add_sampled_counter_us("process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds.",
                                  metrics::process_cpu_microseconds);
  auto directory = std::make_shared<sup::front_door_directory>();

  superapp::system_clock clock;
  std::string seal_failure;
  auto seal = caller_seal_for(config, clock, seal_failure);
  if (!seal) {
    std::fprintf(stderr, "%s\n", seal_failure.c_str());
    return 2;
  }
  auto settings = domain_settings_from(config, directory, registry);
  settings.caller_seal = seal;
  settings.chaos = std::make_shared<sup::chaos_board>();  // the dashboard's chaos control
  auto draining = std::make_shared<std::atomic<bool>>(false);  // the dashboard's drain
  // `superapp run` ships its own SMS provider: the simulator, on a free loopback port.
  domain_wiring wiring;
  std::string files_failure;
  if (!load_domain_files(config, wiring, files_failure)) {
    std::fprintf(stderr, "%s\n", files_failure.c_str());
    return 2;
  }
  wiring.token_issuer = config.gateway.token_issuer;
  wiring.token_audience = config.gateway.token_audience;
  sim::sms_simulator sms;
  if (!config.identity.sms_url.empty()) {
    wiring.sms_url = config.identity.sms_url;
  } else if (dev_keys) {
    std::string sms_failure;
    if (!sms.start("127.0.0.1", 0, sms_failure)) {
      std::fprintf(stderr, "%s\n", sms_failure.c_str());
      return 2;
    }
    wiring.sms_url = sms.base_url();
  }
  // ... and its own KYC provider, whose callbacks come back through this node's gateway (the
  // webhook URL is set once the gateway listens).
  sim::kyc_simulator kyc_provider;
  bool kyc_simulated = false;
  if (!config.kyc.provider_url.empty()) {
    wiring.kyc_provider_url = config.kyc.provider_url;
  } else if (dev_keys) {
    std::string kyc_failure;
    if (!kyc_provider.start("127.0.0.1", 0, kyc_failure)) {
      std::fprintf(stderr, "%s\n", kyc_failure.c_str());
      return 2;
    }
    wiring.kyc_provider_url = kyc_provider.base_url();
    kyc_simulated = true;
  }
  // ... and its own bank, whose payment callbacks also come back through the gateway.
  sim::bank_simulator bank;
  bool bank_simulated = false;
  wiring.recent_transfer_ids = static_cast<std::size_t>(config.banking.recent_transfer_ids);
  wiring.commits_in_flight = static_cast<std::size_t>(config.banking.commits_in_flight);
  wiring.metrics = &registry;
  if (!config.banking.bank_url.empty()) {
    wiring.bank_url = config.banking.bank_url;
  } else if (dev_keys) {
    std::string bank_failure;
    if (!bank.start("127.0.0.1", 0, bank_failure)) {
      std::fprintf(stderr, "%s\n", bank_failure.c_str());
      return 2;
    }
    wiring.bank_url = bank.base_url();
    bank_simulated = true;
  }
  // bridge_sup starts first and stops last: relays and subscribers find the bus through
  // bus_directory. Every domain whose migrations include the outbox gets a relay to it.
  auto bus_directory = std::make_shared<bus::bus_directory>();
  wiring.bus = bus_directory;
  std::vector<sup::supervisor_spec> subtrees;
  bus::outbox_relay_settings relay_settings;
  relay_settings.publisher = bus_directory;
  if (config.bus.kind == node::bus_kind::kafka) {
    // Events cross nodes through Kafka: relays publish to the producer, and the mirror puts
    // every domain's topic (this node's and the others') on the local bus for subscribers.
    kafka::kafka_settings ks;
    ks.bootstrap_servers = config.bus.kafka_brokers;
    ks.client_id = "superapp-" + config.node.name;
    ks.topic_partitions = static_cast<std::int32_t>(config.bus.kafka_partitions);
    ks.replication_factor = static_cast<std::int16_t>(config.bus.kafka_replication_factor);
    auto kafka_directory = std::make_shared<bus::bus_directory>();
    kafka::mirror_settings ms;
    ms.kafka = ks;
    ms.node = config.node.name;
    for (auto role : node::all_roles) ms.topics.push_back(events::topic_for_domain(node::to_string(role)));
    ms.local = bus_directory;
    ms.clock = std::make_shared<superapp::system_clock>();
    ms.metrics = &registry;  // consumer lag, for /metrics and the dashboard
    subtrees.push_back(bus::bridge_supervisor(
        bus::bus_config{}, bus_directory,
        {kafka::producer_child(ks, kafka_directory), kafka::mirror_child(std::move(ms))}));
    relay_settings.publisher = kafka_directory;
    // Banking's KYC limits have an effect: their own consumer group, committing after banking's
    // commit, rather than the mirror (ADR 0012). It runs inside banking's tree.
    wiring.kyc_consumer = [ks, &registry](std::function<caf::actor()> handler) {
      kafka::consumer_settings cs;
      cs.kafka = ks;
      cs.group = "banking.kyc_limits";
      cs.topics = {events::topic_for_domain("kyc")};
      cs.handler = std::move(handler);
      cs.clock = std::make_shared<superapp::system_clock>();
      cs.metrics = &registry;
      return kafka::consumer_worker(std::move(cs));
    };
  } else {
    subtrees.push_back(bus::bridge_supervisor(bus::bus_config{}, bus_directory));
  }
  relay_settings.clock = std::make_shared<superapp::system_clock>();
  relay_settings.metrics = &registry;
  relay_settings.refill_window = std::chrono::seconds{config.bus.refill_window_s};
  relay_settings.refill_max_events = static_cast<std::size_t>(config.bus.refill_max_events);
  // The gateway is made (not started) before the domains: banking verifies identity's
  // approvals with the keys the gateway's key refresher keeps fresh.
  std::optional<gateway_parts> gateway;
  if (config.gateway.enabled) {
    std::string gateway_failure;
    gateway = make_gateway(config, directory, clock, dev_keys, gateway_failure);
    if (!gateway) {
      std::fprintf(stderr, "%s\n", gateway_failure.c_str());
      return 2;
    }
    gateway->services->caller_seal = seal;
    wiring.approval_keys =
        std::shared_ptr<const tokens::jwt_key_store>(gateway->services, &gateway->services->keys);
  }
  // A node hosting banking without a gateway (the money core of a multi-node layout) keeps
  // identity's keys fresh all the same, for banking to verify approvals with: the gateway's
  // key refresher, alone in a subtree of its own, started after the domains.
  std::optional<sup::supervisor_spec> approval_keys;
  const auto& roles = config.node.roles;
  if (!gateway && std::find(roles.begin(), roles.end(), node::role::banking) != roles.end()) {
    std::string keys_failure;
    auto keys = make_gateway(config, directory, clock, dev_keys, keys_failure);
    if (!keys) {
      std::fprintf(stderr, "%s\n", keys_failure.c_str());
      return 2;
    }
    keys->services->caller_seal = seal;
    wiring.approval_keys = std::shared_ptr<const tokens::jwt_key_store>(keys->services, &keys->services->keys);
    approval_keys.emplace();
    approval_keys->name = "approval_keys";
    approval_keys->children.push_back(gateway::key_refresher_child(keys->services));
  }
  for (auto role : config.node.roles) {
    auto definition = domain_for(role, wiring);
    bus::add_outbox_relay(definition, relay_settings);
    subtrees.push_back(sup::domain_supervisor(std::move(definition), settings));
  }
  std::atomic<std::uint16_t> cluster_port{0};  // as bound (the config may say 0)
  if (clustered) {
    // After the local domains (the registry offers them), before the gateway (whose sessions
    // reach the peers' domains through the links).
    cluster::cluster_settings cs;
    cs.bind = config.cluster.bind;
    cs.port = config.cluster.port;
    cs.publish = config.cluster.publish;
    for (auto role : config.node.roles) cs.local_domains.emplace_back(node::to_string(role));
    for (const auto& p : config.cluster.peers) cs.peers.push_back({p.host, p.port});
    cs.credits_per_peer = config.admission.front_door_credits;
    subtrees.push_back(cluster::cluster_supervisor(
        std::move(cs), directory, [&cluster_port](std::uint16_t port) { cluster_port = port; }));
  }
  if (gateway) {
    // Domain events with an audience become pushes to the users' subscribed sessions.
    std::vector<std::string> event_domains;
    for (auto role : node::all_roles) event_domains.emplace_back(node::to_string(role));
    gateway->supervisor.children.push_back(gateway::event_feed_child(
        bus_directory, std::move(event_domains),
        [services = gateway->services] { return services->subscriptions.get(); }));
    // The gateway's subtree starts last and stops first: no session outlives the domains.
    subtrees.push_back(gateway->supervisor);
  }
  if (approval_keys) subtrees.push_back(std::move(*approval_keys));
  auto root = sup::spawn_supervisor(sys, sup::node_root_supervisor("root", std::move(subtrees)));
  if (auto err = sup::await_ready(self, root, start_timeout)) {
    log::error("node failed to start", {{"node", config.node.name},
                                         {"reason", std::string{describe(err).wire_code}}});
    sup::shutdown(self, root, std::chrono::seconds{30});
    return 1;
  }

  auto bridge = sys.spawn(admin_bridge, root, bus_directory);
  admin::ops_settings ops;
  ops.node_name = config.node.name;
  ops.root = root;
  ops.directory = directory;
  ops.chaos = settings.chaos;
  ops.registry = &registry;
  if (gateway) ops.draining = draining;
  ops.audit_file = std::filesystem::path{config.node.data_dir} / "audit.log";
  ops.seal = settings.caller_seal;  // an operator's reversal is an op to banking's front door
  for (const auto& url : config.admin.peers)
    ops.peers.push_back({url, config.admin.operator_token.reveal()});
  auto ops_monitor = admin::spawn_ops_monitor(sys, std::move(ops));
  // The actors behind the admin listener, stopped last on every way out. The operations actor
  // reads the registry, which dies before the actor system, so it must be gone first.
  auto stop_listener_actors = [&] {
    self->send_exit(bridge, caf::exit_reason::user_shutdown);
    self->send_exit(ops_monitor, caf::exit_reason::user_shutdown);
    self->wait_for(ops_monitor);
  };
  admin::admin_config admin_cfg;
  admin_cfg.bind_address = config.admin.bind;
  admin_cfg.port = config.admin.port;
  admin_cfg.io_threads = config.admin.io_threads;
  admin_cfg.operator_token = config.admin.operator_token.reveal();
  admin_cfg.operators_file = node::operators_file(config);
  admin::admin_callbacks callbacks;
  callbacks.fetch_tree = [bridge](tree_completion done) {
    caf::anon_send(bridge, fetch_tree_atom::value, std::move(done));
  };
  callbacks.fetch_readiness = [bridge, draining](admin::admin_callbacks::readiness_completion done) {
    tree_completion from_tree = [done, draining](caf::expected<sup::tree_node> tree) {
      if (!tree) {
        done(tree.error());
        return;
      }
      auto report = admin::readiness_from_tree(*tree);
      // A draining node says so: load balancers stop sending it new clients.
      if (draining->load()) report.push_back({"node", false, "draining"});
      done(std::move(report));
    };
    caf::anon_send(bridge, fetch_tree_atom::value, std::move(from_tree));
  };
  callbacks.fetch_events = [bridge](admin::events_query q, events_completion done) {
    caf::anon_send(bridge, fetch_events_atom::value, std::move(q), std::move(done));
  };
  callbacks.fetch_snapshot = [ops_monitor](admin::text_completion done) {
    caf::anon_send(ops_monitor, admin::ops_snapshot_atom::value, std::move(done));
  };
  callbacks.fetch_node_snapshot = [ops_monitor](admin::text_completion done) {
    caf::anon_send(ops_monitor, admin::ops_self_atom::value, std::move(done));
  };
  callbacks.run_action = [ops_monitor](admin::action_request r, admin::action_completion done) {
    caf::anon_send(ops_monitor, admin::ops_action_atom::value, std::move(r), std::move(done));
  };
  callbacks.fetch_audit = [ops_monitor](std::int64_t limit, admin::text_completion done) {
    caf::anon_send(ops_monitor, admin::ops_audit_atom::value, limit, std::move(done));
  };
  admin::admin_listener listener{admin_cfg, callbacks, registry};
  auto endpoint = listener.start();
  if (!endpoint) {
    log::error("admin listener failed to start",
               {{"bind", config.admin.bind}, {"port", static_cast<std::int64_t>(config.admin.port)}});
    stop_listener_actors();
    sup::shutdown(self, root, std::chrono::seconds{30});
    return 1;
  }
  std::optional<ws::ws_listener> ws_listener;
  std::string ws_url;
  if (gateway) {
    auto sessions_sup = find_sessions_supervisor(self, root, start_timeout);
    SUPERAPP_ASSERT(sessions_sup);
    auto ws_cfg = ws_config_from(config);
    ws_cfg.draining = draining;
    ws_listener.emplace(std::move(ws_cfg), sys, sessions_sup, gateway->http, &registry);
    auto ws_endpoint = ws_listener->start();
    if (!ws_endpoint) {
      log::error("gateway failed to start", {{"bind", config.gateway.bind},
                                             {"port", static_cast<std::int64_t>(config.gateway.port)}});
      listener.stop();
      stop_listener_actors();
      sup::shutdown(self, root, std::chrono::seconds{30});
      return 1;
    }
    ws_url = std::string{config.gateway.tls_cert_file.empty() ? "ws://" : "wss://"} +
             ws_endpoint->address + ":" + std::to_string(ws_endpoint->port) + "/ws";
    if (kyc_simulated && config.gateway.tls_cert_file.empty())
      kyc_provider.set_webhook("http://" + ws_endpoint->address + ":" +
                                   std::to_string(ws_endpoint->port) + "/webhooks/kyc",
                               wiring.kyc_webhook_secret);
    if (bank_simulated && config.gateway.tls_cert_file.empty())
      bank.set_webhook("http://" + ws_endpoint->address + ":" + std::to_string(ws_endpoint->port) +
                           "/webhooks/bank",
                       wiring.bank_webhook_secret);
  }
  write_node_file(config, *endpoint, ws_url, cluster_port.load(), wiring.sms_url,
                  wiring.kyc_provider_url, wiring.bank_url);
  auto admin_url = "http://" + endpoint->address + ":" + std::to_string(endpoint->port);
  log::info("node up", {{"node", config.node.name},
                        {"domains", static_cast<std::int64_t>(config.node.roles.size())},
                        {"admin_url", admin_url}});
  std::printf("superapp: node %s is up with %zu domains\n", config.node.name.c_str(),
              config.node.roles.size());
  std::printf("  operator URL:  %s/api/tree  (also /healthz /readyz /metrics)\n",
              admin_url.c_str());
  std::printf("  dashboard:     %s/dashboard/\n", admin_url.c_str());
  if (!ws_url.empty()) std::printf("  WebSocket URL: %s\n", ws_url.c_str());
  if (cluster_port.load() != 0)
    std::printf("  cluster port:  %s:%u (this node's domains, for other nodes)\n",
                config.cluster.bind.c_str(), static_cast<unsigned>(cluster_port.load()));
  if (config.bus.kind == node::bus_kind::kafka)
    std::printf("  event bus:     Kafka at %s\n", config.bus.kafka_brokers.c_str());
  if (!wiring.sms_url.empty()) std::printf("  SMS provider:  %s\n", wiring.sms_url.c_str());
  if (!wiring.kyc_provider_url.empty())
    std::printf("  KYC provider:  %s\n", wiring.kyc_provider_url.c_str());
  if (!wiring.bank_url.empty()) std::printf("  Bank (Open Banking): %s\n", wiring.bank_url.c_str());
  std::printf("  stop with Ctrl-C\n");
  std::fflush(stdout);

  // Wait for a stop signal, or for the root to die (its intensity exhausted: the node has
  // nothing left to serve, so it exits non-zero for its process manager to act).
  self->monitor(root);
  caf::actor waiter = caf::actor_cast<caf::actor>(self);
  std::atomic<int> signal_number{0};
  std::thread signal_thread{[&stop_signals, &signal_number, waiter] {
    int number = 0;
    sigwait(&stop_signals, &number);
    signal_number = number;
    caf::anon_send(waiter, stop_atom::value);
  }};
  bool root_died = false;
  self->receive([](stop_atom) {}, [&](caf::down_msg&) { root_died = true; });
  if (root_died) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes the sigwait above
    signal_thread.join();
    log::error("the root supervisor died; the node stops", {{"node", config.node.name}});
    if (ws_listener) ws_listener->stop();
    listener.stop();
    stop_listener_actors();
    std::filesystem::remove(std::filesystem::path{config.node.data_dir} / "node.json");
    return 1;
  }
  signal_thread.join();
  log::info("stopping", {{"node", config.node.name}, {"signal", static_cast<std::int64_t>(signal_number.load())}});
  // Reverse of start: clients are told 1001 "going away" and no new ones come in; no new
  // operator requests; then the trees (the gateway's first, then each domain's children in
  // reverse order, within their shutdown timeouts); then the actors that served the listener.
  if (ws_listener) ws_listener->stop();
  listener.stop();
  auto err = sup::shutdown(self, root, std::chrono::seconds{60});
  directory->clear();
  bus_directory->clear();
  stop_listener_actors();
  std::filesystem::remove(std::filesystem::path{config.node.data_dir} / "node.json");
  if (err) {
    log::error("stopped with an error", {{"reason", std::string{describe(err).wire_code}}});
    return 1;
  }
  log::info("stopped", {{"node", config.node.name}});
  return 0;
}

}  // namespace superapp::app
