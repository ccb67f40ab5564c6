// Reads node.toml and SUPERAPP_* variables into node_config; every mistake is one error line.
#include "supervisors/node/node_config.hpp"

#include <fmt/format.h>
#include <sys/random.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "protocols/assert.hpp"

extern char** environ;

namespace superapp::node {
namespace {

constexpr std::string_view env_prefix = "SUPERAPP_";
constexpr std::size_t min_operator_token_bytes = 16;
constexpr std::int64_t max_duration_ms = 24LL * 60 * 60 * 1000;  // a day: larger is a typo
constexpr std::size_t max_quoted_bytes = 64;  // error lines stay one readable line

// One value as read: a TOML node from the file, or the text of an environment variable.
struct raw_value {
  const toml::node* toml = nullptr;
  std::string_view env_text;
};

// What is wrong with one value, e.g. `expected an integer from 0 to 65535, got "abc"`.
struct problem {
  std::string text;
};

// A value for an error line: quoted, control characters escaped, long text cut.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_quoted_bytes; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (text[i] == '"' || text[i] == '\\') {
      out += '\\';
      out += text[i];
    } else if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += text[i];
    }
  }
  if (text.size() > max_quoted_bytes) out += "...";
  out += '"';
  return out;
}

// How an unexpected value is named; a secret key's value is never echoed, only its kind.
std::string describe(const raw_value& value, bool is_secret) {
  if (value.toml == nullptr) return is_secret ? "a value that is not valid" : quote(value.env_text);
  const toml::node& n = *value.toml;
  if (auto s = n.as_string()) return is_secret ? "a string" : quote(s->get());
  if (is_secret) {
    if (n.is_integer()) return "an integer";
    if (n.is_floating_point()) return "a float";
    if (n.is_boolean()) return "a boolean";
  }
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  if (n.is_date()) return "a date";
  if (n.is_time()) return "a time";
  return "a date-time";
}

std::string join_quoted(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += quote(names[i]);
  }
  return out;
}

std::variant<std::int64_t, problem> read_integer(const raw_value& value, std::int64_t min,
                                                 std::int64_t max) {
  const auto expected = [&] { return fmt::format("expected an integer from {} to {}", min, max); };
  std::int64_t number = 0;
  if (value.toml != nullptr) {
    const auto* integer = value.toml->as_integer();
    if (integer == nullptr) return problem{expected() + ", got " + describe(value, false)};
    number = integer->get();
  } else {
    const std::string_view text = value.env_text;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      return problem{expected() + ", got " + describe(value, false)};
    }
  }
  if (number < min || number > max) return problem{expected() + ", got " + std::to_string(number)};
  return number;
}

std::variant<std::string, problem> read_string(const raw_value& value, bool is_secret) {
  if (value.toml == nullptr) return std::string{value.env_text};
  const auto* text = value.toml->as_string();
  if (text == nullptr) return problem{"expected a string, got " + describe(value, is_secret)};
  return text->get();
}

std::variant<std::size_t, problem> read_choice(const raw_value& value,
                                               const std::vector<std::string_view>& names) {
  auto text = read_string(value, false);
  if (std::holds_alternative<problem>(text)) {
    return problem{"expected one of " + join_quoted(names) + ", got " + describe(value, false)};
  }
  const std::string& chosen = std::get<std::string>(text);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == chosen) return i;
  }
  return problem{"expected one of " + join_quoted(names) + ", got " + quote(chosen)};
}

