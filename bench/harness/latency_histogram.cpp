// Log-linear bucket arithmetic of latency_histogram.
#include "bench/harness/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "protocols/assert.hpp"

namespace superapp::bench {

latency_histogram::latency_histogram(unsigned precision_bits)
    : precision_bits_(precision_bits), half_count_(std::uint64_t{1} << (precision_bits - 1)) {
  SUPERAPP_ASSERT(precision_bits >= 2 && precision_bits <= 16);
  // Exact range [0, 2^b), then one group of half_count_ buckets per shift 1 .. 64-b.
  counts_.assign(index_of(~std::uint64_t{0}) + 1, 0);
}

std::size_t latency_histogram::index_of(std::uint64_t value) const noexcept {
  const auto exact = std::uint64_t{1} << precision_bits_;
  if (value < exact) return static_cast<std::size_t>(value);
  const auto msb = static_cast<unsigned>(std::bit_width(value)) - 1;  // >= precision_bits_
  const auto shift = msb - precision_bits_ + 1;
  const auto mantissa = value >> shift;  // in [half, 2 * half)
  return static_cast<std::size_t>(shift * half_count_ + mantissa);
}

std::uint64_t latency_histogram::lowest_in(std::size_t index) const noexcept {
  const auto exact = std::uint64_t{1} << precision_bits_;
  if (index < exact) return index;
  const auto shift = (index - half_count_) / half_count_;
  const auto mantissa = index - shift * half_count_;
  return mantissa << shift;
}

std::uint64_t latency_histogram::width_of(std::size_t index) const noexcept {
  const auto exact = std::uint64_t{1} << precision_bits_;
  if (index < exact) return 1;
  return std::uint64_t{1} << ((index - half_count_) / half_count_);
}

void latency_histogram::record(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) return;
  counts_[index_of(value)] += count;
  if (count_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  count_ += count;
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void latency_histogram::merge(const latency_histogram& other) {
  SUPERAPP_ASSERT(other.precision_bits_ == precision_bits_);
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void latency_histogram::clear() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = min_ = max_ = 0;
  sum_ = 0;
}

double latency_histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

double latency_histogram::relative_error() const noexcept {
  return std::ldexp(1.0, -static_cast<int>(precision_bits_));
}

std::uint64_t latency_histogram::value_at(double q) const noexcept {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  q = std::max(q, 0.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const auto middle = lowest_in(i) + width_of(i) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;
}

}  // namespace superapp::bench
