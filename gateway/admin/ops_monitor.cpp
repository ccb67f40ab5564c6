// The operations actor: one-second samples of the tree and the metrics, actions, audit, peers.
#include "gateway/admin/ops_monitor.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include "gateway/admin/audit_log.hpp"
#include "gateway/admin/tree_json.hpp"
#include "protocols/error_catalogue.hpp"
#include "protocols/events/event.hpp"
#include "protocols/http/http_client.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/node/logging.hpp"
#include "supervisors/supervisor.hpp"
#include "supervisors/tree.hpp"

namespace superapp::admin::ops_detail {

// What one peer answered to GET /api/snapshot.
struct peer_answer {
  std::string admin_url;
  std::optional<http::response> reply;
  std::string failure;
};

using peer_answers = std::vector<peer_answer>;

}  // namespace superapp::admin::ops_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::admin::ops_detail::peer_answers)

namespace superapp::admin {

double quantile_ms(std::span<const std::int64_t> bounds_us,
                   const std::vector<std::uint64_t>& bucket_deltas, double q) {
  std::uint64_t total = 0;
  for (auto n : bucket_deltas) total += n;
  if (total == 0 || bounds_us.empty()) return -1;
  const double rank = q * static_cast<double>(total);
  double cumulative = 0;
  for (std::size_t i = 0; i < bucket_deltas.size(); ++i) {
    const auto in_bucket = static_cast<double>(bucket_deltas[i]);
    if (in_bucket > 0 && cumulative + in_bucket >= rank) {
      if (i >= bounds_us.size()) return static_cast<double>(bounds_us.back()) / 1000.0;
      const double lower = i == 0 ? 0.0 : static_cast<double>(bounds_us[i - 1]);
      const double upper = static_cast<double>(bounds_us[i]);
      const double within = (rank - cumulative) / in_bucket;
      return (lower + (upper - lower) * within) / 1000.0;
    }
    cumulative += in_bucket;
  }
  return static_cast<double>(bounds_us.back()) / 1000.0;
}

namespace {

using ops_detail::peer_answer;
using ops_detail::peer_answers;
using tick_atom = caf::atom_constant<caf::atom("ops_tick")>;
using peers_atom = caf::atom_constant<caf::atom("ops_peers")>;

constexpr std::size_t audit_in_snapshot = 20;
constexpr auto tree_timeout = std::chrono::milliseconds{900};
constexpr auto peer_deadline = std::chrono::milliseconds{900};
constexpr auto action_timeout = std::chrono::seconds{60};

// Per-second figures of one domain, oldest first.
struct domain_track {
  metrics::histogram latency;
  std::vector<std::uint64_t> last_buckets;
  std::int64_t last_requests = -1;
  sup::admission_gate_ptr last_gate;
  std::map<std::string, std::uint64_t, std::less<>> last_errors;
  std::deque<double> requests_per_s;
  std::deque<double> errors_per_s;
  std::deque<double> p50_ms;  // negative: no requests that second
  std::deque<double> p99_ms;
  std::deque<std::map<std::string, std::uint64_t>> errors;  // per second, by code
  std::int64_t in_flight = 0;
};

struct peer_view {
  std::string admin_url;
  std::string node;  // the peer's name once it answered
  boost::json::value entry;
  bool reachable = false;
  std::string error = "not asked yet";
};

// How much a monotonic count grew since `before`; a count that went down was reset (a restarted
// store's new gate) and counts from zero.
std::uint64_t growth(std::uint64_t now, std::uint64_t before) {
  return now >= before ? now - before : now;
}

template <class T>
void push_window(std::deque<T>& series, T value, std::size_t window) {
  series.push_back(std::move(value));
  while (series.size() > window) series.pop_front();
}

boost::json::array numbers(const std::deque<double>& series, bool negative_is_null) {
  boost::json::array out;
  out.reserve(series.size());
  for (double v : series) {
    if (negative_is_null && v < 0)
      out.push_back(nullptr);
    else
      out.push_back(std::round(v * 100.0) / 100.0);
  }
  return out;
}

boost::json::array whole_numbers(const std::deque<double>& series) {
  boost::json::array out;
  out.reserve(series.size());
  for (double v : series) out.push_back(static_cast<std::int64_t>(v));
  return out;
}

// utime + stime of this process in clock ticks; -1 when /proc cannot be read.
std::int64_t process_cpu_ticks() {
  std::FILE* file = std::fopen("/proc/self/stat", "r");
  if (file == nullptr) return -1;
  char text[1024];
  const auto size = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  text[size] = '\0';
  // Fields after the command name, which is in parentheses and may contain spaces.
  const char* p = std::strrchr(text, ')');
  if (p == nullptr) return -1;
  long long utime = 0;
  long long stime = 0;
  // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime,
                  &stime) != 2)
    return -1;
  return utime + stime;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

const sup::tree_node* find_node(const sup::tree_node& root, const std::vector<std::string>& segs) {
  if (segs.empty() || segs[0] != root.name) return nullptr;
  const sup::tree_node* at = &root;
  for (std::size_t i = 1; i < segs.size(); ++i) {
    const sup::tree_node* next = nullptr;
    for (const auto& child : at->children)
      if (child.name == segs[i]) next = &child;
    if (next == nullptr) return nullptr;
    at = next;
  }
  return at;
}

bool is_domain_tree(const sup::tree_node& child) {
  if (child.kind != "supervisor") return false;
  for (const auto& c : child.children)
    if (c.name == "front_door") return true;
  return false;
}

action_result refusal(unsigned status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message), 0};
}

