// `superapp admin`: asks a running node's admin listener for its tree, health or metrics.
#include "app/admin_cli.hpp"

#include "app/cli_common.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gateway/admin/dashboard_auth.hpp"
#include "protocols/events/event.hpp"
#include "protocols/http/http_client.hpp"
#include "supervisors/node/node_config.hpp"

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
  if (auto messages = number("messages"); messages >= 0)
    line += "  messages=" + std::to_string(messages);
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
               "       superapp admin operator add NAME --role viewer|operator [--password-stdin]\n"
               "       superapp admin reverse TRANSFER_ID --reason TEXT [--as NAME] [--url ...]\n"
               "                      [--token ...] [--data-dir DIR]\n"
               "       superapp admin events tail [--topic TOPIC]... [--last N] [--once]\n"
               "                      [--poll-ms MS] [--url ...] [--token ...] [--data-dir DIR]\n"
               "Without --url/--token it reads DIR/node.json and DIR/operator-token (DIR: ./data).\n"
               "events tail prints the node's bus as one JSON object per line: the last N events\n"
               "(default 10) of each topic (default: every domain's), then new ones until Ctrl-C.\n"
               "reverse sends banking's posted transfer (or a hold's capture) back from payee to\n"
               "payer, in the name of NAME (default: $USER), audited like a dashboard action.\n");
  return 2;
}

struct tail_options {
  std::vector<std::string> topics;
  std::int64_t last = 10;
  bool once = false;
  std::int64_t poll_ms = 500;
};

// One page of GET /api/events; false (with a line on stderr) when the node cannot be asked.
bool fetch_page(const endpoint_url& target, const std::string& token, const std::string& topic,
                const std::string& after, std::int64_t limit, boost::json::object& page) {
  auto path = "/api/events?topic=" + topic + "&limit=" + std::to_string(limit);
  if (!after.empty()) path += "&after=" + after;
  http_answer answer;
  std::string failure;
  if (!http_get(target, token, path, answer, failure)) {
    std::fprintf(stderr, "superapp admin: cannot reach the node: %s\n", failure.c_str());
    return false;
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(answer.body, ec);
  if (answer.status != 200 || ec || !doc.is_object()) {
    std::fprintf(stderr, "superapp admin: the node answered %d: %s\n", answer.status,
                 answer.body.c_str());
    return false;
  }
  page = std::move(doc.as_object());
  return true;
}

int tail_events(const endpoint_url& target, const std::string& token, const tail_options& o) {
  std::map<std::string, std::string> next;  // topic -> position to go on from
  auto print_page = [](const std::string& topic, const boost::json::object& page) {
    for (const auto& item : page.at("events").as_array()) {
      boost::json::object line{{"topic", topic},
                               {"seq", item.at("seq")},
                               {"event", item.at("event")}};
      std::printf("%s\n", boost::json::serialize(line).c_str());
    }
    std::fflush(stdout);
  };
  for (const auto& topic : o.topics) {
    boost::json::object page;
    if (!fetch_page(target, token, topic, "", std::max<std::int64_t>(o.last, 1), page)) return 1;
    if (o.last > 0) print_page(topic, page);
    next[topic] = std::string{page.at("next").as_string()};
  }
  if (o.once) return 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds{o.poll_ms});
    for (const auto& topic : o.topics) {
      for (bool more = true; more;) {
        boost::json::object page;
        if (!fetch_page(target, token, topic, next[topic], 1000, page)) return 1;
        if (page.at("resync").as_bool()) {
          // The bus restarted (or we fell behind its ring): go on from what it holds now.
          std::fprintf(stderr, "superapp admin: %s: events may have been missed (bus restarted); "
                               "going on from what the node holds\n", topic.c_str());
          if (!fetch_page(target, token, topic, "", 1000, page)) return 1;
        }
        print_page(topic, page);
        more = page.at("events").as_array().size() == 1000;
        next[topic] = std::string{page.at("next").as_string()};
      }
    }
  }
}

}  // namespace

int operator_usage() {
  std::fprintf(stderr,
               "usage: superapp admin operator add NAME --role viewer|operator [--password-stdin]\n"
               "                      [--data-dir DIR | --operators-file FILE]\n"
               "Adds (or replaces) a dashboard operator in FILE (default DIR/operators, DIR:\n"
               "./data). A viewer sees the dashboard; an operator may also act. Without\n"
               "--password-stdin a password is generated and printed once. A running node reads\n"
               "the file again at the next log-in.\n");
  return 2;
}

