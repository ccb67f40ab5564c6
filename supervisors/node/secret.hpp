// A value that must never reach a log line or an error message: printing it always gives ***.
#pragma once

#include <fmt/format.h>

#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

namespace superapp {

// Operator tokens and connection strings live in this type from the moment they are read, so
// formatting a whole config, or passing one as a log field, cannot leak them by accident.
// Only `.reveal()` hands out the value; grep for it to audit every place a secret is used.
class secret {
 public:
  static constexpr std::string_view redacted = "***";

  secret() = default;
  explicit secret(std::string value) : value_(std::move(value)) {}

  [[nodiscard]] const std::string& reveal() const noexcept { return value_; }
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

  friend bool operator==(const secret&, const secret&) = default;

 private:
  std::string value_;
};

std::ostream& operator<<(std::ostream& out, const secret& value);

}  // namespace superapp

// Width and alignment specs still apply, to the "***".
template <>
struct fmt::formatter<superapp::secret> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const superapp::secret&, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(superapp::secret::redacted, ctx);
  }
};