struct ops_state {
  ops_settings settings;
  std::unique_ptr<audit_log> audit;
  std::map<std::string, domain_track> domains;
  std::optional<sup::tree_node> tree;
  bool tree_fresh = false;
  std::chrono::steady_clock::time_point last_tree_at{};
  std::map<std::string, std::int64_t> message_counts;  // by path, from the last tree
  std::map<std::string, double> message_rates;         // by path
  std::deque<double> cpu_percent;
  std::deque<double> rss_bytes;
  std::int64_t last_cpu_ticks = -1;
  std::chrono::steady_clock::time_point last_sample{};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::vector<peer_view> peers;
  bool peers_in_flight = false;
  boost::json::object self_entry;
  std::string self_json;
  std::string snapshot_json;
};

using ops_actor = caf::stateful_actor<ops_state>;

void sample_domains(ops_actor* self, double dt) {
  auto& st = self->state;
  auto* registry = st.settings.registry;
  if (st.tree) {
    for (const auto& child : st.tree->children)
      if (is_domain_tree(child) && st.domains.count(child.name) == 0 && registry != nullptr) {
        auto& track = st.domains[child.name];
        track.latency = registry->add_histogram(sup::front_door_latency_metric,
                                                sup::front_door_latency_help,
                                                {{"domain", child.name}});
      }
  }
  std::map<std::string, std::int64_t> requests;
  if (registry != nullptr) {
    for (const auto* name : {"superapp_front_door_requests_total", "superapp_front_door_rejected_total"})
      for (auto& r : registry->read(name))
        for (auto& [k, v] : r.labels)
          if (k == "domain") requests[v] += r.value;
  }
  const auto window = st.settings.window_s;
  for (auto& [name, track] : st.domains) {
    const auto total = static_cast<std::uint64_t>(requests[name]);
    const auto delta = track.last_requests < 0
                           ? 0
                           : growth(total, static_cast<std::uint64_t>(track.last_requests));
    track.last_requests = static_cast<std::int64_t>(total);
    push_window(track.requests_per_s, static_cast<double>(delta) / dt, window);

    std::map<std::string, std::uint64_t> error_delta;
    std::uint64_t error_sum = 0;
    sup::admission_gate_ptr gate;
    if (st.settings.directory)
      if (auto entry = st.settings.directory->lookup(name)) gate = entry->gate;
    if (gate) {
      // A restarted store makes a new gate whose counts start at zero.
      if (gate != track.last_gate) track.last_errors.clear();
      auto now = gate->errors();
      for (auto& [code, count] : now) {
        auto before = track.last_errors.find(code);
        auto d = growth(count, before == track.last_errors.end() ? 0 : before->second);
        if (d > 0) {
          error_delta[code] = d;
          error_sum += d;
        }
      }
      track.last_errors = std::move(now);
      track.last_gate = gate;
      track.in_flight = gate->in_flight();
    } else {
      track.in_flight = 0;
    }
    push_window(track.errors_per_s, static_cast<double>(error_sum) / dt, window);
    push_window(track.errors, std::move(error_delta), window);

    if (track.latency) {
      const auto bounds = track.latency.bounds_us();
      std::vector<std::uint64_t> now(bounds.size() + 1);
      std::vector<std::uint64_t> deltas(bounds.size() + 1);
      for (std::size_t i = 0; i < now.size(); ++i) {
        now[i] = track.latency.bucket_count(i);
        // The first sample has nothing before it: it counts no second's worth.
        deltas[i] = growth(now[i], i < track.last_buckets.size() ? track.last_buckets[i] : now[i]);
      }
      track.last_buckets = std::move(now);
      push_window(track.p50_ms, quantile_ms(bounds, deltas, 0.50), window);
      push_window(track.p99_ms, quantile_ms(bounds, deltas, 0.99), window);
    }
  }
}

