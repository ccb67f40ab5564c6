// The outbox relay: in order to the bus, marked only after the publisher's ack, backlog metric
// and alarm while the publisher is away, and a relay crash that touches nothing else.
#include <caf/all.hpp>
#include <cstdlib>
#include <filesystem>

#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "persistence/outbox.hpp"
#include "persistence/writer.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/bus/outbox_relay.hpp"
#include "supervisors/domain.hpp"
#include "tests/support/caf_test_bridge.hpp"

using namespace superapp;
using namespace superapp::bus;
using namespace std::chrono_literals;

namespace {

const std::string topic = "superapp.banking.events";

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "superapp-relay-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

std::vector<persistence::migration> banking_migrations() {
  return {{1, "accounts", "CREATE TABLE accounts (id TEXT PRIMARY KEY, balance_minor BIGINT)"},
          persistence::outbox_migration(2)};
}

persistence::database_config sqlite_at(const temp_dir& dir) {
  persistence::database_config cfg;
  cfg.sqlite_directory = dir.path.string();
  cfg.reader_connections = 1;
  return cfg;
}

// An account opening and its event, in one unit, as the banking domain would write it.
persistence::unit_of_work open_account(const superapp::clock& c, int n) {
  auto id = "acct-" + std::to_string(n);
  persistence::unit_of_work unit;
  unit.add({"INSERT INTO accounts (id, balance_minor) VALUES ($1, 0)", {id}}, 1);
  persistence::append_to_outbox(
      unit, events::make_event(c, "banking.account.opened", 1, id, 1, "{\"n\":" + std::to_string(n) + "}"),
      topic, 1000 + n);
  return unit;
}

// A publisher that acknowledges or refuses, as a test says.
struct publisher_script {
  bool refuse = false;
  std::vector<events::event> got;
  std::vector<bool> got_refilled;  // per event in `got`: came in a refill batch
};

caf::result<bus_batch_published> take(publisher_script& s, const bus_batch& b) {
  if (s.refuse) return make_error(platform_errc::unavailable);
  bus_batch_published out;
  for (const auto& e : b.events) {
    s.got.push_back(e);
    s.got_refilled.push_back(b.refilled);
    out.ok.push_back(1);
  }
  return out;
}

caf::behavior scripted_publisher(caf::event_based_actor*, std::shared_ptr<publisher_script> s) {
  return {[s](bus_publish_batch_atom, const bus_batch& b) { return take(*s, b); }};
}

// The same, answering bus_refill_atom as a bus does: true the first time.
caf::behavior refilling_publisher(caf::event_based_actor*, std::shared_ptr<publisher_script> s) {
  auto asked = std::make_shared<bool>(false);
  return {[s](bus_publish_batch_atom, const bus_batch& b) { return take(*s, b); },
          [asked](bus_refill_atom, const std::string&) { return !std::exchange(*asked, true); }};
}

// A domain context built by hand around a scheduled writer, for the test coordinator.
struct stepped_relay : test_coordinator_fixture<> {
  temp_dir dir;
  std::shared_ptr<persistence::database> db;
  std::shared_ptr<sup::domain_context> ctx = std::make_shared<sup::domain_context>();
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>(
      manual_clock::time_point{std::chrono::milliseconds{10'000}});
  std::shared_ptr<publisher_script> script = std::make_shared<publisher_script>();
  bus_directory_ptr directory = std::make_shared<bus_directory>();
  metrics::registry registry;
  caf::actor relay;

  stepped_relay() {
    db = std::move(*persistence::open_database(sqlite_at(dir), "banking"));
    auto conn = db->connect(persistence::connection_role::writer);
    REQUIRE(conn);
    REQUIRE(persistence::apply_migrations(**conn, banking_migrations()));
    ctx->domain = "banking";
    ctx->database = db;
    ctx->readers = std::make_shared<persistence::connection_pool>(
        *db, 1, persistence::connection_role::reader);
    ctx->store = caf::actor_cast<caf::actor>(persistence::spawn_writer_scheduled(sys, std::move(*conn)));
  }
  ~stepped_relay() {
    if (relay) anon_send_exit(relay, caf::exit_reason::user_shutdown);
    anon_send_exit(ctx->store, caf::exit_reason::user_shutdown);
    consume_messages();
  }
  void write(int n) {
    self->send(ctx->store, persistence::write_atom::value, open_account(*clock, n));
    consume_messages();
  }
  void start(std::int64_t alarm_at, std::chrono::milliseconds refill_window = std::chrono::hours{1},
             std::size_t refill_max = 1024) {
    outbox_relay_settings s;
    s.publisher = directory;
    s.clock = clock;
    s.metrics = &registry;
    s.batch_rows = 2;
    s.alarm_backlog_events = alarm_at;
    s.refill_window = refill_window;
    s.refill_max_events = refill_max;
    relay = spawn_outbox_relay(sys, ctx, s);
    consume_messages();
  }
  // Not the DSL's request<T>(): its run() fires timers too, and the relay's poll timer re-arms
  // itself for ever.
  relay_stats stats() {
    relay_stats out;
    auto reply = self->request(relay, caf::infinite, relay_stats_atom::value);
    consume_messages();
    reply.receive([&](relay_stats& s) { out = s; },
                  [](caf::error& err) { FAIL("stats failed: " << caf::to_string(err)); });
    return out;
  }
  std::int64_t unpublished() {
    auto lease = ctx->readers->borrow();
    REQUIRE(lease);
    auto b = persistence::read_backlog(**lease);
    REQUIRE(b);
    return b->events;
  }
  // Fires the relay's pending timer and runs what follows.
  void next_tick() {
    REQUIRE(sched.trigger_timeout());
    consume_messages();
  }
};

}  // namespace

TEST_CASE_FIXTURE(stepped_relay, "the relay publishes committed rows in order and marks them after the ack") {
  auto publisher = sys.spawn(scripted_publisher, script);
  directory->publish(publisher);
  for (int i = 1; i <= 5; ++i) write(i);
  start(100);
  // Batches of two: the relay reads again at once while batches come back full.
  REQUIRE(script->got.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(script->got[i].aggregate_id == "acct-" + std::to_string(i + 1));
  CHECK(unpublished() == 0);
  CHECK(stats().published == 5);
  CHECK(registry.render().find("superapp_outbox_published_total{domain=\"banking\"} 5") !=
        std::string::npos);
  self->send_exit(publisher, caf::exit_reason::kill);
  consume_messages();
}

TEST_CASE_FIXTURE(stepped_relay, "while the publisher refuses, rows stay in the outbox, the backlog is measured and alarmed") {
  auto publisher = sys.spawn(scripted_publisher, script);
  directory->publish(publisher);
  script->refuse = true;
  for (int i = 1; i <= 3; ++i) write(i);
  clock->advance(1500ms);
  start(2);
  CHECK(script->got.empty());
  CHECK(unpublished() == 3);
  auto s = stats();
  CHECK(s.publish_failures == 3);  // a full batch of two, and the one read behind it
  CHECK(s.backlog_events == 3);
  CHECK(s.oldest_age_ms == 10'000 + 1500 - 1001);
  CHECK(s.alarm_on);
  CHECK(s.alarms == 1);
  auto text = registry.render();
  CHECK(text.find("superapp_outbox_backlog_events{domain=\"banking\"} 3") != std::string::npos);
  CHECK(text.find("superapp_outbox_oldest_age_ms{domain=\"banking\"} 10499") != std::string::npos);

  next_tick();  // still refused: nothing lost, no second alarm
  CHECK(unpublished() == 3);
  CHECK(stats().alarms == 1);

  script->refuse = false;  // the publisher is back: the backlog drains in order
  next_tick();
  CHECK(unpublished() == 0);
  REQUIRE(script->got.size() == 3);
  CHECK(script->got[0].aggregate_id == "acct-1");
  CHECK(script->got[2].aggregate_id == "acct-3");
  next_tick();  // the next read sees the empty outbox and clears the alarm
  CHECK_FALSE(stats().alarm_on);
  self->send_exit(publisher, caf::exit_reason::kill);
  consume_messages();
}

TEST_CASE_FIXTURE(stepped_relay, "without a publisher the relay waits and loses nothing") {
  write(1);
  start(100);
  CHECK(unpublished() == 1);
  auto publisher = sys.spawn(scripted_publisher, script);
  directory->publish(publisher);
  next_tick();
  CHECK(unpublished() == 0);
  CHECK(script->got.size() == 1);
  self->send_exit(publisher, caf::exit_reason::kill);
  consume_messages();
}

TEST_CASE_FIXTURE(
    stepped_relay,
    "a bus new to the relay first gets the recently published rows again, newest within the cap") {
  auto first = sys.spawn(refilling_publisher, script);
  directory->publish(first);
  write(1);
  write(2);
  start(100, 10s, 2);
  // The first bus is new too, but nothing was published before it.
  REQUIRE(script->got.size() == 2);
  CHECK(stats().refilled == 0);
  clock->advance(20s);  // rows 1 and 2 now lie outside the 10 s window
  for (int i = 3; i <= 5; ++i) write(i);
  next_tick();
  REQUIRE(script->got.size() == 5);
  CHECK(unpublished() == 0);

  // The node (or the bus) restarted: a new bus, and row 6 committed meanwhile.
  auto second_script = std::make_shared<publisher_script>();
  auto second = sys.spawn(refilling_publisher, second_script);
  directory->publish(second);
  write(6);
  clock->advance(1s);
  next_tick();
  // Rows 3..5 are in the window; the cap keeps the newest two; in order, before row 6.
  REQUIRE(second_script->got.size() == 3);
  CHECK(second_script->got[0].aggregate_id == "acct-4");
  CHECK(second_script->got[1].aggregate_id == "acct-5");
  CHECK(second_script->got[2].aggregate_id == "acct-6");
  CHECK(second_script->got_refilled == std::vector<bool>{true, true, false});
  CHECK(unpublished() == 0);
  CHECK(stats().refilled == 2);
  CHECK(registry.render().find("superapp_outbox_refilled_total{domain=\"banking\"} 2") !=
        std::string::npos);

  // The same bus after a relay restart: it is not new, nothing is sent twice.
  anon_send_exit(relay, caf::exit_reason::kill);
  consume_messages();
  write(7);
  start(100, 10s, 2);
  REQUIRE(second_script->got.size() == 4);
  CHECK(second_script->got[3].aggregate_id == "acct-7");
  CHECK_FALSE(second_script->got_refilled[3]);
  CHECK(stats().refilled == 0);
  self->send_exit(first, caf::exit_reason::kill);
  self->send_exit(second, caf::exit_reason::kill);
  consume_messages();
}

namespace {

struct node_parts {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
};

caf::actor child(caf::scoped_actor& self, const caf::actor& sup, const std::string& id) {
  caf::actor out;
  self->request(sup, 5s, sup::which_child_atom::value, id)
      .receive([&](caf::actor& a) { out = a; }, [](caf::error&) {});
  return out;
}

}  // namespace

TEST_CASE("in a running domain tree, events reach bus subscribers and a relay crash restarts only the relay") {
  temp_dir dir;
  node_parts node;
  auto& self = node.self;
  auto directory = std::make_shared<bus_directory>();
  auto bridge = sup::spawn_supervisor(node.sys, bridge_supervisor(bus_config{}, directory));
  REQUIRE_FALSE(sup::await_ready(self, bridge, 10s));

  sup::domain_definition def;
  def.name = "banking";
  def.migrations = banking_migrations();
  outbox_relay_settings rs;
  rs.publisher = directory;
  rs.clock = std::make_shared<system_clock>();
  rs.poll_interval = 5ms;
  add_outbox_relay(def, rs);
  REQUIRE(def.workers.size() == 1);
  sup::domain_settings settings;
  settings.database = sqlite_at(dir);
  settings.directory = std::make_shared<sup::front_door_directory>();
  auto domain = sup::spawn_supervisor(node.sys, sup::domain_supervisor(def, settings));
  REQUIRE_FALSE(sup::await_ready(self, domain, 10s));

  // Subscribe this test as a bus subscriber, then commit three units through the store.
  bool subscribed = false;
  self->request(directory->current(), 5s, bus_subscribe_atom::value, topic,
                caf::actor_cast<caf::actor>(self), bus_position::live())
      .receive([&](bus_subscribed&) { subscribed = true; }, [](caf::error&) {});
  REQUIRE(subscribed);
  auto store = child(self, domain, "store");
  auto door = child(self, domain, "front_door");
  auto relay = child(self, domain, "outbox_relay");
  REQUIRE(store);
  REQUIRE(relay);
  system_clock wall;
  auto receive_events = [&](int first, int last) {
    for (int i = first; i <= last; ++i) {
      bool ok = false;
      self->request(store, 5s, persistence::write_atom::value, open_account(wall, i))
          .receive([&](persistence::unit_results&) { ok = true; }, [](caf::error&) {});
      REQUIRE(ok);
    }
    std::vector<std::string> got;
    for (int i = first; i <= last; ++i)
      self->receive([&](bus_event_atom, bus_delivery& d) { got.push_back(d.event.aggregate_id); },
                    caf::after(10s) >> [&] { FAIL("no event from the relay within 10 s"); });
    for (int i = first; i <= last; ++i)
      CHECK(got[static_cast<std::size_t>(i - first)] == "acct-" + std::to_string(i));
  };
  receive_events(1, 3);
  // Subscribers see an event before the relay marks it; crash the relay once all are marked
  // (a crash before the mark publishes them again: at least once, consumers deduplicate).
  auto marked = [&] {
    std::int64_t n = 0;
    self->request(relay, 5s, relay_stats_atom::value).receive([&](relay_stats& s) { n = s.published; },
                                                             [](caf::error&) {});
    return n;
  };
  for (int i = 0; i < 500 && marked() < 3; ++i) self->receive(caf::after(10ms) >> [] {});
  REQUIRE(marked() == 3);

  // Crash the relay: it alone is restarted, and it carries on with the next events.
  self->monitor(relay);
  self->send_exit(relay, make_error(platform_errc::internal));
  self->receive([](caf::down_msg&) {});
  caf::actor relay2;
  for (int i = 0; i < 1000 && (!relay2 || relay2 == relay); ++i) relay2 = child(self, domain, "outbox_relay");
  REQUIRE(relay2);
  CHECK(relay2 != relay);
  CHECK(child(self, domain, "store") == store);
  CHECK(child(self, domain, "front_door") == door);
  receive_events(4, 5);
  sup::tree_node report;
  self->request(domain, 5s, sup::report_atom::value).receive([&](sup::tree_node& t) { report = t; },
                                                             [](caf::error&) {});
  REQUIRE(report.children.size() == 3);
  CHECK(report.children[0].restarts == 0);
  CHECK(report.children[1].restarts == 0);
  CHECK(report.children[2].name == "outbox_relay");
  CHECK(report.children[2].restarts == 1);

  // The bus dies: bridge_sup starts a new, empty one (another epoch). The relay fills it with
  // the five events it published before, marked as a refill, then carries on with new ones.
  relay = relay2;  // what marked() asks
  for (int i = 0; i < 500 && marked() < 2; ++i) self->receive(caf::after(10ms) >> [] {});
  REQUIRE(marked() == 2);
  auto old_bus = directory->current();
  self->monitor(old_bus);
  self->send_exit(old_bus, caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {});
  caf::actor new_bus;
  for (int i = 0; i < 500 && (!new_bus || new_bus == old_bus); ++i) {
    new_bus = directory->current();
    if (new_bus == old_bus) self->receive(caf::after(10ms) >> [] {});
  }
  REQUIRE(new_bus);
  std::uint64_t epoch = 0;
  self->request(new_bus, 5s, bus_stats_atom::value)
      .receive([&](bus_stats& st) { epoch = st.epoch; }, [](caf::error&) {});
  self->request(new_bus, 5s, bus_subscribe_atom::value, topic, caf::actor_cast<caf::actor>(self),
                bus_position{epoch, 0})
      .receive([](bus_subscribed&) {}, [](caf::error& err) { FAIL(caf::to_string(err)); });
  std::vector<std::string> refilled;
  while (refilled.size() < 5)
    self->receive(
        [&](bus_event_atom, bus_delivery& d) {
          CHECK(d.refilled);
          refilled.push_back(d.event.aggregate_id);
        },
        caf::after(10s) >> [&] { FAIL("the new bus was not filled within 10 s"); });
  CHECK(refilled == std::vector<std::string>{"acct-1", "acct-2", "acct-3", "acct-4", "acct-5"});
  receive_events(6, 6);

  CHECK_FALSE(sup::shutdown(self, domain, 10s));
  CHECK_FALSE(sup::shutdown(self, bridge, 10s));
}
