// Declarative, exact decoding of JSON object bodies into typed structs, and their JSON Schema.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/assert.hpp"
#include "protocols/ws/expected.hpp"

namespace superapp::ws {

// Why a body was refused: the field at fault (dotted path, e.g. "payee.name"; empty when the
// body as a whole is wrong) and a message that is exact and safe to send to the client.
struct body_error {
  std::string field;
  std::string message;
};

template <class T>
using expected_body = expected<T, body_error>;

// Limits. Lengths count Unicode code points, as JSON Schema's maxLength does.
struct max_length {
  std::size_t chars;
};
struct min_length {
  std::size_t chars = 0;
};
// At most this many items in a list field.
struct max_items {
  std::size_t items;
};
struct int_range {
  std::int64_t min_value = std::numeric_limits<std::int64_t>::min();
  std::int64_t max_value = std::numeric_limits<std::int64_t>::max();
};

// A body's rules without its C++ type: what the op catalogue keeps for every op. `validate`
// takes the body's path in the frame ("body") so errors name the field as the client sees it.
struct body_shape {
  std::function<std::optional<body_error>(const boost::json::object&, std::string_view prefix)>
      validate;
  boost::json::object json_schema;
};

namespace detail {

// Where a field sits; the dotted string is only built when there is an error to report.
struct field_path {
  std::string_view prefix;
  std::string_view name;
  std::string str() const;
};

std::size_t utf8_chars(std::string_view text) noexcept;
body_error missing_field(field_path path);
body_error unknown_field(field_path path);
body_error wrong_type(field_path path, std::string_view expected_kind);
std::optional<body_error> read_string(const boost::json::value& v, field_path path, min_length min,
                                      max_length max, std::string& out);
std::optional<body_error> read_int64(const boost::json::value& v, field_path path, int_range range,
                                     std::int64_t& out);
std::optional<body_error> read_bool(const boost::json::value& v, field_path path, bool& out);
boost::json::object string_schema(min_length min, max_length max);
boost::json::object int64_schema(int_range range);
boost::json::object bool_schema();

}  // namespace detail

// The fields of a body type T, each with its JSON name, type and limits. Decoding rejects
// missing required fields, wrong types, values out of limits and unknown fields, naming the
// field. Supported: std::string (bounded), std::int64_t (ranged; JSON floats are refused, so
// amounts never pass through double), bool, std::optional of those, and one level of nested
// objects (a field whose type has its own body_schema without nested fields).
//
//   auto fields = body_schema<echo_body>{}.required("text", &echo_body::text, max_length{4096});
//   expected_body<echo_body> b = fields.decode(json_object);
template <class T>
class body_schema {
 public:
  body_schema& required(std::string_view name, std::string T::*member, max_length max,
                        min_length min = {}) {
    return add_string<false>(name, member, min, max);
  }
  body_schema& optional(std::string_view name, std::optional<std::string> T::*member,
                        max_length max, min_length min = {}) {
    return add_string<true>(name, member, min, max);
  }
  body_schema& required(std::string_view name, std::int64_t T::*member, int_range range = {}) {
    return add_int64<false>(name, member, range);
  }
  body_schema& optional(std::string_view name, std::optional<std::int64_t> T::*member,
                        int_range range = {}) {
    return add_int64<true>(name, member, range);
  }
  body_schema& required(std::string_view name, bool T::*member) {
    return add_bool<false>(name, member);
  }
  body_schema& optional(std::string_view name, std::optional<bool> T::*member) {
    return add_bool<true>(name, member);
  }
  template <class U>
  body_schema& required(std::string_view name, U T::*member, const body_schema<U>& nested) {
    return add_nested<false>(name, member, nested);
  }
  template <class U>
  body_schema& optional(std::string_view name, std::optional<U> T::*member,
                        const body_schema<U>& nested) {
    return add_nested<true>(name, member, nested);
  }

  // A list of objects, each with its own schema (which may not nest): one level, like nesting.
  template <class U>
  body_schema& required(std::string_view name, std::vector<U> T::*member,
                        const body_schema<U>& item, max_items max) {
    return add_list(name, member, item, max);
  }

