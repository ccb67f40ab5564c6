// `superapp admin`: asks a running node's admin listener for its tree, health or metrics.
#include "app/admin_cli.hpp"

#include "app/cli_common.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace superapp::app {
namespace {

void print_tree(const boost::json::value& node, const std::string& indent, bool last,
                bool is_root) {
  const auto& obj = node.as_object();
  auto text = [&](const char* key) -> std::string {
    auto* v = obj.if_contains(key);
    return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
  };
  auto number = [&](const char* key) -> std::int64_t {
    auto* v = obj.if_contains(key);
    return v != nullptr && v->is_int64() ? v->as_int64() : -1;
  };
  std::string line = is_root ? "" : indent + (last ? "└── " : "├── ");
  line += text("name") + "  [" + text("kind");
  if (!text("strategy").empty()) line += " " + text("strategy");
  line += "] " + text("state");
  line += "  restarts=" + std::to_string(number("restarts"));
  if (auto depth = number("mailbox_depth"); depth >= 0) line += "  mailbox=" + std::to_string(depth);
  if (auto dynamic = number("dynamic_children"); dynamic > 0)
    line += "  children=" + std::to_string(dynamic);
  if (!text("last_exit_reason").empty()) line += "  last_exit=" + text("last_exit_reason");
  std::printf("%s\n", line.c_str());
  auto* children = obj.if_contains("children");
  if (children == nullptr || !children->is_array()) return;
  const auto& list = children->as_array();
  auto child_indent = is_root ? std::string{} : indent + (last ? "    " : "│   ");
  for (std::size_t i = 0; i < list.size(); ++i)
    print_tree(list[i], child_indent, i + 1 == list.size(), false);
}

int usage() {
  std::fprintf(stderr,
               "usage: superapp admin <tree|health|ready|metrics> [--json] [--url http://HOST:PORT]\n"
               "                      [--token TOKEN] [--data-dir DIR]\n"
               "Without --url/--token it reads DIR/node.json and DIR/operator-token (DIR: ./data).\n");
  return 2;
}

}  // namespace

int run_admin_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  auto command = args[0];
  std::string url, token, data_dir = "./data";
  bool json = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (args[i] == "--json") {
      json = true;
    } else if ((args[i] == "--url" && value(url)) || (args[i] == "--token" && value(token)) ||
               (args[i] == "--data-dir" && value(data_dir))) {
    } else {
      return usage();
    }
  }
  if (url.empty()) url = node_file_field(data_dir, "admin_url");
  if (url.empty()) {
    std::fprintf(stderr, "superapp admin: no running node found in %s (no node.json); pass --url\n",
                 data_dir.c_str());
    return 2;
  }
  if (token.empty()) {
    token = operator_token(data_dir);
  }
  auto target = parse_url(url, "http://", "/");
  if (!target) {
    std::fprintf(stderr, "superapp admin: --url must look like http://127.0.0.1:9090\n");
    return 2;
  }
  std::string path;
  if (command == "tree") {
    path = "/api/tree";
  } else if (command == "health") {
    path = "/healthz";
  } else if (command == "ready") {
    path = "/readyz";
  } else if (command == "metrics") {
    path = "/metrics";
  } else {
    return usage();
  }
  http_answer answer;
  std::string failure;
  if (!http_get(*target, token, path, answer, failure)) {
    std::fprintf(stderr, "superapp admin: cannot reach %s: %s\n", url.c_str(), failure.c_str());
    return 1;
  }
  if (answer.status == 401) {
    std::fprintf(stderr, "superapp admin: the node refused the operator token (401)\n");
    return 1;
  }
  if (command == "tree" && !json && answer.status == 200) {
    boost::system::error_code ec;
    auto tree = boost::json::parse(answer.body, ec);
    if (!ec && tree.is_object()) {
      print_tree(tree, "", true, true);
      return 0;
    }
  }
  std::printf("%s", answer.body.c_str());
  if (!answer.body.empty() && answer.body.back() != '\n') std::printf("\n");
  return answer.status == 200 ? 0 : 1;
}

}  // namespace superapp::app
