// Reads a scenario TOML file; unknown keys, wrong types and values out of range are one line.
#include "bench/harness/scenario.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bench/harness/baseline.hpp"

namespace superapp::bench {
namespace {

// Thrown inside the parser only, caught at its edge and turned into the one error line.
struct bad_key {
  std::string key;
  std::string what;
};

std::string quoted(std::string_view text) {
  constexpr std::size_t max_chars = 48;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_chars; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) out += fmt::format("\\x{:02x}", byte);
    else out += text[i];
  }
  if (text.size() > max_chars) out += "...";
  return out + "\"";
}

std::string describe(const toml::node& n) {
  if (auto s = n.as_string()) return quoted(s->get());
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date or time";
}

// The keys one table may hold; anything else is reported as unknown, naming the known ones.
void only_keys(const toml::table& table, const std::string& prefix,
               std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : table) {
    bool found = false;
    for (auto k : known) found = found || k == key.str();
    if (found) continue;
    std::string names;
    for (auto k : known) names += (names.empty() ? "" : ", ") + std::string{k};
    throw bad_key{prefix + std::string{key.str()}, "unknown key; known keys are " + names};
  }
}

class table_reader {
 public:
  table_reader(const toml::table* table, std::string prefix)
      : table_(table), prefix_(std::move(prefix)) {}

  const toml::node* find(std::string_view key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  std::string key(std::string_view k) const { return prefix_ + std::string{k}; }

  std::optional<std::string> text(std::string_view k, std::size_t max_chars = 256) const {
    const auto* n = find(k);
    if (n == nullptr) return std::nullopt;
    const auto* s = n->as_string();
    if (s == nullptr) throw bad_key{key(k), "expected a string, got " + describe(*n)};
    if (s->get().size() > max_chars)
      throw bad_key{key(k), fmt::format("longer than {} characters", max_chars)};
    return s->get();
  }
  std::optional<std::int64_t> integer(std::string_view k, std::int64_t min,
                                      std::int64_t max) const {
    const auto* n = find(k);
    if (n == nullptr) return std::nullopt;
    const auto* i = n->as_integer();
    const auto expected = fmt::format("expected an integer from {} to {}", min, max);
    if (i == nullptr) throw bad_key{key(k), expected + ", got " + describe(*n)};
    if (i->get() < min || i->get() > max)
      throw bad_key{key(k), expected + ", got " + std::to_string(i->get())};
    return i->get();
  }
  std::optional<double> number(std::string_view k, double min, double max) const {
    const auto* n = find(k);
    if (n == nullptr) return std::nullopt;
    double value = 0;
    if (auto i = n->as_integer()) value = static_cast<double>(i->get());
    else if (auto f = n->as_floating_point()) value = f->get();
    const auto expected = fmt::format("expected a number from {} to {}", min, max);
    if (!n->is_number()) throw bad_key{key(k), expected + ", got " + describe(*n)};
    if (!std::isfinite(value) || value < min || value > max)
      throw bad_key{key(k), expected + ", got " + describe(*n)};
    return value;
  }
  std::optional<bool> boolean(std::string_view k) const {
    const auto* n = find(k);
    if (n == nullptr) return std::nullopt;
    const auto* b = n->as_boolean();
    if (b == nullptr) throw bad_key{key(k), "expected true or false, got " + describe(*n)};
    return b->get();
  }
  std::optional<std::string> choice(std::string_view k,
                                    std::initializer_list<std::string_view> names) const {
    std::string list;
    for (auto name : names) list += (list.empty() ? "" : ", ") + quoted(name);
    const auto* n = find(k);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) throw bad_key{key(k), "expected one of " + list + ", got " + describe(*n)};
    const auto chosen = n->as_string()->get();
    for (auto name : names)
      if (name == chosen) return chosen;
    throw bad_key{key(k), "expected one of " + list + ", got " + quoted(chosen)};
  }
  const toml::table* table(std::string_view k) const {
    const auto* n = find(k);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) throw bad_key{key(k), "expected a table, got " + describe(*n)};
    return n->as_table();
  }

 private:
  const toml::table* table_;
  std::string prefix_;
};

boost::json::value to_json(const toml::node& n, const std::string& key) {
  // Parentheses, not braces: a braced json::value is an array.
  if (auto s = n.as_string()) return boost::json::value(std::string_view{s->get()});
  if (auto i = n.as_integer()) return boost::json::value(i->get());
  if (auto f = n.as_floating_point()) return boost::json::value(f->get());
  if (auto b = n.as_boolean()) return boost::json::value(b->get());
  if (auto a = n.as_array()) {
    boost::json::array out;
    std::size_t i = 0;
    for (const auto& element : *a) out.push_back(to_json(element, fmt::format("{}[{}]", key, i++)));
    return out;
  }
  if (auto t = n.as_table()) {
    boost::json::object out;
    for (const auto& [k, v] : *t) out[k.str()] = to_json(v, key + "." + std::string{k.str()});
    return out;
  }
  throw bad_key{key, "dates and times have no JSON form; write them as strings"};
}