  expected_body<T> decode(const boost::json::object& body) const {
    T out{};
    if (auto err = decode_into(body, out, {})) return std::move(*err);
    return out;
  }

  expected_body<T> decode(const boost::json::value& body) const {
    const auto* obj = body.if_object();
    if (obj == nullptr) return body_error{"", "the body must be a JSON object"};
    return decode(*obj);
  }

  // Decodes into `out`; `prefix` is the dotted path of this object inside the outer body.
  std::optional<body_error> decode_into(const boost::json::object& body, T& out,
                                        std::string_view prefix) const {
    // Unknown fields first: a misspelt optional field ("idempotency_kye") must not pass silently.
    for (const auto& kv : body)
      if (find(kv.key()) == nullptr) return detail::unknown_field({prefix, kv.key()});
    for (const auto& f : fields_) {
      auto it = body.find(f.name);
      if (it == body.end()) {
        if (f.is_required) return detail::missing_field({prefix, f.name});
        continue;
      }
      if (auto err = f.decode(it->value(), out, detail::field_path{prefix, f.name})) return err;
    }
    return std::nullopt;
  }

  // Writes the fields of `value` into `out` (optional fields only when present).
  void encode(const T& value, boost::json::object& out) const {
    for (const auto& f : fields_) f.encode(value, out);
  }

  boost::json::object encode(const T& value) const {
    boost::json::object out;
    encode(value, out);
    return out;
  }

  // A JSON Schema (draft 2020-12) fragment for the object, the one the AsyncAPI document holds.
  boost::json::object json_schema() const {
    boost::json::object schema;
    boost::json::object properties;
    boost::json::array required_names;
    for (const auto& f : fields_) {
      properties[f.name] = f.schema;
      if (f.is_required) required_names.emplace_back(f.name);
    }
    schema["type"] = "object";
    schema["properties"] = std::move(properties);
    if (!required_names.empty()) schema["required"] = std::move(required_names);
    schema["additionalProperties"] = false;
    return schema;
  }

  body_shape shape() const {
    return body_shape{[self = *this](const boost::json::object& body, std::string_view prefix) {
                        T scratch{};
                        return self.decode_into(body, scratch, prefix);
                      },
                      json_schema()};
  }

  bool has_nested() const noexcept { return has_nested_; }
  std::size_t field_count() const noexcept { return fields_.size(); }

 private:
  using decode_fn =
      std::function<std::optional<body_error>(const boost::json::value&, T&, detail::field_path)>;
  using encode_fn = std::function<void(const T&, boost::json::object&)>;

  struct field {
    std::string name;
    bool is_required;
    decode_fn decode;
    encode_fn encode;
    boost::json::object schema;
  };

  const field* find(std::string_view name) const noexcept {
    for (const auto& f : fields_)
      if (f.name == name) return &f;
    return nullptr;
  }

  body_schema& add(std::string_view name, bool is_required, decode_fn decode, encode_fn encode,
                   boost::json::object schema) {
    SUPERAPP_ASSERT(!name.empty());
    SUPERAPP_ASSERT(find(name) == nullptr);  // a field declared twice is a bug in the schema
    fields_.push_back(field{std::string{name}, is_required, std::move(decode), std::move(encode),
                            std::move(schema)});
    return *this;
  }

  // Member is `V T::*` (required) or `std::optional<V> T::*` (optional); `read` fills a V.
  template <bool Optional, class Member, class Read>
  body_schema& add_scalar(std::string_view name, Member member, Read read,
                          boost::json::object schema) {
    std::string key{name};
    decode_fn decode = [member, read](const boost::json::value& v, T& out,
                                      detail::field_path path) -> std::optional<body_error> {
      if constexpr (Optional) {
        auto& slot = (out.*member).emplace();
        return read(v, path, slot);
      } else {
        return read(v, path, out.*member);
      }
    };
    encode_fn encode = [member, key](const T& value, boost::json::object& out) {
      if constexpr (Optional) {
        if ((value.*member).has_value()) out[key] = *(value.*member);
      } else {
        out[key] = value.*member;
      }
    };
    return add(name, !Optional, std::move(decode), std::move(encode), std::move(schema));
  }