// A TOML boolean, or in the environment "true" / "false".
std::variant<bool, problem> read_boolean(const raw_value& value) {
  if (value.toml != nullptr) {
    if (const auto* b = value.toml->as_boolean()) return b->get();
  } else if (value.env_text == "true" || value.env_text == "false") {
    return value.env_text == "true";
  }
  return problem{"expected true or false, got " + describe(value, false)};
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> role_names() {
  std::vector<std::string_view> names;
  for (role r : all_roles) names.push_back(to_string(r));
  return names;
}

// A TOML array of strings, or in the environment a comma-separated list ("banking,kyc").
std::variant<std::vector<std::string>, problem> read_string_list(const raw_value& value,
                                                                 const std::string& expected) {
  std::vector<std::string> items;
  if (value.toml != nullptr) {
    const auto* array = value.toml->as_array();
    if (array == nullptr) return problem{expected + ", got " + describe(value, false)};
    for (const toml::node& element : *array) {
      const auto* text = element.as_string();
      if (text == nullptr) {
        return problem{expected + ", got an element " + describe(raw_value{&element, {}}, false)};
      }
      items.push_back(text->get());
    }
  } else if (!trim(value.env_text).empty()) {
    std::string_view rest = value.env_text;
    while (true) {
      const std::size_t comma = rest.find(',');
      items.emplace_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return items;
}

// CPU indices: a TOML array of integers 0..1023, or in the environment "1,3"; none repeated.
std::variant<std::vector<int>, problem> read_cpu_list(const raw_value& value) {
  const std::string expected = "expected a list of CPU numbers from 0 to 1023";
  std::vector<raw_value> items;
  std::vector<std::string> env_items;
  if (value.toml != nullptr) {
    const auto* array = value.toml->as_array();
    if (array == nullptr) return problem{expected + ", got " + describe(value, false)};
    for (const toml::node& element : *array) items.push_back(raw_value{&element, {}});
  } else if (!trim(value.env_text).empty()) {
    auto read = read_string_list(value, expected);
    if (auto* p = std::get_if<problem>(&read)) return *p;
    env_items = std::get<std::vector<std::string>>(read);
    for (const auto& text : env_items) items.push_back(raw_value{nullptr, text});
  }
  std::vector<int> cpus;
  for (const auto& item : items) {
    auto read = read_integer(item, 0, 1023);
    if (auto* p = std::get_if<problem>(&read)) return problem{expected + ": " + p->text};
    const int cpu = static_cast<int>(std::get<std::int64_t>(read));
    if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end())
      return problem{"CPU " + std::to_string(cpu) + " is listed twice"};
    cpus.push_back(cpu);
  }
  return cpus;
}

std::variant<std::vector<role>, problem> read_roles(const raw_value& value) {
  const std::vector<std::string_view> names = role_names();
  const std::string expected = "expected a list of roles from " + join_quoted(names);
  auto read = read_string_list(value, expected);
  if (auto* p = std::get_if<problem>(&read)) return *p;
  const auto& items = std::get<std::vector<std::string>>(read);
  std::vector<role> roles;
  for (const std::string& item : items) {
    const auto found = std::find(names.begin(), names.end(), item);
    if (found == names.end()) return problem{expected + ", got " + quote(item)};
    const role r = all_roles[static_cast<std::size_t>(found - names.begin())];
    if (std::find(roles.begin(), roles.end(), r) != roles.end()) {
      return problem{"role " + quote(item) + " is listed twice"};
    }
    roles.push_back(r);
  }
  return roles;
}

using apply_fn = std::function<std::optional<std::string>(node_config&, const raw_value&)>;

// One key of the schema: where it lives and how a value becomes part of node_config.
struct setting {
  std::string_view section;
  std::string_view key;
  apply_fn apply;
};

template <typename Set>
setting integer_setting(std::string_view section, std::string_view key, std::int64_t min,
                        std::int64_t max, Set set) {
  return {section, key, [=](node_config& config, const raw_value& value) {
            auto read = read_integer(value, min, max);
            if (auto* p = std::get_if<problem>(&read)) return std::optional<std::string>{p->text};
            set(config, std::get<std::int64_t>(read));
            return std::optional<std::string>{};
          }};
}

// Non-empty text without control characters (names, addresses, paths).
template <typename Set>
setting text_setting(std::string_view section, std::string_view key, bool allow_empty, Set set) {
  return {section, key, [=](node_config& config, const raw_value& value) {
            auto read = read_string(value, false);
            if (auto* p = std::get_if<problem>(&read)) return std::optional<std::string>{p->text};
            const std::string& text = std::get<std::string>(read);
            const bool has_control = std::any_of(text.begin(), text.end(), [](char c) {
              return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
            });
            if ((text.empty() && !allow_empty) || has_control) {
              return std::optional<std::string>{
                  std::string{allow_empty ? "expected a string without control characters"
                                          : "expected a non-empty string without control "
                                            "characters"} +
                  ", got " + quote(text)};
            }
            set(config, text);
            return std::optional<std::string>{};
          }};
}

// Empty means "not set" (the example file leaves secrets to the environment); the cross-key
// checks decide whether it is required.
template <typename Set>
setting secret_setting(std::string_view section, std::string_view key, std::size_t min_bytes,
                       Set set) {
  return {section, key, [=](node_config& config, const raw_value& value) {
            auto read = read_string(value, true);
            if (auto* p = std::get_if<problem>(&read)) return std::optional<std::string>{p->text};
            std::string& text = std::get<std::string>(read);
            if (!text.empty() && text.size() < min_bytes) {
              return std::optional<std::string>{fmt::format(
                  "expected a secret of at least {} characters, got a shorter one", min_bytes)};
            }
            set(config, secret{std::move(text)});
            return std::optional<std::string>{};
          }};
}

template <typename Set>
setting choice_setting(std::string_view section, std::string_view key,
                       std::vector<std::string_view> names, Set set) {
  return {section, key, [=](node_config& config, const raw_value& value) {
            auto read = read_choice(value, names);
            if (auto* p = std::get_if<problem>(&read)) return std::optional<std::string>{p->text};
            set(config, std::get<std::size_t>(read));
            return std::optional<std::string>{};
          }};
}

// The schema, in the order of the README's table. Limits are explicit so a typo (an extra
// zero, a negative number) stops start-up instead of starving or flooding the node.
const std::vector<setting>& schema() {
  static const std::vector<setting> all = [] {
    std::vector<setting> s;
    s.push_back(text_setting("node", "name", false,
                             [](node_config& c, const std::string& v) { c.node.name = v; }));
    s.push_back({"node", "roles", [](node_config& c, const raw_value& value) {
                   auto read = read_roles(value);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   c.node.roles = std::get<std::vector<role>>(read);
                   return std::optional<std::string>{};
                 }});
    s.push_back(text_setting("node", "data_dir", false,
                             [](node_config& c, const std::string& v) { c.node.data_dir = v; }));
    s.push_back(integer_setting("node", "scheduler_threads", 0, 1024, [](node_config& c, auto v) {
      c.node.scheduler_threads = static_cast<std::size_t>(v);
    }));
    s.push_back(integer_setting("node", "scheduler_idle_polls", 0, 100000, [](node_config& c, auto v) {
      c.node.scheduler_idle_polls = static_cast<std::size_t>(v);
    }));
    s.push_back(text_setting("node", "internal_key_file", true, [](node_config& c, const std::string& v) {
      c.node.internal_key_file = v;
    }));
    s.push_back(text_setting("cluster", "bind", false,
                             [](node_config& c, const std::string& v) { c.cluster.bind = v; }));
    s.push_back({"cluster", "publish", [](node_config& c, const raw_value& value) {
                   auto read = read_boolean(value);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   c.cluster.publish = std::get<bool>(read);
                   return std::optional<std::string>{};
                 }});
    s.push_back(integer_setting("cluster", "port", 0, 65535, [](node_config& c, auto v) {
      c.cluster.port = static_cast<std::uint16_t>(v);
    }));
    s.push_back({"cluster", "peers", [](node_config& c, const raw_value& value) {
                   const std::string expected =
                       "expected a list of \"host:port\" peers (port 1..65535)";
                   auto read = read_string_list(value, expected);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   std::vector<cluster_peer> peers;
                   for (const auto& item : std::get<std::vector<std::string>>(read)) {
                     const auto colon = item.rfind(':');
                     std::int64_t port = 0;
                     if (colon != std::string::npos && colon > 0) {
                       const auto digits = std::string_view{item}.substr(colon + 1);
                       const auto [end, ec] =
                           std::from_chars(digits.data(), digits.data() + digits.size(), port);
                       if (ec != std::errc{} || end != digits.data() + digits.size()) port = 0;
                     }
                     if (port < 1 || port > 65535)
                       return std::optional<std::string>{expected + ", got " + quote(item)};
                     peers.push_back({item.substr(0, colon), static_cast<std::uint16_t>(port)});
                   }
                   c.cluster.peers = std::move(peers);
                   return std::optional<std::string>{};
                 }});

    s.push_back(choice_setting(
        "log", "level", {"trace", "debug", "info", "warn", "error"},
        [](node_config& c, std::size_t i) { c.log.level = static_cast<log_level>(i); }));
    s.push_back(choice_setting(
        "log", "format", {"json", "text"},
        [](node_config& c, std::size_t i) { c.log.format = static_cast<log_format>(i); }));
    s.push_back(text_setting("log", "file", true,
                             [](node_config& c, const std::string& v) { c.log.file = v; }));

    s.push_back(text_setting("admin", "bind", false,
                             [](node_config& c, const std::string& v) { c.admin.bind = v; }));
    s.push_back(integer_setting("admin", "port", 0, 65535, [](node_config& c, auto v) {
      c.admin.port = static_cast<std::uint16_t>(v);
    }));
    s.push_back(secret_setting("admin", "operator_token", min_operator_token_bytes,
                               [](node_config& c, secret v) { c.admin.operator_token = v; }));
    s.push_back(integer_setting("admin", "io_threads", 1, 64, [](node_config& c, auto v) {
      c.admin.io_threads = static_cast<std::size_t>(v);
    }));
    s.push_back(text_setting("admin", "operators_file", true, [](node_config& c, const std::string& v) {
      c.admin.operators_file = v;
    }));
    s.push_back({"admin", "peers", [](node_config& c, const raw_value& value) {
                   const std::string expected = "expected a list of \"http://HOST:PORT\" URLs";
                   auto read = read_string_list(value, expected);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   auto urls = std::get<std::vector<std::string>>(read);
                   for (const auto& url : urls)
                     if (!url.starts_with("http://") || url.size() <= 7)
                       return std::optional<std::string>{expected + ", got " + quote(url)};
                   c.admin.peers = std::move(urls);
                   return std::optional<std::string>{};
                 }});

    s.push_back({"gateway", "enabled", [](node_config& c, const raw_value& value) {
                   auto read = read_boolean(value);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   c.gateway.enabled = std::get<bool>(read);
                   return std::optional<std::string>{};
                 }});
    s.push_back(text_setting("gateway", "bind", false,
                             [](node_config& c, const std::string& v) { c.gateway.bind = v; }));
    s.push_back(integer_setting("gateway", "port", 0, 65535, [](node_config& c, auto v) {
      c.gateway.port = static_cast<std::uint16_t>(v);
    }));
    s.push_back(integer_setting("gateway", "io_threads", 1, 64, [](node_config& c, auto v) {
      c.gateway.io_threads = static_cast<std::size_t>(v);
    }));
    s.push_back(text_setting("gateway", "token_issuer", false, [](node_config& c, const std::string& v) {
      c.gateway.token_issuer = v;
    }));
    s.push_back(text_setting("gateway", "token_audience", false, [](node_config& c, const std::string& v) {
      c.gateway.token_audience = v;
    }));
    s.push_back(text_setting("gateway", "jwks_file", true,
                             [](node_config& c, const std::string& v) { c.gateway.jwks_file = v; }));
    s.push_back(text_setting("gateway", "tls_cert_file", true, [](node_config& c, const std::string& v) {
      c.gateway.tls_cert_file = v;
    }));
    s.push_back(text_setting("gateway", "tls_key_file", true, [](node_config& c, const std::string& v) {
      c.gateway.tls_key_file = v;
    }));
    s.push_back(integer_setting("gateway", "user_burst", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.user_burst = v; }));
    s.push_back(integer_setting("gateway", "user_rate_per_s", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.user_rate_per_s = v; }));
    s.push_back(integer_setting("gateway", "device_burst", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.device_burst = v; }));
    s.push_back(integer_setting("gateway", "device_rate_per_s", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.device_rate_per_s = v; }));
    s.push_back(integer_setting("gateway", "address_burst", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.address_burst = v; }));
    s.push_back(integer_setting("gateway", "address_rate_per_s", 1, 1'000'000,
                                [](node_config& c, auto v) { c.gateway.address_rate_per_s = v; }));

    s.push_back(choice_setting(
        "persistence", "engine", {"sqlite", "postgres"}, [](node_config& c, std::size_t i) {
          c.persistence.engine =
              i == 0 ? persistence::engine::sqlite : persistence::engine::postgres;
        }));
    s.push_back(text_setting(
        "persistence", "sqlite_directory", false,
        [](node_config& c, const std::string& v) { c.persistence.sqlite_directory = v; }));
    s.push_back(secret_setting("persistence", "postgres_conninfo", 1, [](node_config& c, secret v) {
      c.persistence.postgres_conninfo = v;
    }));
    s.push_back(choice_setting("persistence", "postgres_layout",
                               {"schema_per_domain", "database_per_domain"},
                               [](node_config& c, std::size_t i) {
                                 c.persistence.postgres_layout =
                                     i == 0 ? persistence::pg_domain_layout::schema_per_domain
                                            : persistence::pg_domain_layout::database_per_domain;
                               }));
    s.push_back(
        integer_setting("persistence", "reader_connections", 1, 256, [](node_config& c, auto v) {
          c.persistence.reader_connections = static_cast<std::size_t>(v);
        }));
    s.push_back(integer_setting("persistence", "busy_timeout_ms", 1, max_duration_ms,
                                [](node_config& c, auto v) { c.persistence.busy_timeout_ms = v; }));
    s.push_back(
        integer_setting("persistence", "max_batch_units", 1, 1'000'000, [](node_config& c, auto v) {
          c.persistence.max_batch_units = static_cast<std::size_t>(v);
        }));

    s.push_back(integer_setting("supervision", "max_restarts", 0, 1'000'000,
                                [](node_config& c, auto v) { c.supervision.max_restarts = v; }));
    s.push_back(integer_setting("supervision", "period_ms", 1, max_duration_ms,
                                [](node_config& c, auto v) { c.supervision.period_ms = v; }));
    s.push_back(
        integer_setting("supervision", "backoff_initial_ms", 0, max_duration_ms,
                        [](node_config& c, auto v) { c.supervision.backoff_initial_ms = v; }));
    s.push_back(integer_setting("supervision", "backoff_max_ms", 0, max_duration_ms,
                                [](node_config& c, auto v) { c.supervision.backoff_max_ms = v; }));
    s.push_back(
        integer_setting("supervision", "backoff_jitter_percent", 0, 100,
                        [](node_config& c, auto v) { c.supervision.backoff_jitter_percent = v; }));
    s.push_back(
        integer_setting("supervision", "shutdown_timeout_ms", 1, max_duration_ms,
                        [](node_config& c, auto v) { c.supervision.shutdown_timeout_ms = v; }));

    s.push_back(
        integer_setting("admission", "front_door_credits", 1, 1'000'000,
                        [](node_config& c, auto v) { c.admission.front_door_credits = v; }));

    s.push_back(text_setting("identity", "sms_url", true,
                             [](node_config& c, const std::string& v) { c.identity.sms_url = v; }));
    s.push_back(text_setting("identity", "tiers_file", true, [](node_config& c, const std::string& v) {
      c.identity.tiers_file = v;
    }));
    s.push_back(text_setting("identity", "partners_file", true,
                             [](node_config& c, const std::string& v) { c.identity.partners_file = v; }));
    s.push_back(text_setting("identity", "storage_key_file", true, [](node_config& c, const std::string& v) {
      c.identity.storage_key_file = v;
    }));
    s.push_back(choice_setting("identity", "hashing_priority", {"normal", "low", "idle"},
                               [](node_config& c, std::size_t i) {
                                 c.identity.hashing = static_cast<hashing_priority>(i);
                               }));

    s.push_back({"identity", "hashing_cpus", [](node_config& c, const raw_value& value) {
                   auto read = read_cpu_list(value);
                   if (auto* p = std::get_if<problem>(&read))
                     return std::optional<std::string>{p->text};
                   c.identity.hashing_cpus = std::get<std::vector<int>>(read);
                   return std::optional<std::string>{};
                 }});

    s.push_back(text_setting("kyc", "provider_url", true,
                             [](node_config& c, const std::string& v) { c.kyc.provider_url = v; }));
    s.push_back(text_setting("kyc", "webhook_secret_file", true,
                             [](node_config& c, const std::string& v) { c.kyc.webhook_secret_file = v; }));
    s.push_back(text_setting("kyc", "levels_file", true,
                             [](node_config& c, const std::string& v) { c.kyc.levels_file = v; }));

    s.push_back(text_setting("banking", "bank_url", true,
                             [](node_config& c, const std::string& v) { c.banking.bank_url = v; }));
    s.push_back(text_setting("banking", "bank_webhook_secret_file", true, [](node_config& c, const std::string& v) {
      c.banking.bank_webhook_secret_file = v;
    }));
    s.push_back(integer_setting("banking", "recent_transfer_ids", 0, 100'000'000,
                                [](node_config& c, auto v) { c.banking.recent_transfer_ids = v; }));
    s.push_back(integer_setting("banking", "commits_in_flight", 0, 2,
                                [](node_config& c, auto v) { c.banking.commits_in_flight = v; }));

    s.push_back(choice_setting(
        "bus", "kind", {"local", "kafka"},
        [](node_config& c, std::size_t i) { c.bus.kind = static_cast<bus_kind>(i); }));
    s.push_back(
        text_setting("bus", "kafka_brokers", true,
                     [](node_config& c, const std::string& v) { c.bus.kafka_brokers = v; }));
    s.push_back(integer_setting("bus", "kafka_partitions", 1, 1024,
                                [](node_config& c, auto v) { c.bus.kafka_partitions = v; }));
    s.push_back(
        integer_setting("bus", "kafka_replication_factor", 1, 32,
                        [](node_config& c, auto v) { c.bus.kafka_replication_factor = v; }));
    // Up to the outbox's retention (24 h); the cap under the bus's ring (4096 per topic).
    s.push_back(integer_setting("bus", "refill_window_s", 0, 86400,
                                [](node_config& c, auto v) { c.bus.refill_window_s = v; }));
    s.push_back(integer_setting("bus", "refill_max_events", 1, 4096,
                                [](node_config& c, auto v) { c.bus.refill_max_events = v; }));
    return s;
  }();
  return all;
}

