// The route table: op -> domain and lane, by a segment trie (lookup in O(length of op), no regex).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace superapp::filters {

// Longer ops are refused before lookup; ops are short dotted names like `banking.transfer`.
inline constexpr std::size_t max_op_bytes = 128;
inline constexpr std::size_t max_idempotency_key_bytes = 128;

// Transactional ops change state and need an idempotency key; query ops only read. They have
// separate concurrency limits so a burst of reads never starves payments, nor the reverse.
enum class lane : std::uint8_t { transactional = 0, query = 1 };
inline constexpr std::size_t lane_count = 2;
std::string_view to_string(lane l);
std::optional<lane> lane_from_string(std::string_view text);

struct route {
  std::string_view domain;  // points into the route_table, which outlives requests
  lane request_lane = lane::transactional;
};

// Dotted lower-case names: segments of [a-z0-9_], non-empty, at most max_op_bytes in all.
bool valid_op(std::string_view op);

class route_table {
 public:
  // Ops no lane pattern covers are transactional: the safe side (an idempotency key is demanded).
  explicit route_table(lane default_lane = lane::transactional);

  // `op_prefix` ends in '.', e.g. "banking." -> "banking"; the longest prefix wins.
  void add_domain(std::string_view op_prefix, std::string_view domain);
  // `op_pattern` is an exact op ("banking.transfer"), a prefix ("banking.accounts.*") or "*";
  // an exact op beats any prefix, a longer prefix beats a shorter one.
  void add_lane(std::string_view op_pattern, lane l);

  // {"default_lane": "...", "domains": {"banking.": "banking"}, "lanes": {"banking.x.*": "query"}}
  static std::optional<route_table> from_json(std::string_view text, std::string& error);
  // The same keys in TOML: default_lane = "..."; [domains] "banking." = "banking"; [lanes] ...
  static std::optional<route_table> from_toml(std::string_view text, std::string& error);

  // nullopt for an invalid op or one no domain prefix covers. Allocation-free.
  std::optional<route> find(std::string_view op) const;

 private:
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct node {
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> children;
    std::int32_t domain = -1;         // index into domains_; applies to ops below this node
    std::optional<lane> prefix_lane;  // applies to ops below this node
    std::optional<lane> exact_lane;   // applies to the op ending at this node
  };
  std::uint32_t node_for(std::string_view dotted_path);  // creates nodes as needed

  lane default_lane_;
  std::vector<node> nodes_;
  std::vector<std::string> domains_;
};

class node_lanes;
class session_lanes;
class lane_ticket;
// A ticket if both the session and the node have room in the lane, else nullopt (overloaded).
std::optional<lane_ticket> try_enter_lane(lane l, session_lanes& session, node_lanes& node);

// Requests in flight per lane on this node; shared by every session, lock-free.
class node_lanes {
 public:
  explicit node_lanes(std::array<std::uint32_t, lane_count> max_in_flight);
  std::uint32_t in_flight(lane l) const;

 private:
  friend class lane_ticket;
  friend std::optional<lane_ticket> try_enter_lane(lane, session_lanes&, node_lanes&);
  std::array<std::uint32_t, lane_count> max_in_flight_;
  std::array<std::atomic<std::uint32_t>, lane_count> in_flight_{};
};

// Requests in flight per lane for one session; owned and used by that session's actor only.
class session_lanes {
 public:
  explicit session_lanes(std::array<std::uint32_t, lane_count> max_in_flight);
  std::uint32_t in_flight(lane l) const;

 private:
  friend class lane_ticket;
  friend std::optional<lane_ticket> try_enter_lane(lane, session_lanes&, node_lanes&);
  std::array<std::uint32_t, lane_count> max_in_flight_;
  std::array<std::uint32_t, lane_count> in_flight_{};
};

// A seat in a lane on the session and on the node; given back when destroyed (reply sent).
class lane_ticket {
 public:
  lane_ticket() = default;
  lane_ticket(lane_ticket&& other) noexcept;
  lane_ticket& operator=(lane_ticket&& other) noexcept;
  lane_ticket(const lane_ticket&) = delete;
  lane_ticket& operator=(const lane_ticket&) = delete;
  ~lane_ticket();

  explicit operator bool() const { return node_ != nullptr; }
  lane held_lane() const { return lane_; }
  void release();

 private:
  friend std::optional<lane_ticket> try_enter_lane(lane, session_lanes&, node_lanes&);
  lane_ticket(lane l, session_lanes& s, node_lanes& n) : lane_(l), session_(&s), node_(&n) {}
  lane lane_ = lane::transactional;
  session_lanes* session_ = nullptr;
  node_lanes* node_ = nullptr;
};

}  // namespace superapp::filters
