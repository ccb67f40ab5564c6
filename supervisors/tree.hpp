// The supervision tree as data: what every supervisor reports about its subtree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace superapp::sup {

// One node of the live supervision tree, as shown by `superapp admin tree`, /api/tree and
// the operators' dashboard. Workers have no children; supervisors list theirs in start order.
struct tree_node {
  std::string name;              // child id, unique among its siblings
  std::string kind;              // "supervisor" or "worker"
  std::string strategy;          // supervisors only: one_for_one, one_for_all, ...
  std::string restart;           // permanent, transient or temporary
  std::string state;             // running, restarting, stopping, stopped, failed
  std::int64_t restarts = 0;     // total restarts of this child since its supervisor started
  std::int64_t intensity_used = 0;   // supervisors: restarts inside the current window
  std::int64_t intensity_max = 0;    // supervisors: R of "at most R restarts in T"
  std::int64_t intensity_period_ms = 0;
  std::string last_exit_reason;  // empty when it never exited
  std::int64_t mailbox_depth = -1;   // -1: the actor does not answer probes
  std::int64_t messages = -1;        // handled since it (re)started; -1: the actor does not count
  std::int64_t uptime_ms = 0;
  std::int64_t dynamic_children = 0;  // simple_one_for_one: how many live children in all
  std::vector<tree_node> children;    // for simple_one_for_one: only the worst few
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tree_node& x) {
  return f(caf::meta::type_name("tree_node"), x.name, x.kind, x.strategy, x.restart, x.state,
           x.restarts, x.intensity_used, x.intensity_max, x.intensity_period_ms,
           x.last_exit_reason, x.mailbox_depth, x.messages, x.uptime_ms, x.dynamic_children,
           x.children);
}

// What a worker says about itself when probed.
struct worker_stats {
  std::int64_t mailbox_depth = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_stats& x) {
  return f(caf::meta::type_name("worker_stats"), x.mailbox_depth);
}

}  // namespace superapp::sup
