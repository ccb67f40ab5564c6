// The Kafka bridge on librdkafka's C API. Blocking calls (poll, flush, commit, admin requests)
// run only on the bridge's own threads, never on CAF's scheduler threads: see ADR 0006.
#include "supervisors/kafka/kafka_bridge.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <caf/all.hpp>
#include <condition_variable>
#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/metrics.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::kafka {
namespace {

using delivered_atom = caf::atom_constant<caf::atom("kf_dr")>;

// One delivery report, as the poll thread hands them to the producer actor (a vector per poll).
struct delivery_report {
  std::uint64_t token = 0;
  std::int32_t err = 0;
  std::int64_t partition = 0;
  std::int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_report& x) {
  return f(caf::meta::type_name("delivery_report"), x.token, x.err, x.partition, x.offset);
}
using fatal_atom = caf::atom_constant<caf::atom("kf_fatal")>;

constexpr auto poll_timeout_ms = 100;

// librdkafka configuration from our settings; nullptr (logged) when a property is refused.
rd_kafka_conf_t* make_conf(const kafka_settings& s, std::map<std::string, std::string> own) {
  std::map<std::string, std::string> all = std::move(own);
  all["bootstrap.servers"] = s.bootstrap_servers;
  all["client.id"] = s.client_id;
  all["reconnect.backoff.max.ms"] = "1000";  // KAFKA-NOTES surprise 4
  for (const auto& [k, v] : s.properties) all[k] = v;
  auto* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      log::error("kafka: bad setting", {{"key", k}, {"reason", std::string{err}}});
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  return conf;
}

std::map<std::string, std::string> producer_properties(const kafka_settings& s) {
  return {{"enable.idempotence", "true"},
          {"acks", "all"},
          {"linger.ms", "5"},
          {"message.timeout.ms", std::to_string(s.message_timeout.count())}};
}

std::string header_text(rd_kafka_headers_t* headers, const char* name) {
  if (headers == nullptr) return {};
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr)
    return {};
  return std::string{static_cast<const char*>(value), size};
}

std::int64_t header_int(rd_kafka_headers_t* headers, const char* name, std::int64_t fallback) {
  auto text = header_text(headers, name);
  if (text.empty()) return fallback;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

// ---------------------------------------------------------------------------------------------
// Producer: the actor produces (non-blocking); a dedicated thread polls for delivery reports
// and hands each back to the actor as a message.

struct producer_core {
  rd_kafka_t* rk = nullptr;
  caf::actor_addr owner;
  std::atomic<bool> stop{false};
  std::thread poller;
  std::vector<delivery_report> reports;  // filled by on_delivery during one rd_kafka_poll

  // The poll thread: serve callbacks, then hand the reports of that poll over in one message.
  void poll_loop() {
    while (!stop) {
      rd_kafka_poll(rk, poll_timeout_ms);
      if (reports.empty()) continue;
      if (auto to = caf::actor_cast<caf::actor>(owner))
        caf::anon_send(to, delivered_atom::value, std::move(reports));
      reports.clear();
    }
  }

  void shutdown() {
    stop = true;
    if (poller.joinable()) poller.join();
    if (rk != nullptr) {
      rd_kafka_flush(rk, 2000);  // bounded; what is still queued fails the relay's requests
      rd_kafka_destroy(rk);
      rk = nullptr;
    }
  }
  ~producer_core() { shutdown(); }
};

// Runs inside rd_kafka_poll on the poll thread (or inside the final flush, after that thread
// is gone: those reports are dropped with the actor).
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* core = static_cast<producer_core*>(opaque);
  auto token = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  core->reports.push_back({token, static_cast<std::int32_t>(m->err),
                           static_cast<std::int64_t>(m->partition), static_cast<std::int64_t>(m->offset)});
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* core = static_cast<producer_core*>(opaque);
  if (err != RD_KAFKA_RESP_ERR__FATAL) {
    // Transport errors and "all brokers down" are informational: librdkafka keeps retrying.
    log::warn("kafka producer", {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                                 {"reason", std::string{reason}}});
    return;
  }
  char text[512];
  rd_kafka_fatal_error(rk, text, sizeof text);
  if (auto owner = caf::actor_cast<caf::actor>(core->owner))
    caf::anon_send(owner, fatal_atom::value, std::string{text});
}

