// The bookkeeping of one load run, free of I/O and clocks: requests in flight with their
// intended send times, and what became of them (latency, error code, timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/harness/latency_histogram.hpp"

namespace superapp::bench {

// Errors the client itself observes, beside the codes of the gateway's error envelope.
inline constexpr std::string_view timeout_code = "client_timeout";
inline constexpr std::string_view closed_code = "connection_closed";
inline constexpr std::string_view backlog_code = "client_backlog";
inline constexpr std::string_view bad_reply_code = "unreadable_reply";
inline constexpr std::string_view unanswered_at_stop_code = "unanswered_at_stop";  // Ctrl-C

// One time slot of the run (by intended send time): what the latency-over-time plot draws.
struct time_slot {
  latency_histogram latency_ns{5};
  std::uint64_t errors = 0;
};

class request_book {
 public:
  using ns = std::chrono::nanoseconds;
  explicit request_book(std::size_t op_count, ns slot_width = std::chrono::seconds{1});

  // Times are offsets from the run's start. `intended` is when the schedule wanted the send
  // (open loop), `actual` when it happened; latency is measured from `intended`.
  void sent(std::uint64_t id, std::uint32_t op, ns intended, ns actual);
  // A request that was due but not sent (the client's own limit): an error, no latency.
  void not_sent(std::uint32_t op, ns intended, std::string_view code);
  // The reply to `id` came at `now`: ok when error_code is empty. False for an unknown id (a
  // reply to a request already timed out, or a frame that is not a reply).
  bool answered(std::uint64_t id, ns now, std::string_view error_code);
  // Requests sent more than `timeout` before `now` get no reply any more: client_timeout.
  std::size_t expire(ns now, ns timeout);
  // Every request still in flight ends with `code` (the connection closed, or the run ended).
  void abandon(std::string_view code);
  void abandon(std::uint64_t id, std::string_view code);

  std::size_t in_flight() const noexcept { return pending_.size(); }
  std::uint64_t sent_count() const noexcept { return sent_; }
  std::uint64_t ok_count() const noexcept { return ok_; }
  std::uint64_t error_count() const noexcept { return errors_; }
  const std::map<std::string, std::uint64_t, std::less<>>& errors_by_code() const noexcept {
    return errors_by_code_;
  }
  const std::vector<std::uint64_t>& ok_by_op() const noexcept { return ok_by_op_; }
  const latency_histogram& latency_ns() const noexcept { return latency_ns_; }
  // How late sends left against their schedule: the client's own lag, reported so that a
  // saturated client is visible rather than blamed on the server.
  const latency_histogram& send_lag_ns() const noexcept { return send_lag_ns_; }
  const std::vector<time_slot>& timeline() const noexcept { return timeline_; }
  ns slot_width() const noexcept { return slot_width_; }

 private:
  struct pending {
    ns intended;
    std::uint32_t op;
  };
  void error(ns intended, std::string_view code);
  time_slot& slot(ns intended);

  ns slot_width_;
  std::unordered_map<std::uint64_t, pending> pending_;
  std::uint64_t sent_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t errors_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> errors_by_code_;
  std::vector<std::uint64_t> ok_by_op_;
  latency_histogram latency_ns_;
  latency_histogram send_lag_ns_;
  std::vector<time_slot> timeline_;
};

}  // namespace superapp::bench
