// A session's pushed events: numbered in order, the last few kept for replay after a reconnect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::gateway {

// Pure logic (no CAF, no I/O). seq starts at 1 and counts every event pushed to the session,
// whatever its topic. At most max_events frames and max_bytes of frame text are kept; older
// ones are dropped, and a client that missed a dropped event must resync.
class event_ring {
 public:
  event_ring(std::size_t max_events, std::size_t max_bytes);

  // Numbers the event, keeps its frame ({type:"event", topic, seq, body}) and returns it.
  const std::string& push(std::string_view topic, std::string_view body_json);

  // The frames after `last_seq` in order, or nullopt when the client must resync: one of them
  // is no longer kept, or `last_seq` is ahead of anything this session sent.
  std::optional<std::vector<std::string>> since(std::uint64_t last_seq) const;

  std::uint64_t last_seq() const { return next_seq_ - 1; }
  std::size_t kept_events() const { return frames_.size(); }
  std::size_t kept_bytes() const { return bytes_; }

 private:
  const std::size_t max_events_;
  const std::size_t max_bytes_;
  std::deque<std::string> frames_;  // seq first_seq_ .. next_seq_ - 1
  std::uint64_t first_seq_ = 1;
  std::uint64_t next_seq_ = 1;
  std::size_t bytes_ = 0;
};

// A client topic is an event type ("banking.transfer.completed") or a prefix of segments ending
// in ".*" ("banking.*"): lower-case segments [a-z][a-z0-9_]*, at most max_topic_chars.
bool valid_topic(std::string_view topic);
bool topic_matches(std::string_view topic, std::string_view event_type);

}  // namespace superapp::gateway
