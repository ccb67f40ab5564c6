// Route table trie, its JSON/TOML loaders, and the per-lane in-flight counters.
#include "gateway/filters/routes.hpp"

#include <toml++/toml.h>

#include <boost/json.hpp>

#include "protocols/assert.hpp"

namespace superapp::filters {
namespace {

bool valid_segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// Calls visit(segment) for each dot-separated segment.
template <class Visit>
void for_each_segment(std::string_view path, Visit&& visit) {
  while (true) {
    auto dot = path.find('.');
    if (!visit(path.substr(0, dot))) return;
    if (dot == std::string_view::npos) return;
    path.remove_prefix(dot + 1);
  }
}

}  // namespace

std::string_view to_string(lane l) { return l == lane::transactional ? "transactional" : "query"; }

std::optional<lane> lane_from_string(std::string_view text) {
  if (text == "transactional") return lane::transactional;
  if (text == "query") return lane::query;
  return std::nullopt;
}

bool valid_op(std::string_view op) {
  if (op.empty() || op.size() > max_op_bytes) return false;
  bool segment_empty = true;
  for (char c : op) {
    if (c == '.') {
      if (segment_empty) return false;
      segment_empty = true;
    } else if (valid_segment_char(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty;
}

route_table::route_table(lane default_lane) : default_lane_(default_lane), nodes_(1) {}

std::uint32_t route_table::node_for(std::string_view dotted_path) {
  std::uint32_t current = 0;
  for_each_segment(dotted_path, [&](std::string_view segment) {
    auto& children = nodes_[current].children;
    if (auto it = children.find(segment); it != children.end()) {
      current = it->second;
    } else {
      auto next = static_cast<std::uint32_t>(nodes_.size());
      // Insert before growing nodes_: the reference to `children` dies with the reallocation.
      children.emplace(std::string{segment}, next);
      nodes_.emplace_back();
      current = next;
    }
    return true;
  });
  return current;
}

void route_table::add_domain(std::string_view op_prefix, std::string_view domain) {
  SUPERAPP_ASSERT(op_prefix.size() >= 2 && op_prefix.back() == '.');
  auto path = op_prefix.substr(0, op_prefix.size() - 1);
  SUPERAPP_ASSERT(valid_op(path));
  SUPERAPP_ASSERT(!domain.empty());
  auto n = node_for(path);
  nodes_[n].domain = static_cast<std::int32_t>(domains_.size());
  domains_.emplace_back(domain);
}

void route_table::add_lane(std::string_view op_pattern, lane l) {
  if (op_pattern == "*") {
    nodes_[0].prefix_lane = l;
    return;
  }
  if (op_pattern.size() > 2 && op_pattern.substr(op_pattern.size() - 2) == ".*") {
    auto path = op_pattern.substr(0, op_pattern.size() - 2);
    SUPERAPP_ASSERT(valid_op(path));
    nodes_[node_for(path)].prefix_lane = l;
    return;
  }
  SUPERAPP_ASSERT(valid_op(op_pattern));
  nodes_[node_for(op_pattern)].exact_lane = l;
}

std::optional<route> route_table::find(std::string_view op) const {
  if (!valid_op(op)) return std::nullopt;
  const node* current = &nodes_[0];
  std::int32_t domain = -1;
  std::optional<lane> found_lane;
  bool walked_all = true;
  for_each_segment(op, [&](std::string_view segment) {
    // Entries on this node cover ops below it, and this op has at least one more segment.
    if (current->domain >= 0) domain = current->domain;
    if (current->prefix_lane) found_lane = current->prefix_lane;
    auto it = current->children.find(segment);
    if (it == current->children.end()) {
      walked_all = false;
      return false;
    }
    current = &nodes_[it->second];
    return true;
  });
  if (walked_all && current->exact_lane) found_lane = current->exact_lane;
  if (domain < 0) return std::nullopt;
  return route{domains_[static_cast<std::size_t>(domain)], found_lane.value_or(default_lane_)};
}

namespace {

// Shared by both loaders: checks keys with the same rules add_domain/add_lane assert.
bool add_domain_entry(route_table& table, std::string_view prefix, std::string_view domain,
                      std::string& error) {
  if (prefix.size() < 2 || prefix.back() != '.' || !valid_op(prefix.substr(0, prefix.size() - 1)) ||
      domain.empty()) {
    error = "routes: domain prefix '" + std::string{prefix} +
            "' must be a dotted name ending in '.' and name a domain";
    return false;
  }
  table.add_domain(prefix, domain);
  return true;
}

bool add_lane_entry(route_table& table, std::string_view pattern, std::string_view lane_name,
                    std::string& error) {
  auto l = lane_from_string(lane_name);
  bool pattern_ok = pattern == "*" || valid_op(pattern) ||
                    (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*" &&
                     valid_op(pattern.substr(0, pattern.size() - 2)));
  if (!l || !pattern_ok) {
    error = "routes: lane entry '" + std::string{pattern} + "' = '" + std::string{lane_name} +
            "' needs an op, 'prefix.*' or '*', and 'transactional' or 'query'";
    return false;
  }
  table.add_lane(pattern, *l);
  return true;
}

}  // namespace

std::optional<route_table> route_table::from_json(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) {
    error = "routes: not a JSON object";
    return std::nullopt;
  }
  const auto& o = doc.get_object();
  lane default_lane = lane::transactional;
  if (auto* d = o.if_contains("default_lane")) {
    auto l = d->is_string() ? lane_from_string(d->get_string()) : std::nullopt;
    if (!l) {
      error = "routes: default_lane must be 'transactional' or 'query'";
      return std::nullopt;
    }
    default_lane = *l;
  }
  route_table table{default_lane};
  auto* domains = o.if_contains("domains");
  if (domains == nullptr || !domains->is_object()) {
    error = "routes: 'domains' must be an object of prefix -> domain";
    return std::nullopt;
  }
  for (const auto& [prefix, domain] : domains->get_object()) {
    if (!domain.is_string() || !add_domain_entry(table, prefix, domain.get_string(), error)) {
      if (error.empty()) error = "routes: domain of '" + std::string{prefix} + "' is not a string";
      return std::nullopt;
    }
  }
  if (auto* lanes = o.if_contains("lanes")) {
    if (!lanes->is_object()) {
      error = "routes: 'lanes' must be an object of pattern -> lane";
      return std::nullopt;
    }
    for (const auto& [pattern, l] : lanes->get_object()) {
      if (!l.is_string() || !add_lane_entry(table, pattern, l.get_string(), error)) {
        if (error.empty()) error = "routes: lane of '" + std::string{pattern} + "' is not a string";
        return std::nullopt;
      }
    }
  }
  return table;
}

std::optional<route_table> route_table::from_toml(std::string_view text, std::string& error) {
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const toml::parse_error& e) {
    error = std::string{"routes: not TOML: "} + std::string{e.description()};
    return std::nullopt;
  }
  lane default_lane = lane::transactional;
  if (auto* d = doc.get("default_lane")) {
    auto name = d->value<std::string>();
    auto l = name ? lane_from_string(*name) : std::nullopt;
    if (!l) {
      error = "routes: default_lane must be 'transactional' or 'query'";
      return std::nullopt;
    }
    default_lane = *l;
  }
  route_table table{default_lane};
  auto* domains = doc.get_as<toml::table>("domains");
  if (domains == nullptr) {
    error = "routes: [domains] must be a table of prefix -> domain";
    return std::nullopt;
  }
  for (const auto& [prefix, domain] : *domains) {
    auto name = domain.value<std::string>();
    if (!name) {
      error = "routes: domain of '" + std::string{prefix.str()} + "' is not a string";
      return std::nullopt;
    }
    if (!add_domain_entry(table, prefix.str(), *name, error)) return std::nullopt;
  }
  if (auto* lanes_node = doc.get("lanes")) {
    auto* lanes = lanes_node->as_table();
    if (lanes == nullptr) {
      error = "routes: [lanes] must be a table of pattern -> lane";
      return std::nullopt;
    }
    for (const auto& [pattern, l] : *lanes) {
      auto name = l.value<std::string>();
      if (!name) {
        error = "routes: lane of '" + std::string{pattern.str()} + "' is not a string";
        return std::nullopt;
      }
      if (!add_lane_entry(table, pattern.str(), *name, error)) return std::nullopt;
    }
  }
  return table;
}

// ---- lanes ----

node_lanes::node_lanes(std::array<std::uint32_t, lane_count> max_in_flight)
    : max_in_flight_(max_in_flight) {}

std::uint32_t node_lanes::in_flight(lane l) const {
  return in_flight_[static_cast<std::size_t>(l)].load(std::memory_order_relaxed);
}

session_lanes::session_lanes(std::array<std::uint32_t, lane_count> max_in_flight)
    : max_in_flight_(max_in_flight) {}

std::uint32_t session_lanes::in_flight(lane l) const {
  return in_flight_[static_cast<std::size_t>(l)];
}

std::optional<lane_ticket> try_enter_lane(lane l, session_lanes& session, node_lanes& node) {
  auto i = static_cast<std::size_t>(l);
  if (session.in_flight_[i] >= session.max_in_flight_[i]) return std::nullopt;
  auto& counter = node.in_flight_[i];
  auto current = counter.load(std::memory_order_relaxed);
  // CAS rather than fetch_add-then-undo: the count never shows more than the limit.
  do {
    if (current >= node.max_in_flight_[i]) return std::nullopt;
  } while (!counter.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
  ++session.in_flight_[i];
  return lane_ticket{l, session, node};
}

lane_ticket::lane_ticket(lane_ticket&& other) noexcept
    : lane_(other.lane_), session_(other.session_), node_(other.node_) {
  other.session_ = nullptr;
  other.node_ = nullptr;
}

lane_ticket& lane_ticket::operator=(lane_ticket&& other) noexcept {
  if (this != &other) {
    release();
    lane_ = other.lane_;
    session_ = other.session_;
    node_ = other.node_;
    other.session_ = nullptr;
    other.node_ = nullptr;
  }
  return *this;
}

lane_ticket::~lane_ticket() { release(); }

void lane_ticket::release() {
  if (node_ == nullptr) return;
  auto i = static_cast<std::size_t>(lane_);
  SUPERAPP_ASSERT(session_->in_flight_[i] > 0);
  --session_->in_flight_[i];
  node_->in_flight_[i].fetch_sub(1, std::memory_order_acq_rel);
  session_ = nullptr;
  node_ = nullptr;
}

}  // namespace superapp::filters