// "domain.verb": lower-case letters, digits and '_' on both sides of one dot.
void check_op_name(const std::string& name, const std::string& key) {
  const auto dot = name.find('.');
  auto word = [](std::string_view w) {
    if (w.empty()) return false;
    for (char c : w)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
  };
  if (dot == std::string::npos || !word(std::string_view{name}.substr(0, dot)) ||
      !word(std::string_view{name}.substr(dot + 1)))
    throw bad_key{key, "expected an op name like \"banking.ping\", got " + quoted(name)};
}

std::string body_of(const table_reader& r) {
  const auto* n = r.find("body");
  if (n == nullptr) return "{}";
  if (!n->is_table())
    throw bad_key{r.key("body"), "expected a table (the request body), got " + describe(*n)};
  return boost::json::serialize(to_json(*n, r.key("body")));
}

// The op, body and idempotency flag of an [[op]] or a data-set request.
template <class Request>
void read_request(const table_reader& r, std::string_view op_key, std::string_view what,
                  Request& out) {
  auto op = r.text(op_key, 64);
  if (!op) throw bad_key{r.key(op_key), "missing; " + std::string{what}};
  check_op_name(*op, r.key(op_key));
  out.op = *op;
  out.body_json = body_of(r);
  out.idempotency_key = r.boolean("idempotency_key").value_or(false);
}

const toml::array* array_of_tables(const toml::node* n, const std::string& key) {
  if (n == nullptr) return nullptr;
  const auto* a = n->as_array();
  if (a == nullptr || !a->is_array_of_tables())
    throw bad_key{key, "expected [[" + key + "]] tables, got " + describe(*n)};
  return a;
}