  template <bool Optional, class Member>
  body_schema& add_string(std::string_view name, Member member, min_length min, max_length max) {
    SUPERAPP_ASSERT(min.chars <= max.chars);
    auto read = [min, max](const boost::json::value& v, detail::field_path path, std::string& out) {
      return detail::read_string(v, path, min, max, out);
    };
    return add_scalar<Optional>(name, member, read, detail::string_schema(min, max));
  }

  template <bool Optional, class Member>
  body_schema& add_int64(std::string_view name, Member member, int_range range) {
    SUPERAPP_ASSERT(range.min_value <= range.max_value);
    auto read = [range](const boost::json::value& v, detail::field_path path, std::int64_t& out) {
      return detail::read_int64(v, path, range, out);
    };
    return add_scalar<Optional>(name, member, read, detail::int64_schema(range));
  }

  template <bool Optional, class Member>
  body_schema& add_bool(std::string_view name, Member member) {
    auto read = [](const boost::json::value& v, detail::field_path path, bool& out) {
      return detail::read_bool(v, path, out);
    };
    return add_scalar<Optional>(name, member, read, detail::bool_schema());
  }

  template <bool Optional, class Member, class U>
  body_schema& add_nested(std::string_view name, Member member, const body_schema<U>& nested) {
    // One level only: deeper bodies are a sign the op wants splitting, and keep limits simple.
    SUPERAPP_ASSERT(!nested.has_nested());
    has_nested_ = true;
    std::string key{name};
    decode_fn decode = [member, nested](const boost::json::value& v, T& out,
                                        detail::field_path path) -> std::optional<body_error> {
      const auto* obj = v.if_object();
      if (obj == nullptr) return detail::wrong_type(path, "an object");
      auto prefix = path.str();
      if constexpr (Optional) {
        return nested.decode_into(*obj, (out.*member).emplace(), prefix);
      } else {
        return nested.decode_into(*obj, out.*member, prefix);
      }
    };
    encode_fn encode = [member, nested, key](const T& value, boost::json::object& out) {
      if constexpr (Optional) {
        if ((value.*member).has_value()) out[key] = nested.encode(*(value.*member));
      } else {
        out[key] = nested.encode(value.*member);
      }
    };
    return add(name, !Optional, std::move(decode), std::move(encode), nested.json_schema());
  }

  template <class Member, class U>
  body_schema& add_list(std::string_view name, Member member, const body_schema<U>& item,
                        max_items max) {
    SUPERAPP_ASSERT(!item.has_nested());
    has_nested_ = true;
    std::string key{name};
    decode_fn decode = [member, item, max](const boost::json::value& v, T& out,
                                           detail::field_path path) -> std::optional<body_error> {
      const auto* arr = v.if_array();
      if (arr == nullptr) return detail::wrong_type(path, "an array");
      if (arr->size() > max.items)
        return body_error{path.str(), "field \"" + path.str() + "\" must have at most " +
                                          std::to_string(max.items) + " items"};
      auto& list = out.*member;
      list.clear();
      for (std::size_t i = 0; i < arr->size(); ++i) {
        auto prefix = path.str() + "[" + std::to_string(i) + "]";
        const auto* obj = (*arr)[i].if_object();
        if (obj == nullptr) return body_error{prefix, "field \"" + prefix + "\" must be an object"};
        if (auto err = item.decode_into(*obj, list.emplace_back(), prefix)) return err;
      }
      return std::nullopt;
    };
    encode_fn encode = [member, item, key](const T& value, boost::json::object& out) {
      boost::json::array arr;
      for (const auto& x : value.*member) arr.push_back(item.encode(x));
      out[key] = std::move(arr);
    };
    boost::json::object schema;
    schema["type"] = "array";
    schema["items"] = item.json_schema();
    schema["maxItems"] = max.items;
    return add(name, true, std::move(decode), std::move(encode), std::move(schema));
  }

  std::vector<field> fields_;
  bool has_nested_ = false;
};

}  // namespace superapp::ws