// A batch request in flight: its reply goes out when every event has its outcome.
struct batch_in_flight {
  caf::typed_response_promise<bus::bus_batch_published> promise;
  bus::bus_batch_published out;
  std::size_t remaining = 0;

  void settle(std::size_t index, bool ok) {
    out.ok[index] = ok ? 1 : 0;
    if (--remaining == 0) promise.deliver(std::move(out));
  }
};

// What a delivery report answers: one event's request, or one event of a batch.
struct pending_delivery {
  caf::typed_response_promise<bus::bus_published> single;
  std::shared_ptr<batch_in_flight> batch;
  std::size_t index = 0;
};

struct producer_state {
  std::shared_ptr<producer_core> core;
  std::uint64_t next_token = 1;
  std::unordered_map<std::uint64_t, pending_delivery> pending;
  static inline const char* name = "kafka_producer";
};

using producer_pointer = caf::stateful_actor<producer_state>*;

// Hands one event to librdkafka (never blocks); the delivery report comes back with `token`.
rd_kafka_resp_err_t produce(producer_pointer self, const std::string& topic,
                            const events::event& e, std::uint64_t token) {
  auto bytes = events::encode(e);
  auto id = events::to_string(e.id);
  auto err = rd_kafka_producev(
      self->state.core->rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(e.aggregate_id.data(), e.aggregate_id.size()),
      RD_KAFKA_V_VALUE(bytes.data(), bytes.size()),
      RD_KAFKA_V_HEADER("event-id", id.data(), static_cast<ssize_t>(id.size())),
      RD_KAFKA_V_HEADER("event-type", e.type.data(), static_cast<ssize_t>(e.type.size())),
      RD_KAFKA_V_HEADER("traceparent", e.traceparent.data(), static_cast<ssize_t>(e.traceparent.size())),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(token))), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
    log::warn("kafka produce refused", {{"topic", topic}, {"error", rd_kafka_err2name(err)}});
  return err;
}

void settle(pending_delivery& p, bool ok, const delivery_report& r) {
  if (p.batch) return p.batch->settle(p.index, ok);
  if (ok)
    p.single.deliver(bus::bus_published{{static_cast<std::uint64_t>(r.partition), r.offset}});
  else
    p.single.deliver(make_error(platform_errc::unavailable));
}