void sample_process(ops_actor* self, double dt) {
  auto& st = self->state;
  const auto ticks = process_cpu_ticks();
  const auto hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double cpu = 0;
  if (ticks >= 0 && st.last_cpu_ticks >= 0 && hz > 0 && dt > 0)
    cpu = 100.0 * static_cast<double>(ticks - st.last_cpu_ticks) / hz / dt;
  st.last_cpu_ticks = ticks;
  push_window(st.cpu_percent, cpu, st.settings.window_s);
  push_window(st.rss_bytes, static_cast<double>(metrics::process_resident_memory_bytes()),
              st.settings.window_s);
}

boost::json::object domain_json(ops_actor* self, const std::string& name, const domain_track& t) {
  auto& st = self->state;
  std::string state = "unknown";
  if (st.tree)
    for (const auto& child : st.tree->children)
      if (child.name == name) state = child.state;
  std::map<std::string, std::uint64_t> by_code;
  for (const auto& second : t.errors)
    for (const auto& [code, n] : second) by_code[code] += n;
  boost::json::object errors;
  for (auto& [code, n] : by_code) errors[code] = n;
  boost::json::value chaos = nullptr;
  if (st.settings.chaos) {
    auto c = st.settings.chaos->for_domain(name)->current(sup::wall_clock_ms());
    if (c.mode != sup::chaos_mode::off)
      chaos = boost::json::object{{"mode", sup::to_string(c.mode)},
                                  {"delay_ms", c.delay_ms},
                                  {"until", iso_time_ms(c.until_ms)}};
  }
  return {{"name", name},
          {"state", state},
          {"requests_per_s", numbers(t.requests_per_s, false)},
          {"errors_per_s", numbers(t.errors_per_s, false)},
          {"p50_ms", numbers(t.p50_ms, true)},
          {"p99_ms", numbers(t.p99_ms, true)},
          {"errors_by_code", std::move(errors)},
          {"in_flight", t.in_flight},
          {"chaos", std::move(chaos)}};
}

// Every actor that counts its messages gets a rate: the growth of its count between the last two
// trees over the time between them. A count that shrank belongs to a restarted actor, whose whole
// count is new. Keys are paths of names joined by '/'; paths gone from the tree are forgotten.
void take_message_counts(ops_state& st, std::chrono::steady_clock::time_point now) {
  const double dt = st.last_tree_at == std::chrono::steady_clock::time_point{}
                        ? 0.0
                        : std::chrono::duration<double>(now - st.last_tree_at).count();
  st.last_tree_at = now;
  std::map<std::string, std::int64_t> counts;
  std::map<std::string, double> rates;
  auto walk = [&](auto&& self_fn, const sup::tree_node& node, const std::string& path) -> void {
    if (node.messages >= 0) {
      counts[path] = node.messages;
      auto prev = st.message_counts.find(path);
      if (prev != st.message_counts.end() && dt > 0) {
        const auto grown = growth(static_cast<std::uint64_t>(node.messages),
                                  static_cast<std::uint64_t>(prev->second));
        rates[path] = static_cast<double>(grown) / dt;
      }
    }
    for (const auto& child : node.children) self_fn(self_fn, child, path + "/" + child.name);
  };
  if (st.tree) walk(walk, *st.tree, st.tree->name);
  st.message_counts = std::move(counts);
  st.message_rates = std::move(rates);
}

// Adds messages_per_s to every node of the tree's JSON: null until an actor has been seen twice,
// and for actors that do not count.
void annotate_tree(boost::json::object& node, const std::map<std::string, double>& rates,
                   const std::string& path) {
  auto rate = rates.find(path);
  node["messages_per_s"] =
      rate == rates.end() ? boost::json::value(nullptr)
                          : boost::json::value(std::round(rate->second * 100.0) / 100.0);
  auto* children = node.if_contains("children");
  if (children == nullptr || !children->is_array()) return;
  for (auto& child : children->as_array()) {
    auto& obj = child.as_object();
    annotate_tree(obj, rates, path + "/" + std::string{obj["name"].as_string()});
  }
}