std::vector<std::string_view> section_names() {
  std::vector<std::string_view> names;
  for (const setting& s : schema()) {
    if (std::find(names.begin(), names.end(), s.section) == names.end()) {
      names.push_back(s.section);
    }
  }
  return names;
}

std::vector<std::string_view> key_names(std::string_view section) {
  std::vector<std::string_view> names;
  for (const setting& s : schema()) {
    if (s.section == section) names.push_back(s.key);
  }
  return names;
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

const setting* find_setting(std::string_view section, std::string_view key) {
  for (const setting& s : schema()) {
    if (s.section == section && s.key == key) return &s;
  }
  return nullptr;
}

std::string upper(std::string_view text) {
  std::string out{text};
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string env_name(std::string_view section, std::string_view key) {
  return std::string{env_prefix} + upper(section) + "_" + upper(key);
}

config_error error_line(std::string_view where, std::string_view key, std::string_view what) {
  return {fmt::format("config error: {}: {}: {}", where, key, what)};
}

std::string dotted(std::string_view section, std::string_view key) {
  return fmt::format("{}.{}", section, key);
}

std::string default_sqlite_directory(const std::string& data_dir) {
  return (std::filesystem::path{data_dir} / "db").string();
}

// Where each key got its value, so that a check spanning keys can name the right place.
using origins = std::map<std::string, std::string, std::less<>>;

std::string where_set(const origins& from, std::string_view key, std::string_view fallback) {
  const auto found = from.find(key);
  return found == from.end() ? std::string{fallback} : found->second;
}

// Checks that span keys, after file and environment have both had their say.
std::optional<config_error> check_whole(const node_config& config, const origins& from,
                                        std::string_view base_name) {
  if (config.admin.operator_token.empty()) {
    return error_line(
        where_set(from, "admin.operator_token", base_name), "admin.operator_token",
        "required in node mode; set it in the file or in " + env_name("admin", "operator_token"));
  }
  if (config.persistence.engine == persistence::engine::postgres &&
      config.persistence.postgres_conninfo.empty()) {
    return error_line(where_set(from, "persistence.postgres_conninfo", base_name),
                      "persistence.postgres_conninfo",
                      "required when persistence.engine is \"postgres\"; set it in the file or "
                      "in " +
                          env_name("persistence", "postgres_conninfo"));
  }
  if (config.bus.kind == bus_kind::kafka && config.bus.kafka_brokers.empty()) {
    return error_line(where_set(from, "bus.kafka_brokers", base_name), "bus.kafka_brokers",
                      "required when bus.kind is \"kafka\"");
  }
  if (config.gateway.tls_cert_file.empty() != config.gateway.tls_key_file.empty()) {
    const char* missing =
        config.gateway.tls_cert_file.empty() ? "gateway.tls_cert_file" : "gateway.tls_key_file";
    return error_line(where_set(from, missing, base_name), missing,
                      "gateway.tls_cert_file and gateway.tls_key_file go together");
  }
  if (config.supervision.backoff_max_ms < config.supervision.backoff_initial_ms) {
    return error_line(where_set(from, "supervision.backoff_max_ms", base_name),
                      "supervision.backoff_max_ms",
                      fmt::format("expected an integer from {} (backoff_initial_ms) to {}, got {}",
                                  config.supervision.backoff_initial_ms, max_duration_ms,
                                  config.supervision.backoff_max_ms));
  }
  return std::nullopt;
}

// Applies SUPERAPP_<SECTION>_<KEY> variables. Variables whose section part is not one of ours
// (SUPERAPP_TEST_ENGINE, ...) belong to someone else and are left alone; an unknown key in one
// of our sections is a typo and stops start-up like an unknown key in the file.
std::optional<config_error> apply_env(node_config& config, const environment& env, origins& from) {
  const std::vector<std::string_view> sections = section_names();
  for (const auto& [name, text] : env) {
    if (!name.starts_with(env_prefix)) continue;
    const std::string_view rest = std::string_view{name}.substr(env_prefix.size());
    for (std::string_view section : sections) {
      const std::string section_prefix = upper(section) + "_";
      if (!rest.starts_with(section_prefix)) continue;
      const std::string_view key_part = rest.substr(section_prefix.size());
      const std::string where = "environment variable " + name;
      const setting* found = nullptr;
      for (const setting& s : schema()) {
        if (s.section == section && upper(s.key) == key_part) found = &s;
      }
      if (found == nullptr) {
        std::string key{key_part};
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return error_line(
            where, dotted(section, key),
            fmt::format("unknown key; [{}] has {}", section, join(key_names(section))));
      }
      if (auto p = found->apply(config, raw_value{nullptr, text})) {
        return error_line(where, dotted(section, found->key), *p);
      }
      from[dotted(section, found->key)] = where;
      break;
    }
  }
  return std::nullopt;
}

config_result finish(node_config config, const environment& env, origins from,
                     std::string_view base_name, bool sqlite_directory_given) {
  if (auto e = apply_env(config, env, from)) return *e;
  // The SQLite files follow the data directory unless placed explicitly.
  if (!sqlite_directory_given && !from.contains("persistence.sqlite_directory")) {
    config.persistence.sqlite_directory = default_sqlite_directory(config.node.data_dir);
  }
  if (auto e = check_whole(config, from, base_name)) return *e;
  return config;
}

std::string first_line(std::string_view text) {
  return std::string{text.substr(0, text.find('\n'))};
}

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t got = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    SUPERAPP_ASSERT(got > 0);  // getrandom only fails on kernels older than 3.17
    filled += static_cast<std::size_t>(got);
  }
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  return token;
}

}  // namespace

