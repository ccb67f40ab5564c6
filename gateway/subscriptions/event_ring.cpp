// The event ring and the topic rules.
#include "gateway/subscriptions/event_ring.hpp"

#include "protocols/assert.hpp"
#include "protocols/ws/envelope.hpp"

namespace superapp::gateway {

event_ring::event_ring(std::size_t max_events, std::size_t max_bytes)
    : max_events_(max_events), max_bytes_(max_bytes) {
  SUPERAPP_ASSERT(max_events_ > 0 && max_bytes_ > 0);
}

const std::string& event_ring::push(std::string_view topic, std::string_view body_json) {
  std::string frame;
  ws::write_event_raw(frame, topic, next_seq_++, body_json);
  bytes_ += frame.size();
  frames_.push_back(std::move(frame));
  // The newest frame always stays, even alone over max_bytes: it is about to be sent.
  while (frames_.size() > 1 && (frames_.size() > max_events_ || bytes_ > max_bytes_)) {
    bytes_ -= frames_.front().size();
    frames_.pop_front();
    ++first_seq_;
  }
  SUPERAPP_ASSERT(first_seq_ + frames_.size() == next_seq_);
  return frames_.back();
}

std::optional<std::vector<std::string>> event_ring::since(std::uint64_t last_seq) const {
  if (last_seq > this->last_seq()) return std::nullopt;
  if (last_seq + 1 < first_seq_) return std::nullopt;
  std::vector<std::string> out;
  for (auto seq = last_seq + 1; seq < next_seq_; ++seq) out.push_back(frames_[seq - first_seq_]);
  return out;
}

bool valid_topic(std::string_view topic) {
  if (topic.empty() || topic.size() > ws::max_topic_chars) return false;
  if (topic.size() >= 2 && topic.substr(topic.size() - 2) == ".*") topic.remove_suffix(2);
  bool segment_start = true;
  for (char c : topic) {
    if (c == '.') {
      if (segment_start) return false;  // empty segment
      segment_start = true;
      continue;
    }
    const bool lower = c >= 'a' && c <= 'z';
    const bool tail = lower || (c >= '0' && c <= '9') || c == '_';
    if (segment_start ? !lower : !tail) return false;
    segment_start = false;
  }
  return !segment_start;
}

bool topic_matches(std::string_view topic, std::string_view event_type) {
  if (topic.size() >= 2 && topic.substr(topic.size() - 2) == ".*") {
    const auto prefix = topic.substr(0, topic.size() - 1);  // keeps the dot
    return event_type.size() > prefix.size() && event_type.substr(0, prefix.size()) == prefix;
  }
  return topic == event_type;
}

}  // namespace superapp::gateway
