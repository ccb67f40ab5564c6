// The Kafka bridge against a real broker: outbox -> relay -> producer (acks=all, keyed,
// headers), consumer groups with commit after a durable effect and inbox dedup, retry and
// dead-letter topics for a poison event, and bridge crashes that leave the domain serving.
#include "supervisors/kafka/kafka_bridge.hpp"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <caf/all.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "persistence/connection.hpp"
#include "persistence/db_errc.hpp"
#include "persistence/migrations.hpp"
#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/outbox_relay.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/front_door.hpp"
#include "supervisors/metrics.hpp"
#include "tests/support/kafka_broker.hpp"

using namespace superapp;
using namespace std::chrono_literals;

namespace {

std::string bootstrap() { return testing::kafka_bootstrap(); }

std::string unique(const std::string& stem) {
  static int n = 0;
  return stem + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

kafka::kafka_settings settings() {
  kafka::kafka_settings s;
  s.bootstrap_servers = bootstrap();
  s.message_timeout = 20s;
  return s;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "superapp-kafka-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

struct record {
  std::string key;
  std::map<std::string, std::string> headers;
  events::event event;
  std::int32_t partition = 0;
};

// Reads `topic` from the beginning, with no consumer group, until `count` records or `wait`.
std::vector<record> read_topic(const std::string& topic, std::size_t count, std::chrono::seconds wait) {
  char err[512];
  auto* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", unique("reader").c_str(), err, sizeof err);
  auto* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  REQUIRE(rk != nullptr);
  auto* list = rd_kafka_topic_partition_list_new(4);
  for (int p = 0; p < 4; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<record> out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      record r;
      r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.partition = m->partition;
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
          r.headers[name] = value ? std::string{static_cast<const char*>(value), size} : "";
      }
      auto e = events::decode(std::span<const std::uint8_t>{static_cast<const std::uint8_t*>(m->payload), m->len});
      REQUIRE(e);
      r.event = *e;
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

std::vector<persistence::migration> domain_migrations() {
  return {{1, "accounts", "CREATE TABLE accounts (id TEXT PRIMARY KEY)"},
          persistence::outbox_migration(2)};
}

persistence::unit_of_work open_account(const superapp::clock& c, const std::string& topic,
                                       const std::string& id, std::int64_t seq) {
  persistence::unit_of_work unit;
  unit.add({"INSERT INTO accounts (id) VALUES ($1)", {id + "#" + std::to_string(seq)}}, 1);
  persistence::append_to_outbox(
      unit, events::make_event(c, "banking.account.opened", 1, id, seq, "{\"seq\":" + std::to_string(seq) + "}",
                               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
      topic, 0);
  return unit;
}

caf::actor child(caf::scoped_actor& self, const caf::actor& sup, const std::string& id) {
  caf::actor out;
  self->request(sup, 5s, sup::which_child_atom::value, id)
      .receive([&](caf::actor& a) { out = a; }, [](caf::error&) {});
  return out;
}

// Waits, in 20 ms steps, until `done` holds or `wait` passes (a real broker is not stepped).
template <class Pred>
bool eventually(caf::scoped_actor& self, std::chrono::milliseconds wait, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    self->receive(caf::after(20ms) >> [] {});
  }
  return true;
}

// The consuming domain's handler: applies an event's effect (a row in `effects`) once, with
// the inbox claim in the same unit, through a real group-commit writer on SQLite.
struct handler_log {
  std::atomic<int> calls{0};
  std::atomic<int> duplicates{0};
  std::mutex mutex;
  std::map<std::string, int> calls_by_body;
};

caf::behavior effect_handler(caf::event_based_actor* self, persistence::writer_actor writer,
                             std::shared_ptr<persistence::database> db,
                             std::shared_ptr<handler_log> log, std::string poison) {
  return {[=](kafka::event_apply_atom, const std::string&, const events::event& e) -> caf::result<bool> {
    ++log->calls;
    {
      std::lock_guard<std::mutex> guard{log->mutex};
      ++log->calls_by_body[e.body_json];
    }
    if (!poison.empty() && e.body_json.find(poison) != std::string::npos)
      return make_error(platform_errc::internal);
    persistence::unit_of_work unit;
    persistence::inbox_claim(unit, "rewards", e.id, e.occurred_at_ms);
    unit.add({"INSERT INTO effects (event_id, body) VALUES ($1, $2)", {events::to_string(e.id), e.body_json}}, 1);
    auto rp = self->make_response_promise<bool>();
    self->request(writer, 10s, persistence::write_atom::value, std::move(unit))
        .then([rp](persistence::unit_results&) mutable { rp.deliver(true); },
              [rp, db, log, id = e.id](caf::error& err) mutable {
                if (err == persistence::db_errc::unexpected_rows_affected) {
                  auto conn = db->connect(persistence::connection_role::reader);
                  auto seen = conn ? persistence::applied_before(**conn, "rewards", id)
                                   : caf::expected<bool>{false};
                  if (seen && *seen) {
                    ++log->duplicates;
                    rp.deliver(true);  // applied before: acknowledge, do nothing
                    return;
                  }
                }
                rp.deliver(err);
              });
    return rp;
  }};
}

struct consuming_domain {
  temp_dir dir;
  std::shared_ptr<persistence::database> db;
  persistence::writer_actor writer;
  std::shared_ptr<handler_log> log = std::make_shared<handler_log>();
  caf::actor handler;

  consuming_domain(caf::actor_system& sys, std::string poison = {}) {
    persistence::database_config cfg;
    cfg.sqlite_directory = dir.path.string();
    db = std::move(*persistence::open_database(cfg, "rewards"));
    auto conn = db->connect(persistence::connection_role::writer);
    REQUIRE(conn);
    REQUIRE(persistence::apply_migrations(
        **conn, {{1, "effects", "CREATE TABLE effects (event_id TEXT PRIMARY KEY, body TEXT)"},
                 persistence::outbox_migration(2)}));
    writer = persistence::spawn_writer(sys, std::move(*conn));
    handler = sys.spawn(effect_handler, writer, db, log, poison);
  }
  ~consuming_domain() {
    caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
  }
  std::int64_t effects() {
    auto conn = db->connect(persistence::connection_role::reader);
    REQUIRE(conn);
    auto r = (*conn)->execute({"SELECT COUNT(*) FROM effects", {}});
    REQUIRE(r);
    return persistence::as_int(r->rows.at(0).at(0)).value_or(-1);
  }
};

sup::supervisor_spec consumer_tree(kafka::consumer_settings s) {
  sup::supervisor_spec spec;
  spec.name = "bridge_sup";
  spec.children.push_back(kafka::consumer_child(std::move(s)));
  return spec;
}

// A bridge_sup with only the Kafka producer: the tree and the producer it started.
std::pair<caf::actor, caf::actor> start_producer(caf::actor_system& sys, caf::scoped_actor& self) {
  auto kafka_dir = std::make_shared<bus::bus_directory>();
  auto producers = sup::spawn_supervisor(
      sys, bus::bridge_supervisor(bus::bus_config{}, std::make_shared<bus::bus_directory>(),
                                  {kafka::producer_child(settings(), kafka_dir)}));
  REQUIRE_FALSE(sup::await_ready(self, producers, 20s));
  return {producers, kafka_dir->current()};
}

kafka::consumer_settings consumer_settings_for(const std::string& group, const std::string& topic,
                                               const caf::actor& handler) {
  kafka::consumer_settings cs;
  cs.kafka = settings();
  cs.group = group;
  cs.topics = {topic};
  cs.handler = [handler] { return handler; };
  cs.clock = std::make_shared<system_clock>();
  return cs;
}

bus::bus_published publish(caf::scoped_actor& self, const caf::actor& producer, const std::string& topic,
                           const events::event& e) {
  bus::bus_published out{{0, -1}};
  self->request(producer, 30s, bus::bus_publish_atom::value, topic, e)
      .receive([&](bus::bus_published& p) { out = p; },
               [](caf::error& err) { FAIL("publish failed: " << caf::to_string(err)); });
  return out;
}

// A banking domain on SQLite whose outbox relay publishes through `publisher` (the Kafka
// producer's directory): write units, read the relay's stats.
struct relaying_domain {
  temp_dir dir;
  caf::scoped_actor& self;
  caf::actor domain;
  caf::actor store;
  caf::actor relay;
  system_clock wall;

  relaying_domain(caf::actor_system& sys, caf::scoped_actor& s, bus::bus_directory_ptr publisher,
                  std::function<void(bus::outbox_relay_settings&)> adjust = {})
      : self(s) {
    sup::domain_definition def;
    def.name = "banking";
    def.migrations = domain_migrations();
    bus::outbox_relay_settings rs;
    rs.publisher = std::move(publisher);
    rs.clock = std::make_shared<system_clock>();
    rs.poll_interval = 10ms;
    rs.retry_backoff = 100ms;
    if (adjust) adjust(rs);
    bus::add_outbox_relay(def, rs);
    sup::domain_settings ds;
    ds.database.sqlite_directory = dir.path.string();
    ds.directory = std::make_shared<sup::front_door_directory>();
    domain = sup::spawn_supervisor(sys, sup::domain_supervisor(def, ds));
    REQUIRE_FALSE(sup::await_ready(self, domain, 10s));
    store = child(self, domain, "store");
    relay = child(self, domain, "outbox_relay");
  }
  void write(const std::string& topic, const std::string& account, std::int64_t seq) {
    bool ok = false;
    self->request(store, 5s, persistence::write_atom::value, open_account(wall, topic, account, seq))
        .receive([&](persistence::unit_results&) { ok = true; }, [](caf::error&) {});
    REQUIRE(ok);
  }
  bus::relay_stats stats() {
    bus::relay_stats s;
    self->request(relay, 5s, bus::relay_stats_atom::value)
        .receive([&](bus::relay_stats& x) { s = x; }, [](caf::error&) {});
    return s;
  }
};

// The broker's process (scripts/kafka-test-server keeps its dir next to the bootstrap file), for
// outage drills: SIGSTOP freezes it with its connections open, SIGCONT resumes it.
pid_t broker_pid() {
  std::filesystem::path state = std::getenv("SUPERAPP_KAFKA_BOOTSTRAP_FILE");
  std::ifstream server_file{state.parent_path() / "server_dir"};
  std::string server_dir;
  std::getline(server_file, server_dir);
  std::ifstream pid_file{std::filesystem::path{server_dir} / "pid"};
  pid_t pid = 0;
  pid_file >> pid;
  REQUIRE_MESSAGE(pid > 0, "no broker pid under " << server_dir);
  return pid;
}

// One actor system per test case, and the test's own actor in it.
struct actor_test {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
};

}  // namespace

TEST_CASE_FIXTURE(actor_test, "outbox events reach Kafka keyed by aggregate with their headers, and a producer crash loses none") {
  auto topic = unique("superapp.relay") + ".events";
  auto bus_dir = std::make_shared<bus::bus_directory>();
  auto kafka_dir = std::make_shared<bus::bus_directory>();
  REQUIRE_FALSE(kafka::ensure_topics(settings(), {topic}, 20s));
  auto bridge = sup::spawn_supervisor(
      sys, bus::bridge_supervisor(bus::bus_config{}, bus_dir, {kafka::producer_child(settings(), kafka_dir)}));
  REQUIRE_FALSE(sup::await_ready(self, bridge, 20s));

  relaying_domain banking{sys, self, kafka_dir};
  auto& store = banking.store;
  auto& relay = banking.relay;
  auto& domain = banking.domain;
  auto write = [&](const std::string& account, std::int64_t seq) { banking.write(topic, account, seq); };
  auto published = [&] { return banking.stats().published; };
  for (int seq = 1; seq <= 3; ++seq) {
    write("acct-a", seq);
    write("acct-b", seq);
  }
  REQUIRE(eventually(self, 30s, [&] { return published() == 6; }));

  // Kill the producer: bridge_sup starts a new one, the domain is untouched, and the next
  // events go out through it.
  auto producer = kafka_dir->current();
  self->monitor(producer);
  self->send_exit(producer, make_error(platform_errc::internal));
  self->receive([](caf::down_msg&) {});
  REQUIRE(eventually(self, 10s, [&] { return kafka_dir->current() && kafka_dir->current() != producer; }));
  write("acct-a", 4);
  write("acct-b", 4);
  REQUIRE(eventually(self, 30s, [&] { return published() == 8; }));
  CHECK(child(self, domain, "store") == store);
  CHECK(child(self, domain, "outbox_relay") == relay);

  auto records = read_topic(topic, 8, 30s);
  REQUIRE(records.size() == 8);
  std::map<std::string, std::vector<std::int64_t>> seqs;
  std::map<std::string, std::set<std::int32_t>> partitions;
  for (const auto& r : records) {
    CHECK(r.key == r.event.aggregate_id);
    CHECK(r.headers.at("event-id") == events::to_string(r.event.id));
    CHECK(r.headers.at("event-type") == "banking.account.opened");
    CHECK(r.headers.at("traceparent") == r.event.traceparent);
    seqs[r.key].push_back(r.event.sequence);
    partitions[r.key].insert(r.partition);
  }
  // One aggregate, one partition, in order.
  CHECK(seqs["acct-a"] == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(seqs["acct-b"] == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(partitions["acct-a"].size() == 1);
  CHECK(partitions["acct-b"].size() == 1);

  CHECK_FALSE(sup::shutdown(self, domain, 10s));
  CHECK_FALSE(sup::shutdown(self, bridge, 20s));
}

TEST_CASE_FIXTURE(actor_test, "a consumer applies each event once, commits after the effect, and resumes after its last commit") {
  auto topic = unique("superapp.consume") + ".events";
  auto group = unique("rewards");
  consuming_domain rewards{sys};
  auto [producers, producer] = start_producer(sys, self);

  auto cs = consumer_settings_for(group, topic, rewards.handler);
  auto consumers = sup::spawn_supervisor(sys, consumer_tree(cs));
  REQUIRE_FALSE(sup::await_ready(self, consumers, 20s));

  manual_clock c;
  std::vector<events::event> sent;
  for (int i = 1; i <= 4; ++i)
    sent.push_back(events::make_event(c, "banking.account.opened", 1, "acct-" + std::to_string(i % 2), i,
                                      "{\"i\":" + std::to_string(i) + "}"));
  for (const auto& e : sent) publish(self, producer, topic, e);
  publish(self, producer, topic, sent[1]);  // a redelivery: same event id
  // `calls` counts on entry and `duplicates` when the writer has answered: wait for the outcome.
  REQUIRE(eventually(self, 60s, [&] { return rewards.log->calls == 5 && rewards.log->duplicates == 1; }));
  CHECK(rewards.effects() == 4);

  // A new member of the group starts after the committed offsets: nothing is handled twice.
  CHECK_FALSE(sup::shutdown(self, consumers, 20s));
  for (int i = 5; i <= 6; ++i) {
    sent.push_back(events::make_event(c, "banking.account.opened", 1, "acct-1", i, "{\"i\":" + std::to_string(i) + "}"));
    publish(self, producer, topic, sent.back());
  }
  consumers = sup::spawn_supervisor(sys, consumer_tree(cs));
  REQUIRE_FALSE(sup::await_ready(self, consumers, 20s));
  REQUIRE(eventually(self, 60s, [&] { return rewards.effects() == 6; }));
  self->receive(caf::after(500ms) >> [] {});  // room for a wrong redelivery to show up
  CHECK(rewards.log->calls == 7);
  CHECK(rewards.log->duplicates == 1);
  CHECK_FALSE(sup::shutdown(self, consumers, 20s));
  CHECK_FALSE(sup::shutdown(self, producers, 20s));
}

TEST_CASE_FIXTURE(actor_test, "a poison event is retried with backoff, then dead-lettered, and never blocks the events behind it") {
  auto topic = unique("superapp.poison") + ".events";
  auto group = unique("rewards");
  consuming_domain rewards{sys, "poison"};
  auto [producers, producer] = start_producer(sys, self);
  auto cs = consumer_settings_for(group, topic, rewards.handler);
  cs.max_attempts = 3;
  cs.retry_backoff = 300ms;
  auto consumers = sup::spawn_supervisor(sys, consumer_tree(cs));
  REQUIRE_FALSE(sup::await_ready(self, consumers, 20s));

  manual_clock c;
  // One aggregate, so all three share a partition: the poison sits between two good events.
  auto first = events::make_event(c, "banking.account.opened", 1, "acct-1", 1, "{\"n\":\"first\"}");
  auto poison = events::make_event(c, "banking.account.opened", 1, "acct-1", 2, "{\"n\":\"poison\"}");
  auto third = events::make_event(c, "banking.account.opened", 1, "acct-1", 3, "{\"n\":\"third\"}");
  publish(self, producer, topic, first);
  publish(self, producer, topic, poison);
  publish(self, producer, topic, third);
  auto started = std::chrono::steady_clock::now();
  REQUIRE(eventually(self, 60s, [&] { return rewards.effects() == 2; }));
  auto dead = read_topic(kafka::dead_letter_topic(topic), 1, 60s);
  REQUIRE(dead.size() == 1);
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(dead[0].event == poison);
  CHECK(dead[0].headers.at("attempt") == "3");
  CHECK(dead[0].headers.at("consumer-group") == group);
  CHECK(dead[0].headers.at("last-error") == "internal");
  {
    std::lock_guard<std::mutex> guard{rewards.log->mutex};
    CHECK(rewards.log->calls_by_body[poison.body_json] == 3);
    CHECK(rewards.log->calls_by_body[third.body_json] == 1);
  }
  // Backoff: attempt 2 waited 300 ms and attempt 3 600 ms.
  CHECK(elapsed >= 900ms);
  CHECK_FALSE(sup::shutdown(self, consumers, 20s));
  CHECK_FALSE(sup::shutdown(self, producers, 20s));
}

TEST_CASE_FIXTURE(actor_test, "the mirror shows every event on the node's local bus once, in each aggregate's order") {
  auto topic = unique("superapp.mirror") + ".events";
  auto [producers, producer] = start_producer(sys, self);
  auto local = std::make_shared<bus::bus_directory>();
  kafka::mirror_settings ms;
  ms.kafka = settings();
  ms.node = unique("edge");
  ms.topics = {topic};
  ms.local = local;
  ms.clock = std::make_shared<system_clock>();
  auto node_bridge =
      sup::spawn_supervisor(sys, bus::bridge_supervisor(bus::bus_config{}, local, {kafka::mirror_child(ms)}));
  REQUIRE_FALSE(sup::await_ready(self, node_bridge, 20s));
  bool subscribed = false;
  self->request(local->current(), 5s, bus::bus_subscribe_atom::value, topic,
                caf::actor_cast<caf::actor>(self), bus::bus_position::live())
      .receive([&](bus::bus_subscribed&) { subscribed = true; }, [](caf::error&) {});
  REQUIRE(subscribed);

  manual_clock c;
  std::vector<events::event> sent;
  for (int i = 1; i <= 6; ++i)
    sent.push_back(events::make_event(c, "identity.device.bound", 1, "u-" + std::to_string(i % 2), (i + 1) / 2,
                                      "{\"i\":" + std::to_string(i) + "}"));
  for (const auto& e : sent) publish(self, producer, topic, e);
  publish(self, producer, topic, sent[2]);  // a relay that published a row again after a crash

  std::vector<events::event> seen;
  bool quiet = false;
  while (!quiet) {
    self->receive([&](bus::bus_event_atom, bus::bus_delivery& d) { seen.push_back(d.event); },
                  caf::after(seen.size() < sent.size() ? 30s : 1s) >> [&] { quiet = true; });
  }
  REQUIRE(seen.size() == sent.size());
  std::map<std::string, std::vector<std::int64_t>> order;
  std::set<std::string> ids;
  for (const auto& e : seen) {
    order[e.aggregate_id].push_back(e.sequence);
    ids.insert(events::to_string(e.id));
  }
  CHECK(ids.size() == sent.size());
  CHECK(order["u-0"] == std::vector<std::int64_t>{1, 2, 3});
  CHECK(order["u-1"] == std::vector<std::int64_t>{1, 2, 3});

  // The mirror's handler crashing restarts the mirror alone; the bus and its subscribers stay.
  auto bus_before = local->current();
  auto mirror = child(self, node_bridge, "kafka_mirror");
  REQUIRE(mirror);
  self->monitor(mirror);
  self->send_exit(mirror, make_error(platform_errc::internal));
  self->receive([](caf::down_msg&) {});
  REQUIRE(eventually(self, 10s, [&] {
    auto now = child(self, node_bridge, "kafka_mirror");
    return now && now != mirror;
  }));
  CHECK(local->current() == bus_before);
  auto later = events::make_event(c, "identity.device.bound", 1, "u-1", 4, "{\"i\":7}");
  publish(self, producer, topic, later);
  bool got_later = false;
  for (bool done = false; !done;) {
    self->receive(
        [&](bus::bus_event_atom, bus::bus_delivery& d) {
          if (d.event.id == later.id) got_later = done = true;
        },
        caf::after(30s) >> [&] { done = true; });
  }
  CHECK(got_later);
  CHECK_FALSE(sup::shutdown(self, node_bridge, 20s));
  CHECK_FALSE(sup::shutdown(self, producers, 20s));
}

TEST_CASE_FIXTURE(actor_test, "a broker outage backs up in the outbox with the alarm on, loses nothing, and drains after") {
  auto topic = unique("superapp.outage") + ".events";
  REQUIRE_FALSE(kafka::ensure_topics(settings(), {topic}, 20s));
  auto ks = settings();
  ks.message_timeout = 2s;  // a frozen broker fails deliveries after 2 s
  auto kafka_dir = std::make_shared<bus::bus_directory>();
  auto bridge = sup::spawn_supervisor(
      sys, bus::bridge_supervisor(bus::bus_config{}, std::make_shared<bus::bus_directory>(),
                                  {kafka::producer_child(ks, kafka_dir)}));
  REQUIRE_FALSE(sup::await_ready(self, bridge, 20s));
  metrics::registry registry;
  relaying_domain banking{sys, self, kafka_dir, [&](bus::outbox_relay_settings& rs) {
                            rs.alarm_backlog_events = 5;
                            rs.retry_backoff = 300ms;
                            rs.metrics = &registry;
                          }};
  banking.write(topic, "acct-a", 1);
  banking.write(topic, "acct-b", 1);
  REQUIRE(eventually(self, 30s, [&] { return banking.stats().published == 2; }));

  // Frozen until `thaw` goes out of scope, whatever fails in between.
  struct frozen_broker {
    pid_t pid = broker_pid();
    frozen_broker() { REQUIRE(::kill(pid, SIGSTOP) == 0); }
    ~frozen_broker() { thaw(); }
    void thaw() {
      if (pid != 0) ::kill(pid, SIGCONT);
      pid = 0;
    }
  };
  auto outage = std::make_unique<frozen_broker>();
  for (std::int64_t seq = 2; seq <= 6; ++seq) {
    banking.write(topic, "acct-a", seq);  // the domain keeps committing: writes never wait on Kafka
    banking.write(topic, "acct-b", seq);
  }
  bool backed_up = eventually(self, 30s, [&] {
    auto s = banking.stats();
    return s.publish_failures > 0 && s.alarm_on && s.backlog_events == 10;
  });
  auto during = banking.stats();
  auto text = registry.render();
  outage.reset();  // the broker is back
  REQUIRE(backed_up);
  CHECK(during.published == 2);
  CHECK(during.alarms == 1);
  CHECK(text.find("superapp_outbox_backlog_events{domain=\"banking\"} 10") != std::string::npos);

  REQUIRE(eventually(self, 60s, [&] { return banking.stats().published == 12; }));
  REQUIRE(eventually(self, 10s, [&] { return !banking.stats().alarm_on; }));
  // Every event is in Kafka at least once (a delivery that timed out may have landed too), and
  // each aggregate's events first appear in order.
  auto records = read_topic(topic, 24, 10s);  // duplicates included, if any
  std::set<std::string> ids;
  std::map<std::string, std::vector<std::int64_t>> first_seen;
  for (const auto& r : records)
    if (ids.insert(events::to_string(r.event.id)).second) first_seen[r.key].push_back(r.event.sequence);
  CHECK(ids.size() == 12);
  CHECK(first_seen["acct-a"] == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
  CHECK(first_seen["acct-b"] == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
  CHECK_FALSE(sup::shutdown(self, banking.domain, 10s));
  CHECK_FALSE(sup::shutdown(self, bridge, 20s));
}
