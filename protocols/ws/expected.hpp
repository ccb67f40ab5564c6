// A value or the reason there is none: C++20 has no std::expected, and the protocol needs no CAF.
#pragma once

#include <utility>
#include <variant>

#include "protocols/assert.hpp"

namespace superapp::ws {

template <class T, class E>
class expected {
 public:
  expected(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  expected(E error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    SUPERAPP_ASSERT(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    SUPERAPP_ASSERT(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    SUPERAPP_ASSERT(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    SUPERAPP_ASSERT(!has_value());
    return std::get<1>(state_);
  }
  E&& error() && {
    SUPERAPP_ASSERT(!has_value());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, E> state_;
};

}  // namespace superapp::ws
