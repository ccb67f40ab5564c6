// Money on the wire: {"minor": <integer minor units>, "currency": "GBP"}. Never a JSON float
// (the body decoder refuses them), never a decimal string.
#pragma once

#include <cstdint>
#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "protocols/ws/body.hpp"

namespace superapp::ws {

struct money {
  std::int64_t minor = 0;  // minor units of `currency` (pence, cents, paise)
  std::string currency;    // ISO 4217 alphabetic code, upper case
};

// minor: 0..2^63-1 (a positive amount where an operation needs one is the domain's check);
// currency: exactly 3 characters (the domain checks A-Z).
inline const body_schema<money>& money_schema() {
  static const auto s =
      body_schema<money>{}
          .required("minor", &money::minor, int_range{0, std::numeric_limits<std::int64_t>::max()})
          .required("currency", &money::currency, max_length{3}, min_length{3});
  return s;
}

// An ISO 4217 alphabetic code's form: three letters A-Z.
inline bool valid_currency_code(std::string_view currency) {
  return currency.size() == 3 &&
         std::all_of(currency.begin(), currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace superapp::ws
