// Server-side figures of a node, read from its admin listener's /metrics (Prometheus text)
// before and after a run: restarts, mailbox depth, resident memory, CPU time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace superapp::bench {

struct node_snapshot {
  std::int64_t restarts_total = 0;      // sum of superapp_actor_restarts_total over actors
  std::int64_t mailbox_depth_max = 0;   // the deepest superapp_actor_mailbox_depth
  std::string mailbox_depth_max_path;   // ... and whose it is
  std::optional<std::int64_t> rss_bytes;  // process_resident_memory_bytes, when exposed
  std::optional<double> cpu_seconds;      // process_cpu_seconds_total, when exposed
  std::map<std::string, std::int64_t> restarts_by_path;
};

// Reads the families above out of Prometheus text; unknown lines are skipped.
node_snapshot parse_node_metrics(std::string_view prometheus_text);

}  // namespace superapp::bench