std::string_view to_string(role r) {
  switch (r) {
    case role::identity:
      return "identity";
    case role::kyc:
      return "kyc";
    case role::banking:
      return "banking";
    case role::billers:
      return "billers";
    case role::rewards:
      return "rewards";
    case role::ecommerce:
      return "ecommerce";
    case role::notifications:
      return "notifications";
    case role::events:
      return "events";
  }
  ::superapp::assertion_failed("role is one of all_roles", __FILE__, __LINE__);
}

std::string_view to_string(bus_kind kind) { return kind == bus_kind::local ? "local" : "kafka"; }

const node_config& config_result::value() const& {
  SUPERAPP_ASSERT(ok());
  return std::get<node_config>(state_);
}

node_config&& config_result::value() && {
  SUPERAPP_ASSERT(ok());
  return std::get<node_config>(std::move(state_));
}

const config_error& config_result::error() const {
  SUPERAPP_ASSERT(!ok());
  return std::get<config_error>(state_);
}

environment process_environment() {
  environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text{*entry};
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string{text.substr(0, equals)}, std::string{text.substr(equals + 1)});
  }
  return env;
}

std::string operators_file(const node_config& config) {
  if (!config.admin.operators_file.empty()) return config.admin.operators_file;
  return (std::filesystem::path{config.node.data_dir} / "operators").string();
}