void build_snapshot(ops_actor* self) {
  auto& st = self->state;
  boost::json::object entry;
  entry["node"] = st.settings.node_name;
  entry["reachable"] = true;
  entry["error"] = nullptr;
  entry["draining"] = st.settings.draining && st.settings.draining->load();
  std::int64_t sessions = 0;
  if (st.settings.registry != nullptr)
    for (auto& r : st.settings.registry->read("superapp_gateway_sessions_open")) sessions += r.value;
  entry["process"] = boost::json::object{
      {"cpu_percent", st.cpu_percent.empty() ? 0.0 : std::round(st.cpu_percent.back() * 10) / 10},
      {"rss_bytes", st.rss_bytes.empty() ? std::int64_t{0} : static_cast<std::int64_t>(st.rss_bytes.back())},
      {"sessions", sessions},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now() - st.started)
                       .count()},
      {"cpu_percent_series", numbers(st.cpu_percent, false)},
      {"rss_bytes_series", whole_numbers(st.rss_bytes)}};
  if (st.tree) {
    auto tree = to_json(*st.tree);
    annotate_tree(tree.as_object(), st.message_rates, st.tree->name);
    entry["tree"] = std::move(tree);
  } else {
    entry["tree"] = nullptr;
  }
  entry["tree_stale"] = !st.tree_fresh;
  boost::json::array domains;
  for (const auto& [name, track] : st.domains) domains.push_back(domain_json(self, name, track));
  entry["domains"] = std::move(domains);
  boost::json::array bridge;
  if (st.settings.registry != nullptr) {
    std::map<std::string, std::int64_t> ages;
    for (auto& r : st.settings.registry->read("superapp_outbox_oldest_age_ms"))
      for (auto& [k, v] : r.labels)
        if (k == "domain") ages[v] = r.value;
    for (auto& r : st.settings.registry->read("superapp_outbox_backlog_events"))
      for (auto& [k, v] : r.labels)
        if (k == "domain")
          bridge.push_back(boost::json::object{{"topic", events::topic_for_domain(v)},
                                               {"source", "outbox"},
                                               {"lag", r.value},
                                               {"oldest_age_ms", ages[v]}});
    // What the Kafka mirror (and any consumer group) has not consumed yet.
    for (auto& r : st.settings.registry->read("superapp_kafka_consumer_lag")) {
      std::string group;
      std::string topic;
      for (auto& [k, v] : r.labels) {
        if (k == "group") group = v;
        if (k == "topic") topic = v;
      }
      bridge.push_back(boost::json::object{{"topic", topic},
                                           {"source", "kafka consumer " + group},
                                           {"lag", r.value},
                                           {"oldest_age_ms", nullptr}});
    }
  }
  entry["bridge"] = std::move(bridge);
  boost::json::array audit;
  for (auto& e : st.audit->newest(audit_in_snapshot)) audit.push_back(to_json(e));
  entry["audit"] = std::move(audit);
  st.self_json = boost::json::serialize(entry);
  st.self_entry = std::move(entry);

  boost::json::array nodes;
  nodes.push_back(st.self_entry);
  for (const auto& peer : st.peers) {
    if (peer.reachable) {
      nodes.push_back(peer.entry);
    } else {
      nodes.push_back(boost::json::object{{"node", peer.node.empty() ? peer.admin_url : peer.node},
                                          {"admin_url", peer.admin_url},
                                          {"reachable", false},
                                          {"error", peer.error}});
    }
  }
  st.snapshot_json = boost::json::serialize(
      boost::json::object{{"at", iso_time_ms(sup::wall_clock_ms())},
                          {"window_s", st.settings.window_s},
                          {"nodes", std::move(nodes)}});
}

void sample(ops_actor* self) {
  auto& st = self->state;
  const auto now = std::chrono::steady_clock::now();
  double dt = st.last_sample == std::chrono::steady_clock::time_point{}
                  ? std::chrono::duration<double>(st.settings.tick).count()
                  : std::chrono::duration<double>(now - st.last_sample).count();
  if (dt <= 0) dt = 1;
  st.last_sample = now;
  sample_domains(self, dt);
  sample_process(self, dt);
  build_snapshot(self);
}

