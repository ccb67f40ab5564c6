// A latency histogram with bounded relative error: HDR-style log-linear buckets over uint64.
#pragma once

#include <cstdint>
#include <vector>

namespace superapp::bench {

// Values below 2^precision_bits are counted exactly; above, each power of two is cut into
// 2^(precision_bits-1) equal buckets. A percentile is reported as the middle of its bucket,
// so its relative error is at most 2^-precision_bits (0.78% at the default 7 bits), over the
// whole uint64 range, in a fixed ~4k-bucket array: no allocation while recording.
class latency_histogram {
 public:
  static constexpr unsigned default_precision_bits = 7;

  explicit latency_histogram(unsigned precision_bits = default_precision_bits);

  void record(std::uint64_t value, std::uint64_t count = 1) noexcept;
  // Adds every value of `other`, which must have the same precision (asserted).
  void merge(const latency_histogram& other);
  void clear() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;
  unsigned precision_bits() const noexcept { return precision_bits_; }
  // The relative error bound of value_at(): 2^-precision_bits.
  double relative_error() const noexcept;

  // The value at quantile q in [0, 1]: the smallest bucket holding at least ceil(q * count)
  // values, reported at its middle and clamped to [min, max]; 0 when empty. q = 1 is max().
  std::uint64_t value_at(double q) const noexcept;

  // Bucket arithmetic, exposed for tests.
  std::size_t index_of(std::uint64_t value) const noexcept;
  std::uint64_t lowest_in(std::size_t index) const noexcept;
  std::uint64_t width_of(std::size_t index) const noexcept;

 private:
  unsigned precision_bits_;
  std::uint64_t half_count_;  // buckets per power of two above the exact range
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace superapp::bench
