// Structured logging: one JSON object (or one readable line) per record, through spdlog.
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "supervisors/node/secret.hpp"

namespace superapp::node {

enum class log_level { trace, debug, info, warn, error };
enum class log_format { json, text };

struct log_settings {
  log_level level = log_level::info;
  log_format format = log_format::json;
  std::string file;  // empty: stderr
};

std::string_view to_string(log_level level);
std::string_view to_string(log_format format);

// The formatter behind both formats. It is an spdlog::formatter rather than a pattern so that
// plain `spdlog::info("...")` calls anywhere in the code base also come out as valid JSON.
std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format);

// Makes the spdlog default logger write to settings.file (appending) or stderr. A file that
// cannot be opened is the only failure: the returned line names log.file and the reason, and
// the caller exits with status 2 as for any config error.
[[nodiscard]] std::optional<std::string> init_logging(const log_settings& settings);

// The same, onto a sink the caller made (tests use an ostream sink; the file is ignored).
void init_logging(const log_settings& settings, spdlog::sink_ptr sink);

}  // namespace superapp::node

namespace superapp::log {

// A field's value: text or an integer (amounts are integers in minor units; no doubles).
// A secret becomes "***" here, so its value is never even copied into the logging path.
class field_value {
 public:
  using variant = std::variant<std::string_view, std::int64_t, std::uint64_t, bool>;

  field_value(std::string_view text) : value_(text) {}
  field_value(const char* text) : value_(std::string_view{text}) {}
  field_value(const std::string& text) : value_(std::string_view{text}) {}
  field_value(const secret&) : value_(secret::redacted) {}
  field_value(bool flag) : value_(flag) {}
  template <std::signed_integral T>
  field_value(T number) : value_(static_cast<std::int64_t>(number)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) field_value(T number)
      : value_(static_cast<std::uint64_t>(number)) {}

  [[nodiscard]] const variant& get() const noexcept { return value_; }

 private:
  variant value_;
};

// Key and value refer to the caller's data: a field lives only for the call it is passed to.
struct field {
  std::string_view key;
  field_value value;
};

// Writes one record to the default logger with extra fields after ts, level and msg.
// Keys "ts", "level", "msg", "logger" and "src" are reserved; such a field is written as
// "field_<key>" so a record never holds one key twice. Fields come out only through the
// formatter of init_logging on a synchronous logger; elsewhere the message alone is written.
void write(spdlog::level::level_enum level, std::string_view msg, std::span<const field> fields);

inline void write(spdlog::level::level_enum level, std::string_view msg,
                  std::initializer_list<field> fields = {}) {
  write(level, msg, std::span<const field>{fields.begin(), fields.size()});
}

inline void trace(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(spdlog::level::trace, msg, fields);
}
inline void debug(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(spdlog::level::debug, msg, fields);
}
inline void info(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(spdlog::level::info, msg, fields);
}
inline void warn(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(spdlog::level::warn, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(spdlog::level::err, msg, fields);
}

}  // namespace superapp::log