// Asks every peer for its own entry, on a thread of its own (the HTTP client blocks).
void poll_peers(ops_actor* self) {
  auto& st = self->state;
  if (st.peers.empty() || st.peers_in_flight) return;
  st.peers_in_flight = true;
  auto peers = st.settings.peers;
  self->spawn<caf::detached>([peers, home = caf::actor_cast<caf::actor>(self)](
                                 caf::event_based_actor* worker) {
    peer_answers answers;
    for (const auto& peer : peers) {
      peer_answer a;
      a.admin_url = peer.admin_url;
      auto at = http::parse_url(peer.admin_url);
      if (!at) {
        a.failure = "bad admin url";
      } else {
        auto outcome = http::get(*at, "/api/snapshot", peer_deadline,
                                 {{"Authorization", "Bearer " + peer.token}});
        if (outcome)
          a.reply = std::move(outcome.reply);
        else
          a.failure = outcome.failure;
      }
      answers.push_back(std::move(a));
    }
    worker->send(home, peers_atom::value, std::move(answers));
    worker->quit();
  });
}

void take_peer_answers(ops_actor* self, peer_answers& answers) {
  auto& st = self->state;
  st.peers_in_flight = false;
  for (auto& a : answers) {
    for (auto& peer : st.peers) {
      if (peer.admin_url != a.admin_url) continue;
      if (!a.reply) {
        peer.reachable = false;
        peer.error = a.failure;
      } else if (a.reply->status != 200) {
        peer.reachable = false;
        peer.error = "answered HTTP " + std::to_string(a.reply->status);
      } else {
        boost::system::error_code ec;
        auto parsed = boost::json::parse(a.reply->body, ec);
        if (ec || !parsed.is_object() || !parsed.as_object().contains("node")) {
          peer.reachable = false;
          peer.error = "answered something that is not a node snapshot";
        } else {
          peer.reachable = true;
          peer.error.clear();
          peer.node = std::string{parsed.as_object()["node"].as_string()};
          parsed.as_object()["admin_url"] = peer.admin_url;
          peer.entry = std::move(parsed);
        }
      }
    }
  }
}

// -- actions -----------------------------------------------------------------------------------

boost::json::object params_of(const action_request& r) {
  boost::json::object p;
  if (r.action == "chaos") {
    p["mode"] = r.mode;
    if (r.mode == "delay") p["delay_ms"] = r.delay_ms;
    if (r.mode != "off") p["duration_s"] = r.duration_s;
  }
  if (r.action == "reverse") {
    p["transfer_id"] = r.transfer_id;
    p["reason"] = r.reason;
  }
  return p;
}

void finish(ops_actor* self, const action_request& r, action_result result,
            const action_completion& done) {
  audit_entry e;
  e.operator_name = r.operator_name;
  e.role = r.role;
  e.action = r.action;
  e.node = self->state.settings.node_name;
  e.path = r.path;
  e.params = params_of(r);
  e.outcome = result.code.empty() ? "done" : result.code == "forbidden" ? "refused" : "failed";
  e.message = result.message;
  auto written = self->state.audit->append(std::move(e));
  result.audit_id = written.id;
  log::info("operator action", {{"operator", r.operator_name},
                                {"action", r.action},
                                {"path", r.path},
                                {"outcome", written.outcome}});
  build_snapshot(self);  // the audit shows at once
  done(std::move(result));
}

// Walks from the root to the actor named by segs[1..upto) with which_child, then calls `next`.
void resolve(ops_actor* self, caf::actor at, std::vector<std::string> segs, std::size_t index,
             std::size_t upto, std::function<void(caf::expected<caf::actor>)> next) {
  if (index >= upto) return next(at);
  self->request(at, std::chrono::seconds{5}, sup::which_child_atom::value, segs[index])
      .then(
          [self, segs, index, upto, next](caf::actor& child) {
            resolve(self, child, segs, index + 1, upto, next);
          },
          [next](caf::error& err) { next(std::move(err)); });
}

action_result failed_with(const caf::error& err, const std::string& path) {
  if (err == platform_errc::not_found) return refusal(404, "not_found", "no such actor: " + path);
  auto d = describe(err);
  return refusal(503, std::string{d.wire_code}, std::string{d.message});
}