caf::behavior producer_behavior(producer_pointer self, std::shared_ptr<producer_core> core) {
  self->state.core = core;
  // Runs on every exit, a crash included: stop the poll thread, flush briefly, free the client.
  self->attach_functor([core](const caf::error&) { core->shutdown(); });
  return {
      [self](bus::bus_publish_atom, const std::string& topic,
             const events::event& e) -> caf::result<bus::bus_published> {
        auto token = self->state.next_token++;
        auto err = produce(self, topic, e, token);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return make_error(platform_errc::overloaded);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return make_error(platform_errc::unavailable);
        auto promise = self->make_response_promise<bus::bus_published>();
        self->state.pending.emplace(token, pending_delivery{promise, nullptr, 0});
        return promise;
      },
      // Kafka keeps the log: a relay never has to fill it again (bus_messages.hpp, ADR 0019).
      [](bus::bus_refill_atom, const std::string&) { return false; },
      [self](bus::bus_publish_batch_atom,
             const bus::bus_batch& b) -> caf::result<bus::bus_batch_published> {
        if (b.topics.size() != b.events.size()) return make_error(platform_errc::invalid_argument);
        auto batch = std::make_shared<batch_in_flight>();
        batch->out.ok.assign(b.events.size(), 0);
        batch->remaining = b.events.size() + 1;  // +1: settled below, once all are handed over
        batch->promise = self->make_response_promise<bus::bus_batch_published>();
        auto promise = batch->promise;
        for (std::size_t i = 0; i < b.events.size(); ++i) {
          auto token = self->state.next_token++;
          if (produce(self, b.topics[i], b.events[i], token) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            --batch->remaining;  // refused at once (queue full): failed, the relay sends it again
            continue;
          }
          self->state.pending.emplace(token, pending_delivery{{}, batch, i});
        }
        if (--batch->remaining == 0) batch->promise.deliver(std::move(batch->out));
        return promise;
      },
      [self](delivered_atom, const std::vector<delivery_report>& reports) {
        for (const auto& r : reports) {
          auto i = self->state.pending.find(r.token);
          if (i == self->state.pending.end()) continue;
          bool ok = r.err == RD_KAFKA_RESP_ERR_NO_ERROR;
          // A failed report may be persisted all the same (KAFKA-NOTES surprise 3): the row is
          // sent again later and consumers deduplicate by event id.
          if (!ok)
            log::warn("kafka delivery failed",
                      {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(r.err))}});
          settle(i->second, ok, r);
          self->state.pending.erase(i);
        }
      },
      [self](fatal_atom, const std::string& reason) {
        log::error("kafka producer fatal error; restarting it", {{"reason", reason}});
        for (auto& [token, p] : self->state.pending) settle(p, false, delivery_report{});
        self->state.pending.clear();
        self->quit(make_error(platform_errc::unavailable));
      },
      [self](sup::probe_atom) {
        return sup::worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
  };
}

// ---------------------------------------------------------------------------------------------
// Consumer: a dedicated thread owns the consumer handle and runs the whole loop (poll, ask the
// handler through a scoped_actor, produce retries, commit). The actor only owns the thread, so
// the supervisor can stop and restart it like any other child.

using consumer_failed_atom = caf::atom_constant<caf::atom("kf_cfail")>;

struct paused_partition {
  std::string topic;
  std::int32_t partition;
  std::int64_t resume_at_ms;
};

class consumer_core {
 public:
  consumer_core(caf::actor_system& sys, consumer_settings settings)
      : sys_(sys), settings_(std::move(settings)) {}
  ~consumer_core() { shutdown(); }

