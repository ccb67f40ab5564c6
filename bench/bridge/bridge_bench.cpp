// Events/s and end-to-end latency: outbox -> relay -> Kafka bridge -> consumer handler, beside
// librdkafka's own producer and consumer at the same settings, in one invocation, one broker.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/outbox_relay.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/kafka/kafka_bridge.hpp"
#include "supervisors/node/logging.hpp"

#include <spdlog/spdlog.h>

using namespace superapp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// The body carries the send time (steady clock, ns) and padding up to body_bytes.
std::string body_with_time(std::size_t body_bytes) {
  auto text = "{\"t\":" + std::to_string(now_ns()) + ",\"pad\":\"";
  if (text.size() + 2 < body_bytes) text.append(body_bytes - text.size() - 2, 'x');
  return text + "\"}";
}

std::int64_t sent_ns(const std::string& body) {
  return std::strtoll(body.c_str() + 5, nullptr, 10);
}

struct latencies {
  std::mutex mutex;
  std::vector<std::int64_t> us;
  std::atomic<std::int64_t> count{0};
  std::atomic<std::int64_t> last_ns{0};
  void add(std::int64_t sent) {
    auto now = now_ns();
    std::lock_guard<std::mutex> guard{mutex};
    us.push_back((now - sent) / 1000);
    ++count;
    last_ns = now;
  }
};

struct result {
  double events_per_s;
  std::int64_t p50_us, p99_us, max_us;
};

result summarize(latencies& l, std::int64_t start_ns, std::size_t n) {
  std::lock_guard<std::mutex> guard{l.mutex};
  auto v = l.us;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]; };
  double secs = static_cast<double>(l.last_ns - start_ns) / 1e9;
  return {static_cast<double>(n) / secs, at(0.50), at(0.99), v.empty() ? 0 : v.back()};
}

rd_kafka_conf_t* conf(const std::string& bootstrap, std::initializer_list<std::pair<const char*, std::string>> kv) {
  auto* c = rd_kafka_conf_new();
  char err[512];
  rd_kafka_conf_set(c, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  for (auto& [k, v] : kv)
    if (rd_kafka_conf_set(c, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "bad setting %s: %s\n", k, err);
      std::exit(2);
    }
  return c;
}

bool wait_until(std::chrono::seconds limit, const std::function<bool()>& done) {
  auto deadline = steady::now() + limit;
  while (!done()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);  // the bench's driver thread, not product code
  }
  return true;
}

// librdkafka alone: idempotent acks=all producer (linger 5 ms), group consumer storing each
// record's offset after decoding it and committing stored offsets every second: the bridge's
// settings without the bridge.
result run_raw(const std::string& bootstrap, std::size_t n, std::size_t body_bytes) {
  auto topic = "bench.raw." + std::to_string(::getpid());
  kafka::kafka_settings ks;
  ks.bootstrap_servers = bootstrap;
  if (kafka::ensure_topics(ks, {topic}, 20s)) std::exit(1);
  char err[512];
  auto* consumer = rd_kafka_new(
      RD_KAFKA_CONSUMER,
      conf(bootstrap, {{"group.id", topic + ".g"}, {"enable.auto.commit", "true"},
                       {"auto.commit.interval.ms", "1000"}, {"enable.auto.offset.store", "false"},
                       {"auto.offset.reset", "earliest"}, {"session.timeout.ms", "6000"}}),
      err, sizeof err);
  rd_kafka_poll_set_consumer(consumer);
  auto* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  latencies lat;
  std::atomic<bool> stop{false};
  std::atomic<bool> assigned{false};
  std::thread reader{[&] {
    while (!stop) {
      auto* m = rd_kafka_consumer_poll(consumer, 100);
      if (!assigned) {
        rd_kafka_topic_partition_list_t* a = nullptr;
        if (rd_kafka_assignment(consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (a->cnt > 0) assigned = true;
          rd_kafka_topic_partition_list_destroy(a);
        }
      }
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto e = events::decode(std::span<const std::uint8_t>{static_cast<const std::uint8_t*>(m->payload), m->len});
        if (e) lat.add(sent_ns(e->body_json));
        rd_kafka_offset_store(m->rkt, m->partition, m->offset);
      }
      rd_kafka_message_destroy(m);
    }
  }};
  if (!wait_until(60s, [&] { return assigned.load(); })) std::exit(1);
  auto* producer = rd_kafka_new(
      RD_KAFKA_PRODUCER,
      conf(bootstrap, {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}}), err,
      sizeof err);
  manual_clock c;
  auto start = now_ns();
  for (std::size_t i = 0; i < n; ++i) {
    auto key = "acct-" + std::to_string(i % 64);
    auto e = events::make_event(c, "bench.account.touched", 1, key, static_cast<std::int64_t>(i + 1),
                                body_with_time(body_bytes));
    auto bytes = events::encode(e);
    auto id = events::to_string(e.id);
    // The same record as the bridge's: key, value and its three headers.
    while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key.data(), key.size()),
                             RD_KAFKA_V_VALUE(bytes.data(), bytes.size()),
                             RD_KAFKA_V_HEADER("event-id", id.data(), static_cast<ssize_t>(id.size())),
                             RD_KAFKA_V_HEADER("event-type", e.type.data(), static_cast<ssize_t>(e.type.size())),
                             RD_KAFKA_V_HEADER("traceparent", e.traceparent.data(),
                                               static_cast<ssize_t>(e.traceparent.size())),
                             RD_KAFKA_V_END) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(producer, 1);
    rd_kafka_poll(producer, 0);
  }
  rd_kafka_flush(producer, 60000);
  if (!wait_until(120s, [&] { return lat.count.load() >= static_cast<std::int64_t>(n); }))
    std::fprintf(stderr, "raw: only %lld of %zu arrived\n", static_cast<long long>(lat.count.load()), n);
  stop = true;
  reader.join();
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_destroy(producer);
  return summarize(lat, start, n);
}