scenario read(const toml::table& doc, std::string_view source) {
  scenario s;
  s.source = std::string{source};
  only_keys(doc, "", {"scenario", "load", "users", "op", "dataset", "baseline", "chaos"});

  table_reader top{&doc, ""};
  const auto* meta = top.table("scenario");
  if (meta == nullptr) throw bad_key{"scenario", "missing; every file starts with [scenario] name = ..."};
  only_keys(*meta, "scenario.", {"name", "description"});
  table_reader m{meta, "scenario."};
  auto name = m.text("name", 64);
  if (!name || name->empty()) throw bad_key{"scenario.name", "missing; name the scenario"};
  s.name = *name;
  for (char c : s.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      throw bad_key{"scenario.name", "use letters, digits, '-' and '_' (it names files), got " +
                                         quoted(s.name)};
  s.description = m.text("description", 1024).value_or("");

  const auto* load = top.table("load");
  if (load == nullptr) throw bad_key{"load", "missing; [load] sets mode, rate and duration"};
  only_keys(*load, "load.",
            {"mode", "rate_per_s", "ramp_s", "duration_s", "sessions", "source_addresses",
             "in_flight_per_session", "request_timeout_ms"});
  table_reader l{load, "load."};
  const auto mode = l.choice("mode", {"open", "closed"});
  if (!mode) throw bad_key{"load.mode", "missing; \"open\" (a set rate) or \"closed\" (max throughput)"};
  s.mode = *mode == "open" ? load_mode::open_loop : load_mode::closed_loop;
  s.duration_s = l.number("duration_s", 0.1, max_duration_s).value_or(0);
  if (s.duration_s == 0) throw bad_key{"load.duration_s", "missing; how long the load runs"};
  if (s.mode == load_mode::open_loop) {
    auto rate = l.number("rate_per_s", 0.1, max_rate_per_s);
    if (!rate) throw bad_key{"load.rate_per_s", "missing; an open-loop run needs a rate"};
    s.rate_per_s = *rate;
  } else if (l.find("rate_per_s") != nullptr) {
    throw bad_key{"load.rate_per_s", "a closed-loop run has no rate; remove it or use mode = \"open\""};
  }
  s.ramp_s = l.number("ramp_s", 0, s.duration_s).value_or(0);
  if (s.ramp_s > 0 && s.mode == load_mode::closed_loop)
    throw bad_key{"load.ramp_s", "a closed-loop run has no ramp; remove it or use mode = \"open\""};
  s.sessions = static_cast<std::uint32_t>(l.integer("sessions", 1, max_sessions).value_or(10));
  s.source_addresses = static_cast<std::uint32_t>(l.integer("source_addresses", 1, 254).value_or(8));
  s.in_flight_per_session =
      static_cast<std::uint32_t>(l.integer("in_flight_per_session", 1, 1024).value_or(1));
  s.request_timeout_ms =
      static_cast<std::uint32_t>(l.integer("request_timeout_ms", 1, 600'000).value_or(10'000));

  if (const auto* users = top.table("users")) {
    only_keys(*users, "users.", {"count", "devices_per_user"});
    table_reader u{users, "users."};
    s.users = static_cast<std::uint32_t>(u.integer("count", 1, max_users).value_or(s.users));
    s.devices_per_user =
        static_cast<std::uint32_t>(u.integer("devices_per_user", 1, 16).value_or(1));
  }

  const auto* ops = array_of_tables(top.find("op"), "op");
  if (ops == nullptr || ops->empty())
    throw bad_key{"op", "missing; list the op mix as [[op]] tables with name and weight"};
  std::size_t index = 0;
  for (const auto& element : *ops) {
    const auto prefix = fmt::format("op[{}].", index++);
    only_keys(*element.as_table(), prefix, {"name", "weight", "body", "idempotency_key"});
    table_reader o{element.as_table(), prefix};
    op_mix_entry entry;
    read_request(o, "name", "the op to send, e.g. \"system.echo\"", entry);
    entry.weight = static_cast<std::uint32_t>(o.integer("weight", 1, 1'000'000).value_or(1));
    s.ops.push_back(std::move(entry));
  }

  if (const auto* dataset = top.table("dataset")) {
    only_keys(*dataset, "dataset.", {"per_user"});
    const auto* per_user = array_of_tables(dataset->get("per_user"), "dataset.per_user");
    std::size_t i = 0;
    for (const auto& element : per_user ? *per_user : toml::array{}) {
      const auto prefix = fmt::format("dataset.per_user[{}].", i++);
      only_keys(*element.as_table(), prefix, {"op", "body", "idempotency_key", "capture", "until"});
      table_reader d{element.as_table(), prefix};
      setup_request request;
      read_request(d, "op", "the op that creates this user's data", request);
      if (const auto* capture = d.table("capture")) {
        for (const auto& [name, path] : *capture) {
          const auto key = prefix + "capture." + std::string{name.str()};
          if (!path.is_string() || path.as_string()->get().empty())
            throw bad_key{key, "expected the reply field's path, e.g. \"accounts.0.account_id\""};
          request.capture.emplace_back(std::string{name.str()}, path.as_string()->get());
        }
      }
      if (const auto* until = d.table("until")) {
        only_keys(*until, prefix + "until.", {"path", "equals", "within_s"});
        table_reader u{until, prefix + "until."};
        auto path = u.text("path");
        auto equals = u.text("equals");
        if (!path || path->empty() || !equals)
          throw bad_key{prefix + "until",
                        "needs path and equals, e.g. { path = \"state\", equals = \"posted\" }"};
        request.until_path = *path;
        request.until_equals = *equals;
        request.until_within_s = u.number("within_s", 0.1, 600).value_or(30);
      }
      s.per_user_setup.push_back(std::move(request));
    }
  }

  if (const auto* baseline = top.table("baseline")) {
    only_keys(*baseline, "baseline.", {"kind", "when", "io_threads"});
    table_reader b{baseline, "baseline."};
    baseline_spec spec;
    auto kind = b.text("kind", 64);
    if (!kind) throw bad_key{"baseline.kind", "missing; e.g. \"ws_echo\""};
    const auto* info = find_baseline_kind(*kind);
    std::string implemented;
    for (const auto& k : baseline_kinds())
      if (k.implemented) implemented += (implemented.empty() ? "" : ", ") + quoted(k.kind);
    if (info == nullptr)
      throw bad_key{"baseline.kind", "unknown baseline " + quoted(*kind) + "; implemented: " + implemented};
    if (!info->implemented)
      throw bad_key{"baseline.kind", quoted(*kind) + " (" + std::string{info->what} +
                                         ") is not implemented yet; implemented: " + implemented};
    spec.kind = *kind;
    spec.before = b.choice("when", {"before", "after"}).value_or("before") == "before";
    spec.io_threads = static_cast<std::uint32_t>(b.integer("io_threads", 1, 64).value_or(2));
    s.baseline = spec;
  }

  if (const auto* chaos = top.table("chaos")) {
    only_keys(*chaos, "chaos.", {"domain", "action"});
    table_reader c{chaos, "chaos."};
    chaos_spec spec;
    auto domain = c.text("domain", 64);
    if (!domain || domain->empty()) throw bad_key{"chaos.domain", "missing; the domain to disturb"};
    spec.domain = *domain;
    auto action = c.choice("action", {"crash_loop"});
    if (!action) throw bad_key{"chaos.action", "missing; \"crash_loop\""};
    spec.action = *action;
    s.chaos = spec;
  }
  return s;
}

}  // namespace

std::string_view to_string(load_mode mode) noexcept {
  return mode == load_mode::open_loop ? "open" : "closed";
}

std::variant<scenario, scenario_error> parse_scenario(std::string_view toml_text,
                                                      std::string_view source_name) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    auto what = std::string{e.description()};
    if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    return scenario_error{fmt::format("scenario error: {}:{}:{}: {}", source_name,
                                      e.source().begin.line, e.source().begin.column, what)};
  }
  try {
    return read(doc, source_name);
  } catch (const bad_key& e) {
    return scenario_error{fmt::format("scenario error: {}: {}: {}", source_name, e.key, e.what)};
  }
}

std::variant<scenario, scenario_error> load_scenario(const std::string& path) {
  std::ifstream file{path, std::ios::binary};
  if (!file)
    return scenario_error{
        fmt::format("scenario error: {}: cannot read the file: {}", path, std::strerror(errno))};
  std::ostringstream text;
  text << file.rdbuf();
  return parse_scenario(text.str(), path);
}

}  // namespace superapp::bench
