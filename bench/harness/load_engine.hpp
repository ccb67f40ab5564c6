// Drives WebSocket sessions with a scenario's op mix: open loop at a set rate (latency from
// the intended send time) or closed loop (max throughput), on one io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/harness/request_book.hpp"
#include "bench/harness/scenario.hpp"
#include "bench/harness/ws_connector.hpp"

namespace superapp::bench {

// Progress while a run goes, for the live line on stderr.
struct load_progress {
  double elapsed_s = 0;
  double duration_s = 0;
  std::uint64_t sent = 0;
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  double rate_per_s = 0;  // replies per second over the last interval
  std::uint64_t p99_ns = 0;
};

// Mints what identity.authorise would answer (ADR 0013) for `user` on `device` doing `op` with
// this body (placeholders other than ${approval} already replaced); empty when it cannot.
using approval_minter =
    std::function<std::string(const std::string& user, const std::string& device,
                              const std::string& op, const std::string& body_json)>;

// What a frame's placeholders need beyond the user and device.
struct frame_extras {
  std::string next_user;                                                   // ${next_user}
  const std::vector<std::pair<std::string, std::string>>* vars = nullptr;  // ${name}: captured
  const approval_minter* approve = nullptr;                                // ${approval}
};

struct load_plan {
  ws_target target;
  load_mode mode = load_mode::open_loop;
  double rate_per_s = 0;
  std::chrono::nanoseconds ramp{0};
  std::chrono::nanoseconds duration{std::chrono::seconds{10}};
  std::uint32_t sessions = 10;
  std::uint32_t source_addresses = 8;
  std::uint32_t in_flight_per_session = 1;
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // Open loop: a session with this many requests in flight gets no more (client_backlog);
  // it bounds the client's memory when the server stops answering.
  std::uint32_t max_in_flight_per_session = 10'000;
  std::vector<op_mix_entry> ops;
  ws_connector::headers_fn headers;          // per session: token and device id
  std::function<std::string(std::size_t)> user_of;    // per session, for ${user}
  std::function<std::string(std::size_t)> device_of;  // per session, for ${device}
  std::function<std::string(std::size_t)> next_user_of;  // per session, for ${next_user}
  approval_minter approve;                               // for ${approval}
  const std::atomic<bool>* stop_requested = nullptr;  // Ctrl-C: end now, report partial
  std::function<void(const load_progress&)> on_progress;
  // Called once the load is over and replies are in, while every session is still open: the
  // moment to read the server's memory with its sessions held.
  std::function<void()> before_close;
  // Called when the measured load begins (every session connected, before the first send).
  std::function<void()> on_begin;
  std::chrono::milliseconds progress_interval{1000};
  std::uint64_t seed = 1;  // the op mix's sequence, the same on every run
  // Idempotency keys are <prefix><request id>; empty: "bench-<random>-", fresh per run, so a
  // rerun against the same node is not answered from the idempotency store.
  std::string idempotency_key_prefix;
};

struct load_figures {
  std::uint32_t connected = 0;
  std::uint32_t connect_failures = 0;
  std::string first_connect_failure;
  request_book book;
  double elapsed_s = 0;  // from the first send to the end of the load (drain excluded)
  bool stopped_early = false;
  explicit load_figures(std::size_t op_count) : book(op_count) {}
};

// Connects every session (bounded connects in flight), runs the load for the plan's duration
// (or until *stop_requested), waits for replies in flight up to the request timeout (5 s at
// most), then closes. Every loop is bounded: sends by the schedule's total (open loop) or by
// the duration (closed loop), waits by the timeouts.
load_figures run_load(const load_plan& plan);

// One request frame: {"id":N,"op":OP,"body":BODY[,"idempotency_key":"<prefix>N"]} with
// ${user}, ${device} and what `extras` knows replaced in the body (${approval} last, so the
// approval is for the body as sent).
std::string request_frame(std::uint64_t id, const op_mix_entry& op, const std::string& user,
                          const std::string& device, std::string_view key_prefix,
                          const frame_extras& extras = {});

// "bench-<16 hex digits>-": a key prefix no earlier run used.
std::string fresh_key_prefix();

// What a reply frame says: its id and, when it is an error envelope {ok:false}, the code.
// Frames without "ok" (the echo baseline sends the request back) count as ok; a JSON object
// without an id is a server push, not a reply.
struct reply_view {
  bool readable = false;  // a JSON object
  bool has_id = false;
  std::uint64_t id = 0;
  std::string error_code;  // empty: ok
  std::string error_message;
};
reply_view read_reply(std::string_view frame);

// Weighted choice of op indexes, deterministic for a seed.
class op_chooser {
 public:
  op_chooser(const std::vector<op_mix_entry>& ops, std::uint64_t seed);
  std::uint32_t next();

 private:
  std::vector<std::uint64_t> cumulative_;
  std::uint64_t state_;
};

}  // namespace superapp::bench