node_config embedded_defaults(std::string data_dir) {
  node_config config;
  config.persistence.sqlite_directory = default_sqlite_directory(data_dir);
  config.node.data_dir = std::move(data_dir);
  config.admin.operator_token = secret{random_token()};
  return config;
}

config_result parse_node_config(std::string_view toml_text, std::string_view source_name,
                                const environment& env) {
  toml::table document;
  try {
    document = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const toml::source_position begin = e.source().begin;
    return config_error{fmt::format("config error: {}:{}:{}: {}", source_name, begin.line,
                                    begin.column, first_line(e.description()))};
  }

  // Unknown names first, so a typo is reported as a typo rather than as a missing value.
  for (const auto& [section, node] : document) {
    const std::string_view section_name = section.str();
    if (key_names(section_name).empty()) {
      return error_line(source_name, section_name,
                        "unknown section; known sections are " + join(section_names()));
    }
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return error_line(source_name, section_name,
                        "expected a table [" + std::string{section_name} + "], got " +
                            describe(raw_value{&node, {}}, false));
    }
    for (const auto& [key, value] : *table) {
      if (find_setting(section_name, key.str()) == nullptr) {
        return error_line(
            source_name, dotted(section_name, key.str()),
            fmt::format("unknown key; [{}] has {}", section_name, join(key_names(section_name))));
      }
    }
  }

  node_config config;
  origins from;
  const std::string where{source_name};
  for (const setting& s : schema()) {
    const toml::node* value = document[s.section][s.key].node();
    if (value == nullptr) continue;
    if (auto p = s.apply(config, raw_value{value, {}})) {
      return error_line(source_name, dotted(s.section, s.key), *p);
    }
    from[dotted(s.section, s.key)] = where;
  }
  return finish(std::move(config), env, std::move(from), source_name, false);
}

