// One topic's recent events: a bounded ring with per-topic sequence numbers. No CAF, no I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <variant>
#include <vector>

#include "protocols/assert.hpp"
#include "protocols/events/event.hpp"

namespace superapp::bus {

class topic_log {
 public:
  explicit topic_log(std::size_t capacity) : capacity_(capacity) { SUPERAPP_ASSERT(capacity > 0); }

  // Appends and returns the event's sequence number (1 for the first); drops the oldest event
  // once `capacity` are held. `refilled`: published again from an outbox (bus_refill_atom).
  std::int64_t append(events::event e, bool refilled = false) {
    ++head_;
    ring_.push_back({std::move(e), refilled});
    if (ring_.size() > capacity_) ring_.pop_front();
    SUPERAPP_ASSERT(ring_.size() <= capacity_);
    return head_;
  }

  struct too_old {};  // the caller must resync
  struct entry {
    std::int64_t seq;
    const events::event* event;
    bool refilled;
  };

  // Every held event with seq > after, oldest first; too_old when events after `after` have
  // already left the ring, or `after` lies beyond the head (a position this log never gave).
  std::variant<std::vector<entry>, too_old> after(std::int64_t after) const {
    if (after < oldest_seq() - 1 || after > head_) return too_old{};
    std::vector<entry> out;
    out.reserve(static_cast<std::size_t>(head_ - after));
    for (std::int64_t seq = after + 1; seq <= head_; ++seq) {
      const auto& held = ring_[static_cast<std::size_t>(seq - oldest_seq())];
      out.push_back({seq, &held.event, held.refilled});
    }
    return out;
  }

  std::int64_t head() const { return head_; }  // 0 before the first event
  std::int64_t oldest_seq() const { return head_ - static_cast<std::int64_t>(ring_.size()) + 1; }
  std::size_t size() const { return ring_.size(); }

 private:
  struct held {
    events::event event;
    bool refilled;
  };
  std::size_t capacity_;
  std::deque<held> ring_;
  std::int64_t head_ = 0;
};

}  // namespace superapp::bus