  void start(caf::actor_addr owner) {
    owner_ = std::move(owner);
    thread_ = std::thread{[this] { run(); }};
  }
  void shutdown() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               settings_.clock->now().time_since_epoch())
        .count();
  }

  void fail(const std::string& reason) {
    log::error("kafka consumer failed", {{"group", settings_.group}, {"reason", reason}});
    if (auto owner = caf::actor_cast<caf::actor>(owner_))
      caf::anon_send(owner, consumer_failed_atom::value, reason);
  }

  bool open() {
    std::vector<std::string> all;
    for (const auto& t : settings_.topics) {
      all.push_back(t);
      all.push_back(retry_topic(t, settings_.group));
      all.push_back(dead_letter_topic(t));
      retry_source_[retry_topic(t, settings_.group)] = t;
    }
    if (auto err = ensure_topics(settings_.kafka, all, std::chrono::seconds{15})) {
      fail("topics could not be created");
      return false;
    }
    auto* pconf = make_conf(settings_.kafka, producer_properties(settings_.kafka));
    if (pconf == nullptr) return fail("bad producer settings"), false;
    rd_kafka_conf_set_dr_msg_cb(pconf, [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
      static_cast<std::atomic<int>*>(m->_private)->store(static_cast<int>(m->err));
    });
    char err[512];
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    if (producer_ == nullptr) return fail(err), false;
    // Offsets are stored only once an effect is durable (commit() below) and librdkafka commits
    // the stored ones every second, on a rebalance and at close. A commit request per record
    // instead floods the group coordinator under load (thousands in flight, heartbeats stuck
    // behind them, the member evicted): measured with bench/bridge.
    auto* cconf = make_conf(settings_.kafka, {{"group.id", "superapp." + settings_.group},
                                              {"enable.auto.commit", "true"},
                                              {"auto.commit.interval.ms", "1000"},
                                              {"enable.auto.offset.store", "false"},
                                              {"auto.offset.reset", "earliest"},
                                              {"session.timeout.ms", "6000"},
                                              {"heartbeat.interval.ms", "500"},
                                              {"partition.assignment.strategy", "range,roundrobin"}});
    if (cconf == nullptr) return fail("bad consumer settings"), false;
    rd_kafka_conf_set_offset_commit_cb(
        cconf, [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void*) {
          if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log::warn("kafka offset commit failed", {{"error", rd_kafka_err2name(err)}});
        });
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
    if (consumer_ == nullptr) return fail(err), false;
    rd_kafka_poll_set_consumer(consumer_);
    auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(all.size()));
    for (const auto& t : settings_.topics) {
      rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
      rd_kafka_topic_partition_list_add(list, retry_topic(t, settings_.group).c_str(),
                                        RD_KAFKA_PARTITION_UA);
    }
    auto sub = rd_kafka_subscribe(consumer_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (sub != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(rd_kafka_err2name(sub)), false;
    if (settings_.metrics != nullptr)
      for (const auto& t : settings_.topics)
        lag_gauges_[t] = settings_.metrics->add_gauge(
            "superapp_kafka_consumer_lag",
            "Records on the broker a consumer group has not consumed yet, by source topic",
            {{"group", settings_.group}, {"topic", t}});
    return true;
  }

  // Lag of each source topic (its retry topic counted with it): the high watermark the last
  // fetch saw minus this member's position, over the partitions assigned to it. A partition
  // with no position yet (nothing consumed since the assignment) is left out.
  void report_lag() {
    if (lag_gauges_.empty()) return;
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(consumer_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR || assigned == nullptr)
      return;
    rd_kafka_position(consumer_, assigned);
    std::map<std::string, std::int64_t> lag;
    for (int i = 0; i < assigned->cnt; ++i) {
      const auto& p = assigned->elems[i];
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (p.offset < 0 || rd_kafka_get_watermark_offsets(consumer_, p.topic, p.partition, &low,
                                                          &high) != RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      auto source = retry_source_.find(p.topic);
      lag[source == retry_source_.end() ? std::string{p.topic} : source->second] +=
          std::max<std::int64_t>(0, high - p.offset);
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    for (auto& [topic, gauge] : lag_gauges_) gauge.set(lag[topic]);
  }

  void close() {
    self_.reset();
    if (consumer_ != nullptr) {
      commit_final();
      rd_kafka_consumer_close(consumer_);
      rd_kafka_destroy(consumer_);
      consumer_ = nullptr;
    }
    if (producer_ != nullptr) {
      rd_kafka_flush(producer_, 2000);
      rd_kafka_destroy(producer_);
      producer_ = nullptr;
    }
  }

  void run() {
    if (open()) {
      std::vector<rd_kafka_message_t*> batch;
      auto lag_due = std::chrono::steady_clock::now();
      while (!stop_) {
        if (auto now = std::chrono::steady_clock::now(); now >= lag_due) {
          report_lag();
          lag_due = now + std::chrono::seconds{1};
        }
        resume_due();
        auto* m = rd_kafka_consumer_poll(consumer_, poll_timeout_ms);
        if (m == nullptr) continue;
        batch.push_back(m);
        while (batch.size() < settings_.max_in_flight) {
          auto* more = rd_kafka_consumer_poll(consumer_, 0);
          if (more == nullptr) break;
          batch.push_back(more);
        }
        handle(batch);
        for (auto* x : batch) rd_kafka_message_destroy(x);
        batch.clear();
      }
    }
    close();
  }

  void resume_due() {
    auto now = now_ms();
    for (auto i = paused_.begin(); i != paused_.end();) {
      if (i->resume_at_ms > now) {
        ++i;
        continue;
      }
      auto* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, i->topic.c_str(), i->partition);
      rd_kafka_resume_partitions(consumer_, list);
      rd_kafka_topic_partition_list_destroy(list);
      i = paused_.erase(i);
    }
  }

  // A retry record that is not due yet: stop fetching its partition until it is, and rewind
  // so it is read again then. Other partitions, the source topics included, keep flowing.
  void defer(rd_kafka_message_t* m, std::int64_t due_ms) {
    std::string topic = rd_kafka_topic_name(m->rkt);
    auto* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), m->partition);
    rd_kafka_pause_partitions(consumer_, list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
    paused_.push_back({topic, m->partition, due_ms});
  }

  using where = std::pair<std::string, std::int32_t>;  // topic, partition
  static where where_of(const rd_kafka_message_t* m) {
    return {rd_kafka_topic_name(m->rkt), m->partition};
  }

  // One polled batch. First every record that can go to the handler is sent (in order, without
  // waiting); then each record's outcome is taken in order: commit, or a copy to the retry or
  // dead-letter topic. A partition rewound in this batch (a deferred retry, a copy that could not
  // be written) is left alone from that record on: its later records come again after the seek.
  void handle(const std::vector<rd_kafka_message_t*>& batch) {
    struct item {
      rd_kafka_message_t* m = nullptr;
      std::string source;
      std::int64_t attempt = 1;
      bool sent = false;
      bool undecodable = false;  // straight to the dead-letter topic
      std::string why;           // set when it failed before reaching the handler
    };
    auto handler = settings_.handler ? settings_.handler() : caf::actor{};
    if (!self_) self_ = std::make_unique<caf::scoped_actor>(sys_);
    auto& self = *self_;
    using handle_type = decltype(self->request(handler, settings_.handler_timeout,
                                               event_apply_atom::value, std::string{},
                                               events::event{}));
    std::vector<item> items;
    std::vector<handle_type> asked;
    // Partitions seeked back in this batch, and to which offset: their records from there on
    // come again, so nothing is stored or forwarded for them now.
    std::map<where, std::int64_t> rewound;
    auto rewound_past = [&](const rd_kafka_message_t* m) {
      auto r = rewound.find(where_of(m));
      return r != rewound.end() && m->offset >= r->second;
    };
    auto rewind_mark = [&](const rd_kafka_message_t* m) {
      auto [r, added] = rewound.emplace(where_of(m), m->offset);
      if (!added) r->second = std::min(r->second, m->offset);
    };
    auto now = now_ms();
    for (auto* m : batch) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          log::warn("kafka consumer", {{"group", settings_.group}, {"error", rd_kafka_err2name(m->err)}});
        continue;
      }
      if (rewound_past(m)) continue;
      item it;
      it.m = m;
      it.source = rd_kafka_topic_name(m->rkt);
      if (auto r = retry_source_.find(it.source); r != retry_source_.end()) {
        rd_kafka_headers_t* headers = nullptr;
        rd_kafka_message_headers(m, &headers);
        it.source = r->second;
        it.attempt = header_int(headers, "attempt", 2);
        auto due = header_int(headers, "not-before-ms", 0);
        if (due > now) {
          defer(m, due);
          rewind_mark(m);
          continue;
        }
      }
      auto decoded = events::decode(
          std::span<const std::uint8_t>{static_cast<const std::uint8_t*>(m->payload), m->len});
      if (!decoded) {
        // Undecodable bytes will never succeed: straight to the dead-letter topic.
        it.why = std::string{describe(decoded.error()).wire_code};
        it.undecodable = true;
      } else if (!handler) {
        it.why = "no handler";
      } else {
        asked.push_back(self->request(handler, settings_.handler_timeout, event_apply_atom::value,
                                      it.source, std::move(*decoded)));
        it.sent = true;
      }
      items.push_back(std::move(it));
    }
    std::size_t next_answer = 0;
    for (auto& it : items) {
      bool applied = false;
      if (it.sent) {
        asked[next_answer++].receive(
            [&](bool) { applied = true; },
            [&](caf::error& err) { it.why = std::string{describe(err).wire_code}; });
      }
      if (rewound_past(it.m)) continue;  // its outcome is taken; it comes again after the seek
      if (applied) {
        commit(it.m);
        continue;
      }
      rd_kafka_headers_t* headers = nullptr;
      rd_kafka_message_headers(it.m, &headers);
      bool copied = !it.undecodable && it.attempt < settings_.max_attempts
                        ? forward(it.m, headers, retry_topic(it.source, settings_.group), it.attempt + 1, it.why)
                        : forward(it.m, headers, dead_letter_topic(it.source), it.attempt, it.why);
      if (!copied) rewind_mark(it.m);
    }
  }

  // Copies the record to the retry or dead-letter topic (same key and value, headers saying
  // which attempt is next and when), waits for the broker's ack, then commits the original:
  // the source partition moves on. If the copy cannot be written, nothing is committed and the
  // partition is rewound to this record.
  bool forward(rd_kafka_message_t* m, rd_kafka_headers_t* headers, const std::string& to,
               std::int64_t attempt, const std::string& why) {
    auto backoff = settings_.retry_backoff.count() * (std::int64_t{1} << std::min<std::int64_t>(attempt - 2, 16));
    auto due = std::to_string(now_ms() + std::max<std::int64_t>(0, backoff));
    auto attempt_text = std::to_string(attempt);
    auto id = header_text(headers, "event-id");
    auto type = header_text(headers, "event-type");
    auto trace = header_text(headers, "traceparent");
    std::atomic<int> delivered{-1};
    auto err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(to.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_HEADER("event-id", id.data(), static_cast<ssize_t>(id.size())),
        RD_KAFKA_V_HEADER("event-type", type.data(), static_cast<ssize_t>(type.size())),
        RD_KAFKA_V_HEADER("traceparent", trace.data(), static_cast<ssize_t>(trace.size())),
        RD_KAFKA_V_HEADER("attempt", attempt_text.data(), static_cast<ssize_t>(attempt_text.size())),
        RD_KAFKA_V_HEADER("not-before-ms", due.data(), static_cast<ssize_t>(due.size())),
        RD_KAFKA_V_HEADER("consumer-group", settings_.group.data(),
                          static_cast<ssize_t>(settings_.group.size())),
        RD_KAFKA_V_HEADER("last-error", why.data(), static_cast<ssize_t>(why.size())),
        RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_END);
    // flush serves the delivery report on this thread before it returns.
    bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_flush(producer_, static_cast<int>(settings_.kafka.message_timeout.count())) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR &&
              delivered.load() == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!ok) {
      log::warn("kafka consumer could not forward a failed event; will retry it",
                {{"group", settings_.group}, {"to", to}});
      rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
      return false;
    }
    log::warn(to.ends_with(".dlq") ? "event dead-lettered" : "event scheduled for retry",
              {{"group", settings_.group}, {"event_id", id}, {"attempt", attempt}, {"to", to},
               {"reason", why}});
    commit(m);
    return true;
  }

  // Stores the record's offset (+1) for the next periodic commit: the effect is durable
  // already. A commit lost to a crash means a redelivery of at most a second's records, which
  // the inbox makes harmless; failures are logged by the offset-commit callback.
  void commit(rd_kafka_message_t* m) {
    auto err = rd_kafka_offset_store(m->rkt, m->partition, m->offset);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)  // e.g. the partition was revoked meanwhile
      log::warn("kafka offset store failed", {{"group", settings_.group}, {"error", rd_kafka_err2name(err)}});
    committed_[{rd_kafka_topic_name(m->rkt), m->partition}] = m->offset + 1;
  }

  // On an orderly stop, the last asynchronous commits are made again synchronously, so the
  // group's next member starts exactly after what this one applied.
  void commit_final() {
    if (committed_.empty()) return;
    auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(committed_.size()));
    for (const auto& [where, offset] : committed_)
      rd_kafka_topic_partition_list_add(list, where.first.c_str(), where.second)->offset = offset;
    auto err = rd_kafka_commit(consumer_, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
      log::warn("kafka final commit failed", {{"group", settings_.group}, {"error", rd_kafka_err2name(err)}});
  }

  caf::actor_system& sys_;
  consumer_settings settings_;
  caf::actor_addr owner_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::string, std::string> retry_source_;
  std::map<std::string, metrics::gauge> lag_gauges_;  // by source topic
  std::vector<paused_partition> paused_;
  std::unique_ptr<caf::scoped_actor> self_;  // asks the handler; lives on the loop's thread
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> committed_;  // next offsets
};

