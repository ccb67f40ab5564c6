// Request bookkeeping: latency from the intended time, errors by code, per-second slots.
#include "bench/harness/request_book.hpp"

#include "protocols/assert.hpp"

namespace superapp::bench {

namespace {
// A run longer than this keeps its last slot for the rest; the plot stays bounded.
constexpr std::size_t max_slots = 24 * 60 * 60;

std::uint64_t non_negative(std::chrono::nanoseconds d) {
  return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}
}  // namespace

request_book::request_book(std::size_t op_count, ns slot_width)
    : slot_width_(slot_width), ok_by_op_(op_count, 0) {
  SUPERAPP_ASSERT(slot_width.count() > 0);
}

time_slot& request_book::slot(ns intended) {
  auto index = static_cast<std::size_t>(non_negative(intended) / non_negative(slot_width_));
  index = std::min(index, max_slots - 1);
  if (timeline_.size() <= index) timeline_.resize(index + 1);
  return timeline_[index];
}

void request_book::error(ns intended, std::string_view code) {
  ++errors_;
  auto it = errors_by_code_.find(code);
  if (it == errors_by_code_.end()) it = errors_by_code_.emplace(std::string{code}, 0).first;
  ++it->second;
  ++slot(intended).errors;
}

void request_book::sent(std::uint64_t id, std::uint32_t op, ns intended, ns actual) {
  SUPERAPP_ASSERT(op < ok_by_op_.size());
  const bool fresh = pending_.emplace(id, pending{intended, op}).second;
  SUPERAPP_ASSERT(fresh);
  ++sent_;
  send_lag_ns_.record(non_negative(actual - intended));
}

void request_book::not_sent(std::uint32_t op, ns intended, std::string_view code) {
  SUPERAPP_ASSERT(op < ok_by_op_.size());
  error(intended, code);
}

bool request_book::answered(std::uint64_t id, ns now, std::string_view error_code) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  const auto p = it->second;
  pending_.erase(it);
  if (!error_code.empty()) {
    error(p.intended, error_code);
    return true;
  }
  ++ok_;
  ++ok_by_op_[p.op];
  const auto latency = non_negative(now - p.intended);
  latency_ns_.record(latency);
  slot(p.intended).latency_ns.record(latency);
  return true;
}

std::size_t request_book::expire(ns now, ns timeout) {
  std::size_t expired = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.intended > timeout) {
      error(it->second.intended, timeout_code);
      it = pending_.erase(it);
      ++expired;
    } else {
      ++it;
    }
  }
  return expired;
}

void request_book::abandon(std::string_view code) {
  for (const auto& [id, p] : pending_) error(p.intended, code);
  pending_.clear();
}

void request_book::abandon(std::uint64_t id, std::string_view code) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  error(it->second.intended, code);
  pending_.erase(it);
}

}  // namespace superapp::bench