// The domain that keeps the ledger, and the op that reverses one of its transfers
// (actors/banking/banking_domain.hpp; the admin layer does not link domains).
constexpr const char* ledger_domain = "banking";
constexpr const char* reverse_op = "banking.reverse";

// An operator's reversal of a banking transfer: a sealed op to banking's front door in the
// operator's name (scope `operator`), through its gate like any other caller's.
void run_reverse(ops_actor* self, action_request r, action_completion done) {
  auto& st = self->state;
  const std::string domain_path =
      (st.tree ? st.tree->name : std::string{"root"}) + "/" + ledger_domain;
  if (!r.path.empty() && r.path != domain_path)
    return finish(self, r, refusal(400, "invalid_argument", "reverse takes " + domain_path), done);
  r.path = domain_path;
  if (r.transfer_id.empty())
    return finish(self, r, refusal(400, "invalid_argument", "transfer_id is required"), done);
  if (r.reason.empty())
    return finish(self, r, refusal(400, "invalid_argument", "reason is required"), done);
  auto door = st.settings.directory ? st.settings.directory->lookup(ledger_domain) : std::nullopt;
  if (!door)
    return finish(self, r,
                  refusal(503, "unavailable", "banking has no front door reachable from this node"),
                  done);
  op_request req;
  req.op = reverse_op;
  req.body_json = boost::json::serialize(
      boost::json::object{{"transfer_id", r.transfer_id}, {"reason", r.reason}});
  req.idempotency_key = "reverse:" + r.transfer_id;
  req.who = caller{"operator:" + r.operator_name, {}, {"operator"}};
  if (st.settings.seal) st.settings.seal->seal(req);
  sup::admitted_request(
      self, door->gate, door->front_door, action_timeout,
      [self, r, done](op_reply& reply) {
        boost::system::error_code ec;
        auto doc = boost::json::parse(reply.body_json, ec);
        const auto* o = ec ? nullptr : doc.if_object();
        auto text = [o](const char* key) {
          const auto* v = o ? o->if_contains(key) : nullptr;
          return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
        };
        std::string amount;
        const auto* a = o ? o->if_contains("amount") : nullptr;
        const auto* money = a != nullptr && a->is_object() ? &a->as_object() : nullptr;
        const auto* minor = money ? money->if_contains("minor") : nullptr;
        const auto* currency = money ? money->if_contains("currency") : nullptr;
        if (minor != nullptr && currency != nullptr && currency->is_string())
          amount = boost::json::serialize(*minor) + " " + std::string{currency->as_string()} + " ";
        finish(self, r,
               {200, {},
                "reversed " + r.transfer_id + ": " + amount + "back from " + text("from") +
                    " to " + text("to") + " as " + text("reversal_id"),
                0},
               done);
      },
      [self, r, done](const caf::error& err) {
        auto d = describe(err);
        const std::string code{d.wire_code};
        unsigned status = code == "transfer_not_found"  ? 404
                          : code == "bad_request"       ? 400
                          : code == "forbidden"         ? 403
                          : d.retryable                 ? 503
                                                        : 409;
        // Banking words its refusals for app users ("of yours"); an operator gets the id.
        auto message = code == "transfer_not_found" ? "no such transfer: " + r.transfer_id
                                                    : std::string{d.message};
        finish(self, r, refusal(status, code, std::move(message)), done);
      },
      op_atom::value, std::move(req));
}