caf::behavior consumer_behavior(caf::event_based_actor* self, std::shared_ptr<consumer_core> core) {
  core->start(self->address());
  self->attach_functor([core](const caf::error&) { core->shutdown(); });
  return {
      [self](consumer_failed_atom, const std::string&) {
        self->quit(make_error(platform_errc::unavailable));
      },
      [self](sup::probe_atom) {
        return sup::worker_stats{static_cast<std::int64_t>(self->mailbox().size())};
      },
  };
}

// ---------------------------------------------------------------------------------------------
// Mirror: a consumer whose handler republishes on the node's local bus.

struct mirror_state {
  std::set<events::event_id> seen;
  std::deque<events::event_id> order;  // oldest first, for the window's eviction
  static inline const char* name = "kafka_mirror_handler";
};

caf::behavior mirror_handler(caf::stateful_actor<mirror_state>* self, bus::bus_directory_ptr local,
                             std::size_t window) {
  return {
      [self, local, window](event_apply_atom, const std::string& topic,
                            const events::event& e) -> caf::result<bool> {
        auto& st = self->state;
        if (st.seen.count(e.id) != 0) return true;
        auto bus = local->current();
        if (!bus) return make_error(platform_errc::unavailable);
        // Remembered when sent: a second copy can arrive while the first is in flight (the
        // consumer asks several events before it awaits the answers).
        st.seen.insert(e.id);
        st.order.push_back(e.id);
        while (st.order.size() > window) {
          st.seen.erase(st.order.front());
          st.order.pop_front();
        }
        auto rp = self->make_response_promise<bool>();
        self->request(bus, std::chrono::seconds{5}, bus::bus_publish_atom::value, topic, e)
            .then([rp](bus::bus_published&) mutable { rp.deliver(true); },
                  [self, rp, id = e.id](caf::error& err) mutable {
                    self->state.seen.erase(id);  // not shown: its retry must go through
                    rp.deliver(std::move(err));
                  });
        return rp;
      },
  };
}

