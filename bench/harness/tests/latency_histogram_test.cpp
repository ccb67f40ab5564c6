// The histogram's error bound, its merge, and its edge cases.
#include "bench/harness/latency_histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using superapp::bench::latency_histogram;

namespace {
double relative(double reported, double exact) { return std::abs(reported - exact) / exact; }
}  // namespace

TEST_CASE("every value lands in a bucket whose middle is within the relative error bound") {
  for (unsigned bits : {5u, 7u, 10u}) {
    latency_histogram h{bits};
    std::mt19937_64 rng{bits};
    for (int i = 0; i < 200'000; ++i) {
      // Log-uniform over 1 .. 2^50, so every magnitude is tried.
      const auto v = static_cast<std::uint64_t>(std::exp2(std::uniform_real_distribution<>{0, 50}(rng)));
      const auto index = h.index_of(v);
      REQUIRE(h.lowest_in(index) <= v);
      REQUIRE(v < h.lowest_in(index) + h.width_of(index));
      const double middle =
          static_cast<double>(h.lowest_in(index)) + static_cast<double>(h.width_of(index) / 2);
      REQUIRE(relative(middle, static_cast<double>(v)) <= h.relative_error());
    }
  }
}

TEST_CASE("buckets are contiguous: each starts where the previous one ends") {
  latency_histogram h{7};
  for (std::size_t i = 1; i < h.index_of(std::uint64_t{1} << 40); ++i)
    REQUIRE(h.lowest_in(i) == h.lowest_in(i - 1) + h.width_of(i - 1));
}

TEST_CASE("percentiles of a known distribution are within the relative error bound") {
  latency_histogram h;
  std::vector<std::uint64_t> values;
  std::mt19937_64 rng{42};
  std::lognormal_distribution<> latency_us{5.0, 1.0};  // ~150 us median, long tail
  for (int i = 0; i < 100'000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency_us(rng) * 1000) + 1;  // ns
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    const auto exact = static_cast<double>(values[rank - 1]);
    CHECK(relative(static_cast<double>(h.value_at(q)), exact) <= h.relative_error());
  }
  CHECK(h.value_at(1.0) == values.back());
  CHECK(h.max() == values.back());
  CHECK(h.min() == values.front());
  CHECK(h.count() == values.size());
}

TEST_CASE("small values are counted exactly") {
  latency_histogram h{7};
  for (std::uint64_t v = 0; v < 128; ++v) h.record(v);
  CHECK(h.value_at(0.5) == 63);
  CHECK(h.value_at(0.0) == 0);
  CHECK(h.value_at(1.0) == 127);
}

TEST_CASE("merging two histograms equals recording everything in one") {
  latency_histogram a, b, both;
  std::mt19937_64 rng{7};
  for (int i = 0; i < 50'000; ++i) {
    const auto v = rng() % 10'000'000;
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  CHECK(a.count() == both.count());
  CHECK(a.min() == both.min());
  CHECK(a.max() == both.max());
  CHECK(a.mean() == doctest::Approx(both.mean()));
  for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) CHECK(a.value_at(q) == both.value_at(q));
}

TEST_CASE("merging histograms of different precision is a bug") {
  latency_histogram a{7}, b{5};
  b.record(1);
  CHECK_THROWS(a.merge(b));
}

TEST_CASE("an empty histogram reports zeros and the largest value has a bucket") {
  latency_histogram h;
  CHECK(h.value_at(0.99) == 0);
  CHECK(h.mean() == 0);
  h.record(~std::uint64_t{0});
  CHECK(h.value_at(0.5) == ~std::uint64_t{0});
}
