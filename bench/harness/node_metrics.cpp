// Picking out of a node's /metrics text the figures a run reports.
#include "bench/harness/node_metrics.hpp"

#include <charconv>
#include <cmath>

namespace superapp::bench {
namespace {

std::optional<std::int64_t> number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || !std::isfinite(value)) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(value));
}

// The value of label `name` in `{a="x",b="y"}`; empty when absent.
std::string label(std::string_view labels, std::string_view name) {
  const auto key = std::string{name} + "=\"";
  const auto at = labels.find(key);
  if (at == std::string_view::npos) return {};
  const auto from = at + key.size();
  const auto to = labels.find('"', from);
  return std::string{labels.substr(from, to == std::string_view::npos ? 0 : to - from)};
}

}  // namespace

node_snapshot parse_node_metrics(std::string_view text) {
  node_snapshot out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    const auto series = line.substr(0, space);
    const auto value = number(line.substr(space + 1));
    if (!value) continue;
    const auto brace = series.find('{');
    const auto name = series.substr(0, brace);
    const auto labels = brace == std::string_view::npos ? std::string_view{} : series.substr(brace);
    if (name == "superapp_actor_restarts_total") {
      out.restarts_total += *value;
      out.restarts_by_path[label(labels, "path")] = *value;
    } else if (name == "superapp_actor_mailbox_depth") {
      if (out.mailbox_depth_max_path.empty() || *value > out.mailbox_depth_max) {
        out.mailbox_depth_max = *value;
        out.mailbox_depth_max_path = label(labels, "path");
      }
    } else if (name == "process_resident_memory_bytes") {
      out.rss_bytes = *value;
    } else if (name == "process_cpu_seconds_total") {
      const auto text = line.substr(space + 1);
      double seconds = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
      if (ec == std::errc{} && std::isfinite(seconds)) out.cpu_seconds = seconds;
    }
  }
  return out;
}

}  // namespace superapp::bench