void run_local(ops_actor* self, action_request r, action_completion done) {
  auto& st = self->state;
  if (r.action == "reverse") return run_reverse(self, std::move(r), std::move(done));
  if (r.action == "drain" || r.action == "undrain") {
    if (!st.settings.draining)
      return finish(self, r, refusal(503, "unavailable", "this node has no gateway to drain"),
                    done);
    st.settings.draining->store(r.action == "drain");
    return finish(self, r,
                  {200, {}, r.action == "drain"
                                ? "draining: new WebSocket sessions are refused, /readyz is 503"
                                : "no longer draining",
                   0},
                  done);
  }
  if (r.path.empty())
    return finish(self, r, refusal(400, "invalid_argument", "path is required for " + r.action),
                  done);
  if (!st.tree)
    return finish(self, r, refusal(503, "unavailable", "the tree has not answered yet"), done);
  auto segs = split_path(r.path);
  const auto* target = find_node(*st.tree, segs);
  if (target == nullptr)
    return finish(self, r, refusal(404, "not_found", "no such actor: " + r.path), done);
  if (segs.size() < 2)
    return finish(self, r,
                  refusal(400, "invalid_argument", "the root itself cannot be " + r.action + "ed"),
                  done);
  const bool domain_level = segs.size() == 2 && st.domains.count(segs[1]) > 0;
  if ((r.action == "stop" || r.action == "start" || r.action == "chaos") && !domain_level)
    return finish(self, r,
                  refusal(400, "invalid_argument",
                          r.action + " takes a domain: " + st.tree->name + "/<domain>"),
                  done);
  if (r.action == "chaos") {
    if (!st.settings.chaos)
      return finish(self, r, refusal(503, "unavailable", "chaos is not wired on this node"), done);
    sup::chaos_state c;
    if (r.mode == "fail") {
      c.mode = sup::chaos_mode::fail;
    } else if (r.mode == "delay") {
      c.mode = sup::chaos_mode::delay;
      if (r.delay_ms < 1 || r.delay_ms > 30'000)
        return finish(self, r, refusal(400, "invalid_argument", "delay_ms: 1 to 30000"), done);
      c.delay_ms = r.delay_ms;
    } else if (r.mode != "off") {
      return finish(self, r, refusal(400, "invalid_argument", "mode: fail, delay or off"), done);
    }
    if (c.mode != sup::chaos_mode::off) {
      if (r.duration_s < 1 || r.duration_s > 3600)
        return finish(self, r, refusal(400, "invalid_argument", "duration_s: 1 to 3600"), done);
      c.until_ms = sup::wall_clock_ms() + r.duration_s * 1000;
    }
    st.settings.chaos->for_domain(segs[1])->set(c);
    std::string what = c.mode == sup::chaos_mode::off ? "chaos off for " + segs[1]
                       : c.mode == sup::chaos_mode::fail
                           ? segs[1] + " fails every op for " + std::to_string(r.duration_s) + " s"
                           : segs[1] + " answers " + std::to_string(r.delay_ms) + " ms late for " +
                                 std::to_string(r.duration_s) + " s";
    return finish(self, r, {200, {}, what, 0}, done);
  }
  const bool supervisor = target->kind == "supervisor";
  const auto last = segs.back();
  // The parent is found by name from the root; the action goes to it (or, for crash, to the
  // actor it names).
  resolve(self, st.settings.root, segs, 1, segs.size() - 1,
          [self, r, done, last, supervisor](caf::expected<caf::actor> parent) {
            if (!parent) return finish(self, r, failed_with(parent.error(), r.path), done);
            if (r.action == "crash") {
              self->request(*parent, std::chrono::seconds{5}, sup::which_child_atom::value, last)
                  .then(
                      [self, r, done, supervisor](caf::actor& victim) {
                        // What an uncaught exception gives; a supervisor shuts its subtree down
                        // and exits with it. Either way its own supervisor sees a crash.
                        self->send_exit(victim, caf::make_error(caf::sec::runtime_error));
                        finish(self, r,
                               {200, {}, std::string{supervisor ? "supervisor" : "worker"} +
                                             " crashed: its supervisor restarts it",
                                0},
                               done);
                      },
                      [self, r, done](caf::error& err) {
                        finish(self, r, failed_with(err, r.path), done);
                      });
              return;
            }
            // A handler that returns unit answers with an empty message.
            auto on_done = [self, r, done]() {
              auto what = r.action == "stop"    ? "stopped " + r.path
                          : r.action == "start" ? "started " + r.path
                                                : "restarted " + r.path;
              finish(self, r, {200, {}, what, 0}, done);
            };
            auto on_error = [self, r, done](caf::error& err) {
              finish(self, r, failed_with(err, r.path), done);
            };
            if (r.action == "stop")
              self->request(*parent, action_timeout, sup::stop_child_atom::value, last)
                  .then(on_done, on_error);
            else
              self->request(*parent, action_timeout, sup::restart_child_atom::value, last)
                  .then(on_done, on_error);
          });
}

// Another node's action: its own listener runs and audits it.
void forward(ops_actor* self, const ops_peer& peer, action_request r, action_completion done) {
  self->spawn<caf::detached>([peer, r, done, home = caf::actor_cast<caf::actor>(self)](
                                 caf::event_based_actor* worker) {
    action_result result;
    auto at = http::parse_url(peer.admin_url);
    boost::json::object body{{"operator", r.operator_name}, {"role", r.role},
                             {"action", r.action},          {"path", r.path},
                             {"mode", r.mode},              {"delay_ms", r.delay_ms},
                             {"duration_s", r.duration_s},  {"transfer_id", r.transfer_id},
                             {"reason", r.reason}};
    auto outcome =
        at ? http::post_json(*at, "/api/action", boost::json::serialize(body), action_timeout,
                             {{"Authorization", "Bearer " + peer.token}})
           : http::outcome{std::nullopt, "bad admin url"};
    if (!outcome) {
      result = refusal(503, "unavailable", "node " + r.node + " did not answer: " + outcome.failure);
    } else {
      boost::system::error_code ec;
      auto parsed = boost::json::parse(outcome.reply->body, ec);
      result.status = static_cast<unsigned>(outcome.reply->status);
      if (!ec && parsed.is_object()) {
        auto& o = parsed.as_object();
        if (auto* m = o.if_contains("message"); m != nullptr && m->is_string())
          result.message = m->as_string();
        if (auto* id = o.if_contains("audit_id"); id != nullptr && id->is_int64())
          result.audit_id = id->as_int64();
        if (auto* e = o.if_contains("error"); e != nullptr && e->is_object()) {
          auto& eo = e->as_object();
          if (auto* c = eo.if_contains("code"); c != nullptr && c->is_string())
            result.code = c->as_string();
          if (auto* m = eo.if_contains("message"); m != nullptr && m->is_string())
            result.message = m->as_string();
        }
      }
      if (result.status != 200 && result.code.empty()) result.code = "unavailable";
    }
    done(std::move(result));
    worker->quit();
  });
}

caf::behavior ops_monitor(ops_actor* self, ops_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.audit = std::make_unique<audit_log>(st.settings.audit_file);
  for (const auto& peer : st.settings.peers) {
    peer_view view;
    view.admin_url = peer.admin_url;
    st.peers.push_back(std::move(view));
  }
  build_snapshot(self);
  self->send(self, tick_atom::value);
  return {
      [self](tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, st.settings.tick, tick_atom::value);
        poll_peers(self);
        if (!st.settings.root) return sample(self);
        self->request(st.settings.root, tree_timeout, sup::report_atom::value)
            .then(
                [self](sup::tree_node& tree) {
                  self->state.tree = std::move(tree);
                  self->state.tree_fresh = true;
                  take_message_counts(self->state, std::chrono::steady_clock::now());
                  sample(self);
                },
                [self](caf::error&) {
                  self->state.tree_fresh = false;  // keep the last tree, marked stale
                  sample(self);
                });
      },
      [self](peers_atom, peer_answers& answers) { take_peer_answers(self, answers); },
      [self](ops_snapshot_atom, text_completion& done) { done(self->state.snapshot_json); },
      [self](ops_self_atom, text_completion& done) { done(self->state.self_json); },
      [self](ops_audit_atom, std::int64_t limit, text_completion& done) {
        boost::json::array entries;
        for (auto& e : self->state.audit->newest(static_cast<std::size_t>(limit)))
          entries.push_back(to_json(e));
        done(boost::json::serialize(boost::json::object{{"entries", std::move(entries)}}));
      },
      [self](ops_action_atom, action_request& r, action_completion& done) {
        auto& st = self->state;
        static const char* const known[] = {"restart", "stop",    "start",  "crash",
                                            "chaos",   "drain",   "undrain", "reverse"};
        bool valid = false;
        for (const auto* k : known) valid = valid || r.action == k;
        if (!valid)
          return done(refusal(400, "invalid_argument",
                              "action: restart, stop, start, crash, chaos, drain, undrain or "
                              "reverse"));
        if (!r.node.empty() && r.node != st.settings.node_name) {
          for (std::size_t i = 0; i < st.peers.size(); ++i)
            if (st.peers[i].node == r.node) return forward(self, st.settings.peers[i], r, done);
          return done(refusal(404, "not_found", "no such node: " + r.node));
        }
        if (r.role != "operator")
          return finish(self, r, refusal(403, "forbidden", "viewers cannot act"), done);
        run_local(self, std::move(r), std::move(done));
      },
  };
}

}  // namespace

caf::actor spawn_ops_monitor(caf::actor_system& sys, ops_settings settings) {
  return sys.spawn(ops_monitor, std::move(settings));
}

}  // namespace superapp::admin
