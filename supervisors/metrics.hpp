// Process metrics: counters, gauges and latency histograms rendered as Prometheus text.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace superapp::sup {
struct tree_node;
}

namespace superapp::metrics {

// Label pairs in the order they are rendered, e.g. {{"domain", "banking"}, {"op", "transfer"}}.
using label_set = std::vector<std::pair<std::string, std::string>>;

// Upper bucket bounds for request latencies, 50 us .. 10 s, roughly 1-2.5-5 per decade so the
// quantile error stays bounded across five orders of magnitude.
inline constexpr std::int64_t default_latency_bounds_us[] = {
    50,     100,     250,     500,     1'000,     2'500,     5'000,     10'000,    25'000,
    50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

namespace detail {
struct histogram_cells;
}

// Handles are what hot code keeps: an increment is one relaxed atomic add, no lookup, no lock.
// A handle is a pointer into its registry, so the registry must outlive every handle.
// A default-constructed handle is unbound; using it is a bug (asserted).
class counter {
 public:
  counter() = default;
  void increment(std::uint64_t by = 1) noexcept { cell_->fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return cell_->load(std::memory_order_relaxed); }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

 private:
  friend class registry;
  explicit counter(std::atomic<std::uint64_t>* cell) : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_ = nullptr;
};

class gauge {
 public:
  gauge() = default;
  void set(std::int64_t value) noexcept { cell_->store(value, std::memory_order_relaxed); }
  void add(std::int64_t by) noexcept { cell_->fetch_add(by, std::memory_order_relaxed); }
  void sub(std::int64_t by) noexcept { cell_->fetch_sub(by, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return cell_->load(std::memory_order_relaxed); }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

 private:
  friend class registry;
  explicit gauge(std::atomic<std::int64_t>* cell) : cell_(cell) {}
  std::atomic<std::int64_t>* cell_ = nullptr;
};

// Latencies are recorded in microseconds and rendered in seconds (Prometheus' base unit), so a
// histogram's name must end in `_seconds`.
class histogram {
 public:
  histogram() = default;
  void observe_us(std::int64_t value_us) noexcept;
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> elapsed) noexcept {
    observe_us(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }
  // Observations so far (the +Inf bucket); the sum of every observed value.
  std::uint64_t count() const noexcept;
  std::int64_t sum_us() const noexcept;
  // Non-cumulative count of bucket `index`; index bounds().size() is the overflow bucket.
  std::uint64_t bucket_count(std::size_t index) const noexcept;
  std::span<const std::int64_t> bounds_us() const noexcept;
  explicit operator bool() const noexcept { return cells_ != nullptr; }

 private:
  friend class registry;
  explicit histogram(detail::histogram_cells* cells) : cells_(cells) {}
  detail::histogram_cells* cells_ = nullptr;
};

// All metrics of one process (the node owns one; no globals). Registration and rendering take
// a mutex; updates through handles never do. Registering the same name and labels twice
// returns the same cells, so two components may share a series. Bad names, a name reused with
// another type or help text, and the reserved label `le` are bugs and fail SUPERAPP_ASSERT.
class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter add_counter(std::string_view name, std::string_view help, label_set labels = {});
  gauge add_gauge(std::string_view name, std::string_view help, label_set labels = {});
  histogram add_histogram(std::string_view name, std::string_view help, label_set labels = {},
                          std::span<const std::int64_t> bounds_us = default_latency_bounds_us);
  // A gauge whose value `sample` computes at each scrape (under the registry's mutex, so it
  // must be quick and must not touch the registry), for figures the process does not push,
  // such as its resident memory.
  void add_sampled_gauge(std::string_view name, std::string_view help,
                         std::function<std::int64_t()> sample, label_set labels = {});
  // A counter of seconds whose value `sample_us` computes at each scrape, in microseconds
  // (rendered in seconds; the name ends in `_seconds_total`), such as the process' CPU time.
  // `read` gives it in microseconds.
  void add_sampled_counter_us(std::string_view name, std::string_view help,
                              std::function<std::int64_t()> sample_us, label_set labels = {});

  // The Prometheus text exposition format (version 0.0.4), families in registration order.
  std::string render() const;

  // The current values of one counter or gauge family, one per label set (sampled gauges are
  // sampled now); empty for an unknown name or a histogram. For the operators' dashboard.
  struct reading {
    label_set labels;
    std::int64_t value = 0;
  };
  std::vector<reading> read(std::string_view name) const;

 private:
  struct family;
  struct series;
  family& family_for(std::string_view name, std::string_view help, int type,
                     std::span<const std::int64_t> bounds_us);
  series& series_for(family& f, label_set labels);
  // A gauge's value now: sampled, or as last set.
  static std::int64_t gauge_value(const series& s);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family>> families_;
};

// The process' resident set size in bytes from /proc/self/statm; -1 when it cannot be read.
std::int64_t process_resident_memory_bytes();
// The CPU time (user and system) the process has used, in microseconds (getrusage).
std::int64_t process_cpu_microseconds();

// Appends the supervision tree as metric families: each node's path is its ancestors' names
// joined by '/', e.g. superapp_actor_mailbox_depth{path="root/banking/store"}. Called at scrape
// time with a fresh snapshot, so these series are never registered.
void append_tree(const sup::tree_node& root, std::string& out);

// Prometheus text escaping: label values escape backslash, double quote and newline; help text
// escapes backslash and newline.
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view help);

// Renders microseconds as seconds in decimal, exactly: 50 -> "0.00005", 2500000 -> "2.5".
std::string format_seconds(std::int64_t value_us);

}  // namespace superapp::metrics
