// Field readers and schema fragments shared by every body_schema instantiation.
#include "protocols/ws/body.hpp"

#include <string>

namespace superapp::ws::detail {

std::string field_path::str() const {
  std::string out;
  out.reserve(prefix.size() + 1 + name.size());
  if (!prefix.empty()) {
    out.append(prefix);
    out.push_back('.');
  }
  out.append(name);
  return out;
}

std::size_t utf8_chars(std::string_view text) noexcept {
  // Boost.JSON has already validated the UTF-8, so counting lead bytes counts code points.
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0U) != 0x80U) ++n;
  return n;
}

namespace {

body_error field_error(field_path path, std::string_view what) {
  auto name = path.str();
  std::string message;
  message.reserve(name.size() + what.size() + 10);
  message.append("field \"").append(name).append("\" ").append(what);
  return body_error{std::move(name), std::move(message)};
}

}  // namespace

body_error missing_field(field_path path) {
  auto name = path.str();
  auto message = "missing field \"" + name + "\"";
  return body_error{std::move(name), std::move(message)};
}

body_error unknown_field(field_path path) {
  auto name = path.str();
  auto message = "unknown field \"" + name + "\"";
  return body_error{std::move(name), std::move(message)};
}

body_error wrong_type(field_path path, std::string_view expected_kind) {
  return field_error(path, "must be " + std::string{expected_kind});
}

std::optional<body_error> read_string(const boost::json::value& v, field_path path, min_length min,
                                      max_length max, std::string& out) {
  const auto* s = v.if_string();
  if (s == nullptr) return wrong_type(path, "a string");
  // Bytes bound code points from above, so the scan is only needed when bytes cannot decide.
  std::size_t chars = s->size();
  if (chars > max.chars || min.chars > 0) chars = utf8_chars(*s);
  if (chars > max.chars)
    return field_error(path, "is longer than " + std::to_string(max.chars) + " characters");
  if (chars < min.chars)
    return field_error(path, "is shorter than " + std::to_string(min.chars) + " characters");
  out.assign(s->data(), s->size());
  return std::nullopt;
}

std::optional<body_error> read_int64(const boost::json::value& v, field_path path, int_range range,
                                     std::int64_t& out) {
  auto out_of_range = [&] {
    return field_error(path, "must be between " + std::to_string(range.min_value) + " and " +
                                 std::to_string(range.max_value));
  };
  if (v.is_double())
    return field_error(path,
                       "must be an integer, not a floating-point number (integers such as "
                       "amounts in minor units never pass through double)");
  if (v.is_uint64()) return out_of_range();  // Boost.JSON only uses uint64 above int64's max
  if (!v.is_int64()) return wrong_type(path, "an integer");
  auto n = v.get_int64();
  if (n < range.min_value || n > range.max_value) return out_of_range();
  out = n;
  return std::nullopt;
}

std::optional<body_error> read_bool(const boost::json::value& v, field_path path, bool& out) {
  if (!v.is_bool()) return wrong_type(path, "true or false");
  out = v.get_bool();
  return std::nullopt;
}

boost::json::object string_schema(min_length min, max_length max) {
  boost::json::object schema;
  schema["type"] = "string";
  if (min.chars > 0) schema["minLength"] = static_cast<std::int64_t>(min.chars);
  schema["maxLength"] = static_cast<std::int64_t>(max.chars);
  return schema;
}

boost::json::object int64_schema(int_range range) {
  boost::json::object schema;
  schema["type"] = "integer";
  schema["minimum"] = range.min_value;
  schema["maximum"] = range.max_value;
  return schema;
}

boost::json::object bool_schema() {
  boost::json::object schema;
  schema["type"] = "boolean";
  return schema;
}

}  // namespace superapp::ws::detail