int operator_command(const std::vector<std::string>& args) {
  if (args.size() < 3 || args[1] != "add") return operator_usage();
  admin::operator_account account;
  account.name = args[2];
  std::string data_dir = "./data";
  std::string file;
  bool from_stdin = false;
  for (std::size_t i = 3; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if ((args[i] == "--role" && value(account.role)) ||
        (args[i] == "--data-dir" && value(data_dir)) ||
        (args[i] == "--operators-file" && value(file))) {
    } else if (args[i] == "--password-stdin") {
      from_stdin = true;
    } else {
      return operator_usage();
    }
  }
  if (!admin::valid_operator_name(account.name)) {
    std::fprintf(stderr, "superapp admin operator: NAME: 1 to 64 of A-Z a-z 0-9 . _ -\n");
    return 2;
  }
  if (!admin::valid_role(account.role)) {
    std::fprintf(stderr, "superapp admin operator: --role viewer or --role operator\n");
    return 2;
  }
  std::string password;
  if (from_stdin) {
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.size() < 12) {
      std::fprintf(stderr, "superapp admin operator: the password needs 12 characters or more\n");
      return 2;
    }
  } else {
    password = admin::random_password();
  }
  account.hash = admin::hash_operator_password(password);
  if (file.empty()) file = (std::filesystem::path{data_dir} / "operators").string();
  std::string error;
  if (!admin::put_operator(file, account, error)) {
    std::fprintf(stderr, "superapp admin operator: %s\n", error.c_str());
    return 1;
  }
  std::printf("operator %s (%s) saved in %s\n", account.name.c_str(), account.role.c_str(),
              file.c_str());
  if (!from_stdin) std::printf("password: %s\n", password.c_str());
  return 0;
}

// An operator's reversal through the node's /api/action (the operations actor runs and audits
// it). Prints the outcome and the audit entry's id.
int reverse_transfer(const endpoint_url& target, const std::string& token,
                     const std::string& transfer_id, const std::string& reason,
                     std::string as_operator) {
  if (as_operator.empty()) {
    const char* user = std::getenv("USER");
    as_operator = user != nullptr && *user != '\0' ? user : "cli";
  }
  const http::endpoint at{target.host, target.port, ""};
  boost::json::object body{{"operator", as_operator}, {"role", "operator"},
                           {"action", "reverse"},     {"transfer_id", transfer_id},
                           {"reason", reason}};
  auto outcome = http::post_json(at, "/api/action", boost::json::serialize(body),
                                 std::chrono::seconds{70}, {{"Authorization", "Bearer " + token}});
  if (!outcome) {
    std::fprintf(stderr, "superapp admin: cannot reach %s:%s: %s\n", target.host.c_str(),
                 target.port.c_str(), outcome.failure.c_str());
    return 1;
  }
  if (outcome.reply->status == 401) {
    std::fprintf(stderr, "superapp admin: the node refused the operator token (401)\n");
    return 1;
  }
  boost::system::error_code ec;
  auto answer = boost::json::parse(outcome.reply->body, ec);
  const auto* o = ec ? nullptr : answer.if_object();
  auto text = [o](const char* key) -> std::string {
    const auto* v = o ? o->if_contains(key) : nullptr;
    if (v == nullptr) return {};
    if (v->is_string()) return std::string{v->as_string()};
    if (v->is_object()) {  // {"error":{"code","message"}}
      const auto* m = v->as_object().if_contains("message");
      const auto* c = v->as_object().if_contains("code");
      return (c && c->is_string() ? std::string{c->as_string()} + ": " : std::string{}) +
             (m && m->is_string() ? std::string{m->as_string()} : std::string{});
    }
    return boost::json::serialize(*v);
  };
  if (outcome.reply->status != 200) {
    auto why = text("error");
    std::fprintf(stderr, "superapp admin reverse: refused (HTTP %d) %s\n", outcome.reply->status,
                 (why.empty() ? outcome.reply->body : why).c_str());
    return 1;
  }
  std::printf("%s (audit #%s)\n", text("message").c_str(), text("audit_id").c_str());
  return 0;
}

int run_admin_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  if (args[0] == "operator") return operator_command(args);
  auto command = args[0];
  std::size_t first_option = 1;
  if (command == "events") {
    if (args.size() < 2 || args[1] != "tail") return usage();
    command = "events tail";
    first_option = 2;
  }
  std::string transfer_id, reason, as_operator;
  if (command == "reverse") {
    if (args.size() < 2 || args[1].empty() || args[1][0] == '-') return usage();
    transfer_id = args[1];
    first_option = 2;
  }
  std::string url, token, data_dir = "./data";
  bool json = false;
  tail_options tail;
  for (std::size_t i = first_option; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    auto number = [&](std::int64_t& out, std::int64_t min, std::int64_t max) {
      std::string text;
      return value(text) && parse_integer(text, min, max, out);
    };
    std::string topic;
    if (args[i] == "--json") {
      json = true;
    } else if ((args[i] == "--url" && value(url)) || (args[i] == "--token" && value(token)) ||
               (args[i] == "--data-dir" && value(data_dir))) {
    } else if (command == "reverse" && ((args[i] == "--reason" && value(reason)) ||
                                        (args[i] == "--as" && value(as_operator)))) {
    } else if (command == "events tail" && args[i] == "--topic" && value(topic)) {
      tail.topics.push_back(topic);
    } else if (command == "events tail" && args[i] == "--once") {
      tail.once = true;
    } else if (command == "events tail" &&
               ((args[i] == "--last" && number(tail.last, 0, 1000)) ||
                (args[i] == "--poll-ms" && number(tail.poll_ms, 10, 60'000)))) {
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
  if (command == "events tail") {
    if (tail.topics.empty())
      for (auto role : node::all_roles)
        tail.topics.push_back(events::topic_for_domain(node::to_string(role)));
    return tail_events(*target, token, tail);
  }
  if (command == "reverse") {
    if (reason.empty()) {
      std::fprintf(stderr, "superapp admin reverse: --reason is required (it goes to the audit)\n");
      return 2;
    }
    return reverse_transfer(*target, token, transfer_id, reason, as_operator);
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