caf::behavior mirror_behavior(caf::event_based_actor* self, mirror_settings ms) {
  // Linked: the handler never outlives its consumer, and a handler crash restarts both.
  auto handler = self->spawn<caf::linked>(mirror_handler, ms.local, ms.dedup_window);
  consumer_settings cs;
  cs.kafka = ms.kafka;
  cs.group = "mirror." + ms.node;
  cs.topics = ms.topics;
  cs.handler = [handler] { return handler; };
  cs.clock = ms.clock;
  cs.metrics = ms.metrics;
  cs.retry_backoff = std::chrono::milliseconds{500};
  auto core = std::make_shared<consumer_core>(self->system(), std::move(cs));
  self->attach_functor([handler](const caf::error&) {
    caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
  });
  return consumer_behavior(self, core);
}

}  // namespace

std::string retry_topic(const std::string& source, const std::string& group) {
  return source + ".retry." + group;
}

std::string dead_letter_topic(const std::string& source) { return source + ".dlq"; }

caf::error ensure_topics(const kafka_settings& settings, const std::vector<std::string>& topics,
                         std::chrono::milliseconds timeout) {
  auto* conf = make_conf(settings, {});
  if (conf == nullptr) return make_error(platform_errc::invalid_argument);
  char err[512];
  auto* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) return make_error(platform_errc::unavailable);
  std::vector<rd_kafka_NewTopic_t*> news;
  for (const auto& t : topics)
    news.push_back(rd_kafka_NewTopic_new(t.c_str(), settings.topic_partitions,
                                         settings.replication_factor, err, sizeof err));
  auto* queue = rd_kafka_queue_new(rk);
  auto* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_CreateTopics(rk, news.data(), news.size(), options, queue);
  caf::error result = make_error(platform_errc::timeout);
  if (auto* ev = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()))) {
    result = caf::error{};
    if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
      size_t n = 0;
      const auto** created = rd_kafka_CreateTopics_result_topics(res, &n);
      for (size_t i = 0; i < n; ++i) {
        auto e = rd_kafka_topic_result_error(created[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          log::error("kafka: topic not created", {{"topic", std::string{rd_kafka_topic_result_name(created[i])}},
                                                 {"error", rd_kafka_err2name(e)}});
          result = make_error(platform_errc::unavailable);
        }
      }
    } else {
      result = make_error(platform_errc::unavailable);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(options);
  for (auto* t : news) rd_kafka_NewTopic_destroy(t);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return result;
}

sup::child_spec producer_child(kafka_settings settings, bus::bus_directory_ptr directory) {
  SUPERAPP_ASSERT(directory != nullptr);
  sup::child_spec c;
  c.id = "kafka_producer";
  c.answers_probe = true;
  c.start = [settings, directory](caf::local_actor& parent,
                                  const caf::message&) -> caf::expected<caf::actor> {
    auto core = std::make_shared<producer_core>();
    auto* conf = make_conf(settings, producer_properties(settings));
    if (conf == nullptr) return make_error(platform_errc::invalid_argument);
    rd_kafka_conf_set_opaque(conf, core.get());
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char err[512];
    core->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (core->rk == nullptr) {
      log::error("kafka producer not created", {{"reason", std::string{err}}});
      return make_error(platform_errc::start_failed);
    }
    auto producer = sup::spawn_counted(parent, producer_behavior, core);
    core->owner = producer.address();
    core->poller = std::thread{[core = core.get()] { core->poll_loop(); }};
    directory->publish(producer);
    return producer;
  };
  return c;
}

sup::child_spec consumer_child(consumer_settings settings) {
  SUPERAPP_ASSERT(!settings.group.empty() && !settings.topics.empty());
  SUPERAPP_ASSERT(settings.max_attempts >= 1 && settings.clock != nullptr);
  sup::child_spec c;
  c.id = "kafka_consumer." + settings.group;
  c.answers_probe = true;
  c.start = [settings](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    auto core = std::make_shared<consumer_core>(parent.system(), settings);
    return sup::spawn_counted(parent, consumer_behavior, core);
  };
  return c;
}

sup::domain_worker consumer_worker(consumer_settings settings) {
  sup::domain_worker w;
  w.spec = consumer_child(std::move(settings));
  w.start = [child = w.spec](caf::local_actor& parent, const caf::message& msg,
                             sup::domain_context_ptr) { return child.start(parent, msg); };
  return w;
}

sup::child_spec mirror_child(mirror_settings settings) {
  SUPERAPP_ASSERT(!settings.node.empty() && !settings.topics.empty());
  SUPERAPP_ASSERT(settings.local != nullptr && settings.clock != nullptr);
  SUPERAPP_ASSERT(settings.dedup_window >= 1);
  sup::child_spec c;
  c.id = "kafka_mirror";
  c.answers_probe = true;
  c.start = [settings](caf::local_actor& parent, const caf::message&) -> caf::expected<caf::actor> {
    return sup::spawn_counted(parent, mirror_behavior, settings);
  };
  return c;
}

}  // namespace superapp::kafka