caf::behavior timing_handler(caf::event_based_actor*, std::shared_ptr<latencies> lat) {
  return {[lat](kafka::event_apply_atom, const std::string&, const events::event& e) {
    lat->add(sent_ns(e.body_json));
    return true;
  }};
}

// The bridge: each event committed to a domain's SQLite outbox (group commit) by its own unit,
// relayed in order to the Kafka producer, consumed by a bridge consumer and handed to a handler
// actor that records the latency and acknowledges.
struct relay_knobs {
  std::size_t batch_rows = bus::outbox_relay_settings{}.batch_rows;
  std::size_t in_flight = bus::outbox_relay_settings{}.max_batches_in_flight;
};

result run_bridge(const std::string& bootstrap, std::size_t n, std::size_t body_bytes, relay_knobs knobs) {
  auto topic = "bench.bridge." + std::to_string(::getpid()) + ".events";
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto dir = std::filesystem::temp_directory_path() / ("superapp-bench-bridge-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto lat = std::make_shared<latencies>();
  auto handler = sys.spawn(timing_handler, lat);
  kafka::kafka_settings ks;
  ks.bootstrap_servers = bootstrap;
  auto kafka_dir = std::make_shared<bus::bus_directory>();
  kafka::consumer_settings cs;
  cs.kafka = ks;
  cs.group = "bench" + std::to_string(::getpid());
  cs.topics = {topic};
  cs.handler = [handler] { return handler; };
  cs.clock = std::make_shared<system_clock>();
  auto bridge = sup::spawn_supervisor(
      sys, bus::bridge_supervisor(bus::bus_config{}, std::make_shared<bus::bus_directory>(),
                                  {kafka::producer_child(ks, kafka_dir), kafka::consumer_child(cs)}));
  if (sup::await_ready(self, bridge, 60s)) std::exit(1);
  sup::domain_definition def;
  def.name = "bench";
  def.migrations = {persistence::outbox_migration(1)};
  bus::outbox_relay_settings rs;
  rs.publisher = kafka_dir;
  rs.clock = std::make_shared<system_clock>();
  rs.batch_rows = knobs.batch_rows;
  rs.max_batches_in_flight = knobs.in_flight;
  bus::add_outbox_relay(def, rs);
  sup::domain_settings ds;
  ds.database.sqlite_directory = dir.string();
  ds.directory = std::make_shared<sup::front_door_directory>();
  auto domain = sup::spawn_supervisor(sys, sup::domain_supervisor(def, ds));
  if (sup::await_ready(self, domain, 30s)) std::exit(1);
  caf::actor store;
  self->request(domain, 5s, sup::which_child_atom::value, std::string{"store"})
      .receive([&](caf::actor& a) { store = a; }, [](caf::error&) {});
  system_clock wall;
  std::vector<std::int64_t> seq(64, 0);
  auto write = [&](std::size_t i) {
    auto key = "acct-" + std::to_string(i % 64);
    persistence::unit_of_work unit;
    persistence::append_to_outbox(unit,
                                  events::make_event(wall, "bench.account.touched", 1, key, ++seq[i % 64],
                                                     body_with_time(body_bytes)),
                                  topic, 0);
    return unit;
  };
  // One event through the whole path first: the consumer has joined its group after it.
  self->send(store, persistence::write_atom::value, write(0));
  if (!wait_until(60s, [&] { return lat->count.load() == 1; })) std::exit(1);
  {
    std::lock_guard<std::mutex> guard{lat->mutex};
    lat->us.clear();
    lat->count = 0;
  }
  caf::actor relay;
  self->request(domain, 5s, sup::which_child_atom::value, std::string{"outbox_relay"})
      .receive([&](caf::actor& a) { relay = a; }, [](caf::error&) {});
  auto published = [&] {
    std::int64_t count = 0;
    self->request(relay, 5s, bus::relay_stats_atom::value)
        .receive([&](bus::relay_stats& s) { count = s.published; }, [](caf::error&) {});
    return count;
  };
  auto before = published();
  auto start = now_ns();
  for (std::size_t i = 1; i <= n; ++i) self->send(store, persistence::write_atom::value, write(i));
  // Where the time goes: the writer answers in order, so an empty unit's answer means every
  // event above is committed to the outbox.
  self->request(store, 180s, persistence::write_atom::value, persistence::unit_of_work{})
      .receive([](persistence::unit_results&) {}, [](caf::error&) {});
  std::printf("bridge: all %zu events committed to the outbox after %.2f s\n", n,
              static_cast<double>(now_ns() - start) / 1e9);
  // Where the time goes: the relay has every event acknowledged by the broker at this point.
  if (wait_until(180s, [&] { return published() - before >= static_cast<std::int64_t>(n); }))
    std::printf("bridge: relay had all %zu acknowledged by Kafka after %.2f s\n", n,
                static_cast<double>(now_ns() - start) / 1e9);
  if (!wait_until(180s, [&] { return lat->count.load() >= static_cast<std::int64_t>(n); }))
    std::fprintf(stderr, "bridge: only %lld of %zu arrived\n", static_cast<long long>(lat->count.load()), n);
  auto r = summarize(*lat, start, n);
  sup::shutdown(self, domain, 30s);
  sup::shutdown(self, bridge, 30s);
  self->send_exit(handler, caf::exit_reason::user_shutdown);
  std::filesystem::remove_all(dir);
  return r;
}

std::string read_line(const std::filesystem::path& p) {
  std::ifstream in{p};
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap;
  std::size_t n = 20000;
  std::size_t body_bytes = 200;
  relay_knobs knobs;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--bootstrap") bootstrap = argv[i + 1];
    else if (k == "--events") n = std::stoul(argv[i + 1]);
    else if (k == "--body-bytes") body_bytes = std::stoul(argv[i + 1]);
    else if (k == "--relay-batch") knobs.batch_rows = std::stoul(argv[i + 1]);
    else if (k == "--relay-in-flight") knobs.in_flight = std::stoul(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::path server_dir;
  if (bootstrap.empty()) {  // one command: start a throwaway broker like the tests do
    server_dir = std::filesystem::temp_directory_path() / ("superapp-bench-kafka-" + std::to_string(::getpid()));
    auto cmd = std::string{SUPERAPP_SOURCE_DIR} + "/scripts/kafka-test-server start " + server_dir.string();
    if (std::system(cmd.c_str()) != 0) return 1;
    bootstrap = read_line(server_dir / "bootstrap");
  }
  std::printf("bench_bridge: %zu events of %zu B bodies, broker %s\n", n, body_bytes, bootstrap.c_str());
  auto raw = run_raw(bootstrap, n, body_bytes);
  auto bridge = run_bridge(bootstrap, n, body_bytes, knobs);
  std::printf("| path | events/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
  auto row = [](const char* name, const result& r) {
    std::printf("| %s | %.0f | %.1f | %.1f | %.1f |\n", name, r.events_per_s, r.p50_us / 1000.0,
                r.p99_us / 1000.0, r.max_us / 1000.0);
  };
  row("librdkafka producer -> consumer (baseline)", raw);
  row("outbox -> relay -> bridge -> consumer", bridge);
  std::printf("throughput ratio bridge/raw: %.2f\n", bridge.events_per_s / raw.events_per_s);
  if (!server_dir.empty()) {
    auto cmd = std::string{SUPERAPP_SOURCE_DIR} + "/scripts/kafka-test-server stop " + server_dir.string();
    (void)std::system(cmd.c_str());
  }
  return 0;
}
