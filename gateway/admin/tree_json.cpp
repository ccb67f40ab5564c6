// JSON views of the supervision tree and of readiness, shared by the admin listener and CLI.
#include "gateway/admin/tree_json.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "supervisors/tree.hpp"

namespace superapp::admin {

boost::json::value to_json(const sup::tree_node& node) {
  const bool supervisor = node.kind == "supervisor";
  boost::json::object out;
  out["name"] = node.name;
  out["kind"] = node.kind;
  out["strategy"] = supervisor ? boost::json::value(node.strategy) : nullptr;
  out["restart"] = node.restart;
  out["state"] = node.state;
  out["restarts"] = node.restarts;
  if (supervisor) {
    out["intensity"] = boost::json::object{{"used", node.intensity_used},
                                           {"max", node.intensity_max},
                                           {"period_ms", node.intensity_period_ms}};
  } else {
    out["intensity"] = nullptr;
  }
  out["last_exit_reason"] =
      node.last_exit_reason.empty() ? nullptr : boost::json::value(node.last_exit_reason);
  out["mailbox_depth"] = node.mailbox_depth < 0 ? nullptr : boost::json::value(node.mailbox_depth);
  out["messages"] = node.messages < 0 ? nullptr : boost::json::value(node.messages);
  out["uptime_ms"] = node.uptime_ms;
  out["dynamic_children"] = node.dynamic_children;
  boost::json::array children;
  children.reserve(node.children.size());
  for (const auto& child : node.children) children.push_back(to_json(child));
  out["children"] = std::move(children);
  return out;
}

boost::json::value to_json(const readiness_report& report) {
  boost::json::array domains;
  boost::json::array not_ready;
  for (const auto& d : report) {
    domains.push_back(boost::json::object{{"domain", d.domain}, {"up", d.up}, {"state", d.state}});
    if (!d.up) not_ready.push_back(boost::json::value(d.domain));
  }
  return boost::json::object{{"status", all_up(report) ? "ready" : "not_ready"},
                             {"domains", std::move(domains)},
                             {"not_ready", std::move(not_ready)}};
}

readiness_report readiness_from_tree(const sup::tree_node& root) {
  readiness_report report;
  report.reserve(root.children.size());
  for (const auto& child : root.children)
    report.push_back({child.name, child.state == "running", child.state});
  return report;
}

bool all_up(const readiness_report& report) {
  return std::all_of(report.begin(), report.end(), [](const auto& d) { return d.up; });
}

}  // namespace superapp::admin