config_result load_node_config(const std::string& path, const environment& env) {
  std::ifstream file{path, std::ios::binary};
  if (!file) {
    return config_error{
        fmt::format("config error: {}: cannot read the file: {}", path, std::strerror(errno))};
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return config_error{fmt::format("config error: {}: cannot read the file", path)};
  }
  return parse_node_config(text.str(), path, env);
}

config_result apply_environment(node_config base, const environment& env,
                                std::string_view base_name) {
  const bool sqlite_directory_given =
      base.persistence.sqlite_directory != default_sqlite_directory(base.node.data_dir);
  return finish(std::move(base), env, origins{}, base_name, sqlite_directory_given);
}

std::size_t effective_scheduler_threads(const node_config& config) {
  if (config.node.scheduler_threads != 0) return config.node.scheduler_threads;
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

persistence::database_config to_database_config(const node_config& config) {
  persistence::database_config db;
  db.engine_kind = config.persistence.engine;
  db.sqlite_directory = config.persistence.sqlite_directory;
  db.pg_conninfo = config.persistence.postgres_conninfo.reveal();
  db.pg_layout = config.persistence.postgres_layout;
  db.reader_connections = config.persistence.reader_connections;
  db.busy_timeout_ms = config.persistence.busy_timeout_ms;
  db.max_batch_units = config.persistence.max_batch_units;
  return db;
}

}  // namespace superapp::node
