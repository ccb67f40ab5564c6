// JSON-lines and text formatters for spdlog, the default logger set-up, and structured fields.
#include "supervisors/node/logging.hpp"

#include <fmt/format.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <chrono>
#include <ctime>

namespace superapp::node {
namespace {

// The record log::write is in the middle of on this thread. spdlog's log_msg carries only the
// text, so the fields travel beside it; the formatter takes them only for the very payload
// they were written with, so a plain spdlog call can never pick up someone else's fields.
struct pending_record {
  const char* payload_data;
  std::size_t payload_size;
  std::span<const log::field> fields;
};
thread_local const pending_record* current_record = nullptr;

std::span<const log::field> fields_of(const spdlog::details::log_msg& msg) {
  const pending_record* record = current_record;
  if (record == nullptr || record->payload_data != msg.payload.data() ||
      record->payload_size != msg.payload.size()) {
    return {};
  }
  return record->fields;
}

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one. Checked
// because one stray byte (a truncated name, binary in an error text) would make the whole
// line unparsable for the log pipeline.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

// Replaces each invalid byte with U+FFFD; returns the input untouched (no copy) when valid.
std::string_view valid_utf8(std::string_view text, std::string& storage) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) break;
    i += length;
  }
  if (i == text.size()) return text;
  storage.assign(text.substr(0, i));
  while (i < text.size()) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      storage.append("\xEF\xBF\xBD");
      ++i;
    } else {
      storage.append(text.substr(i, length));
      i += length;
    }
  }
  return storage;
}

// Quotes and escapes with boost::json so quotes, backslashes and control characters are right.
void append_json_string(spdlog::memory_buf_t& dest, std::string_view text) {
  std::string storage;
  const std::string_view valid = valid_utf8(text, storage);
  append(dest, boost::json::serialize(boost::json::string_view{valid.data(), valid.size()}));
}

bool is_reserved_key(std::string_view key) {
  return key == "ts" || key == "level" || key == "msg" || key == "logger" || key == "src";
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// 2026-11-25T16:00:00.123Z: UTC with milliseconds, sortable as text.
void append_timestamp(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, millis.count());
}

std::string source_text(const spdlog::source_loc& source) {
  return fmt::format("{}:{}", source.filename, source.line);
}

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, R"({"ts":")");
    append_timestamp(dest, msg.time);
    append(dest, R"(","level":")");
    append(dest, level_name(msg.level));
    append(dest, R"(","msg":)");
    append_json_string(dest, {msg.payload.data(), msg.payload.size()});
    if (msg.logger_name.size() > 0) {
      append(dest, R"(,"logger":)");
      append_json_string(dest, {msg.logger_name.data(), msg.logger_name.size()});
    }
    if (!msg.source.empty()) {
      append(dest, R"(,"src":)");
      append_json_string(dest, source_text(msg.source));
    }
    for (const log::field& f : fields_of(msg)) {
      append(dest, ",");
      append_json_string(
          dest, is_reserved_key(f.key) ? "field_" + std::string{f.key} : std::string{f.key});
      append(dest, ":");
      std::visit(
          [&](const auto& value) {
            using type = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<type, std::string_view>) {
              append_json_string(dest, value);
            } else if constexpr (std::is_same_v<type, bool>) {
              append(dest, value ? "true" : "false");
            } else {
              fmt::format_to(std::back_inserter(dest), "{}", value);
            }
          },
          f.value.get());
    }
    append(dest, "}\n");
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

// Control characters are escaped even for people: one record stays one line, so a message
// carrying a newline cannot forge a second record.
void append_escaped_line(spdlog::memory_buf_t& dest, std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      append(dest, "\\n");
    } else if (c == '\r') {
      append(dest, "\\r");
    } else if (c == '\t') {
      append(dest, "\\t");
    } else if (byte < 0x20 || byte == 0x7F) {
      fmt::format_to(std::back_inserter(dest), "\\x{:02x}", byte);
    } else {
      dest.push_back(c);
    }
  }
}

bool needs_quotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || byte < 0x20 || byte == 0x7F) return true;
  }
  return false;
}

// 2026-11-25T16:00:00.123Z info  transfer posted trace_id=ab12 amount_minor=100
class text_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_timestamp(dest, msg.time);
    fmt::format_to(std::back_inserter(dest), " {:<5} ", level_name(msg.level));
    if (msg.logger_name.size() > 0) {
      append(dest, "[");
      append_escaped_line(dest, {msg.logger_name.data(), msg.logger_name.size()});
      append(dest, "] ");
    }
    append_escaped_line(dest, {msg.payload.data(), msg.payload.size()});
    for (const log::field& f : fields_of(msg)) {
      append(dest, " ");
      append_escaped_line(dest, f.key);
      append(dest, "=");
      std::visit(
          [&](const auto& value) {
            using type = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<type, std::string_view>) {
              if (needs_quotes(value)) {
                append_json_string(dest, value);
              } else {
                append(dest, value);
              }
            } else if constexpr (std::is_same_v<type, bool>) {
              append(dest, value ? "true" : "false");
            } else {
              fmt::format_to(std::back_inserter(dest), "{}", value);
            }
          },
          f.value.get());
    }
    if (!msg.source.empty()) {
      append(dest, " (");
      append(dest, source_text(msg.source));
      append(dest, ")");
    }
    append(dest, "\n");
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<text_formatter>();
  }
};

spdlog::level::level_enum to_spdlog(log_level level) {
  switch (level) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

std::string_view to_string(log_level level) {
  switch (level) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "info";
}

std::string_view to_string(log_format format) {
  return format == log_format::json ? "json" : "text";
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format) {
  if (format == log_format::json) return std::make_unique<json_formatter>();
  return std::make_unique<text_formatter>();
}

void init_logging(const log_settings& settings, spdlog::sink_ptr sink) {
  // Synchronous on purpose: structured fields reach the formatter on the caller's thread.
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  logger->set_formatter(make_log_formatter(settings.format));
  logger->set_level(to_spdlog(settings.level));
  // Warnings and errors reach the file before a crash can lose them; chatter may be buffered.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

std::optional<std::string> init_logging(const log_settings& settings) {
  spdlog::sink_ptr sink;
  if (settings.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.file);
    } catch (const spdlog::spdlog_ex& e) {
      return fmt::format("config error: log.file: cannot open \"{}\": {}", settings.file, e.what());
    }
  }
  init_logging(settings, std::move(sink));
  return std::nullopt;
}

}  // namespace superapp::node

namespace superapp::log {

void write(spdlog::level::level_enum level, std::string_view msg, std::span<const field> fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  const node::pending_record record{msg.data(), msg.size(), fields};
  const node::pending_record* outer = node::current_record;
  node::current_record = &record;
  // spdlog reports its own failures to its error handler and does not throw out of log().
  logger->log(spdlog::source_loc{}, level, spdlog::string_view_t{msg.data(), msg.size()});
  node::current_record = outer;
}

}  // namespace superapp::log
