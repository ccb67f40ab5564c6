// Metric registration, the lock-free update path and Prometheus text rendering.
#include "supervisors/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "protocols/assert.hpp"
#include "supervisors/tree.hpp"

namespace superapp::metrics {

namespace detail {

struct histogram_cells {
  explicit histogram_cells(std::span<const std::int64_t> bounds)
      : bounds_us(bounds.begin(), bounds.end()),
        buckets(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}
  std::vector<std::int64_t> bounds_us;                    // ascending upper bounds, inclusive
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;  // non-cumulative; last is overflow
  std::atomic<std::int64_t> sum_us{0};
};

}  // namespace detail

namespace {

enum family_type : int { type_counter = 0, type_gauge = 1, type_histogram = 2 };

const char* type_name(int type) {
  switch (type) {
    case type_counter:
      return "counter";
    case type_gauge:
      return "gauge";
    default:
      return "histogram";
  }
}

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name.front(), allow_colon)) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_name_char(c, allow_colon); });
}

// `{a="x",b="y"}` without the braces, so histograms can append `le` inside them.
std::string render_label_pairs(const label_set& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ',';
    out += key;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
  }
  return out;
}

void append_sample(std::string& out, std::string_view name, std::string_view pairs,
                   std::string_view value) {
  out += name;
  if (!pairs.empty()) {
    out += '{';
    out += pairs;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

struct registry::series {
  label_set labels;
  std::string pairs;  // rendered once at registration, not per scrape
  std::atomic<std::uint64_t> counter_cell{0};
  std::atomic<std::int64_t> gauge_cell{0};
  // Set: a sampled gauge (or a sampled counter, in µs), read at render time.
  std::function<std::int64_t()> sample;
  std::unique_ptr<detail::histogram_cells> histogram_cells;
};

struct registry::family {
  std::string name;
  std::string help;
  int type = type_counter;
  std::vector<std::int64_t> bounds_us;
  std::vector<std::unique_ptr<series>> members;  // unique_ptr: handles point into them
};

void histogram::observe_us(std::int64_t value_us) noexcept {
  if (value_us < 0) value_us = 0;  // a clock step backwards must not corrupt the sum
  const auto& bounds = cells_->bounds_us;
  // le is inclusive: a value equal to a bound belongs to that bound's bucket.
  auto index = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), value_us) -
                                        bounds.begin());
  cells_->buckets[index].fetch_add(1, std::memory_order_relaxed);
  cells_->sum_us.fetch_add(value_us, std::memory_order_relaxed);
}

std::uint64_t histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= cells_->bounds_us.size(); ++i)
    total += cells_->buckets[i].load(std::memory_order_relaxed);
  return total;
}

std::int64_t histogram::sum_us() const noexcept {
  return cells_->sum_us.load(std::memory_order_relaxed);
}

std::uint64_t histogram::bucket_count(std::size_t index) const noexcept {
  if (index > cells_->bounds_us.size()) return 0;
  return cells_->buckets[index].load(std::memory_order_relaxed);
}

std::span<const std::int64_t> histogram::bounds_us() const noexcept { return cells_->bounds_us; }

registry::registry() = default;
registry::~registry() = default;

registry::family& registry::family_for(std::string_view name, std::string_view help, int type,
                                       std::span<const std::int64_t> bounds_us) {
  SUPERAPP_ASSERT(valid_name(name, true));
  for (auto& f : families_) {
    if (f->name != name) continue;
    // One name, one meaning: a clash is two components disagreeing about a metric.
    SUPERAPP_ASSERT(f->type == type);
    SUPERAPP_ASSERT(f->help == help);
    SUPERAPP_ASSERT(
        std::equal(f->bounds_us.begin(), f->bounds_us.end(), bounds_us.begin(), bounds_us.end()));
    return *f;
  }
  auto f = std::make_unique<family>();
  f->name = std::string{name};
  f->help = std::string{help};
  f->type = type;
  f->bounds_us.assign(bounds_us.begin(), bounds_us.end());
  families_.push_back(std::move(f));
  return *families_.back();
}

registry::series& registry::series_for(family& f, label_set labels) {
  for (const auto& [key, value] : labels) {
    SUPERAPP_ASSERT(valid_name(key, false));
    SUPERAPP_ASSERT(!key.starts_with("__"));  // reserved for Prometheus itself
    SUPERAPP_ASSERT(key != "le");             // the histogram bucket label
  }
  for (auto& s : f.members)
    if (s->labels == labels) return *s;
  auto s = std::make_unique<series>();
  s->pairs = render_label_pairs(labels);
  s->labels = std::move(labels);
  if (f.type == type_histogram)
    s->histogram_cells = std::make_unique<detail::histogram_cells>(f.bounds_us);
  f.members.push_back(std::move(s));
  return *f.members.back();
}

counter registry::add_counter(std::string_view name, std::string_view help, label_set labels) {
  SUPERAPP_ASSERT(name.ends_with("_total"));  // Prometheus naming: counters end in _total
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_for(family_for(name, help, type_counter, {}), std::move(labels));
  return counter{&s.counter_cell};
}

gauge registry::add_gauge(std::string_view name, std::string_view help, label_set labels) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_for(family_for(name, help, type_gauge, {}), std::move(labels));
  return gauge{&s.gauge_cell};
}

void registry::add_sampled_gauge(std::string_view name, std::string_view help,
                                 std::function<std::int64_t()> sample, label_set labels) {
  SUPERAPP_ASSERT(sample);
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_for(family_for(name, help, type_gauge, {}), std::move(labels));
  SUPERAPP_ASSERT(!s.sample);  // one sampler per series
  s.sample = std::move(sample);
}

void registry::add_sampled_counter_us(std::string_view name, std::string_view help,
                                      std::function<std::int64_t()> sample_us, label_set labels) {
  SUPERAPP_ASSERT(sample_us);
  SUPERAPP_ASSERT(name.ends_with("_seconds_total"));  // rendered in seconds
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_for(family_for(name, help, type_counter, {}), std::move(labels));
  SUPERAPP_ASSERT(!s.sample);  // one sampler per series
  s.sample = std::move(sample_us);
}

std::int64_t process_cpu_microseconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  auto us = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + static_cast<std::int64_t>(t.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

std::int64_t process_resident_memory_bytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return -1;
  long long size_pages = 0;
  long long resident_pages = 0;
  const int read = std::fscanf(file, "%lld %lld", &size_pages, &resident_pages);
  std::fclose(file);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  if (read != 2 || page_bytes <= 0) return -1;
  return resident_pages * page_bytes;
}

histogram registry::add_histogram(std::string_view name, std::string_view help, label_set labels,
                                  std::span<const std::int64_t> bounds_us) {
  SUPERAPP_ASSERT(name.ends_with("_seconds"));  // rendered in seconds; see histogram
  SUPERAPP_ASSERT(!bounds_us.empty());
  SUPERAPP_ASSERT(bounds_us.front() >= 0);
  SUPERAPP_ASSERT(std::adjacent_find(bounds_us.begin(), bounds_us.end(),
                                     [](auto a, auto b) { return a >= b; }) == bounds_us.end());
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_for(family_for(name, help, type_histogram, bounds_us), std::move(labels));
  return histogram{s.histogram_cells.get()};
}

std::int64_t registry::gauge_value(const series& s) {
  return s.sample ? s.sample() : s.gauge_cell.load(std::memory_order_relaxed);
}

std::string registry::render() const {
  std::string out;
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& f : families_) {
    append_header(out, f->name, f->help, type_name(f->type));
    for (const auto& s : f->members) {
      switch (f->type) {
        case type_counter:
          append_sample(out, f->name, s->pairs,
                        s->sample
                            ? format_seconds(s->sample())
                            : std::to_string(s->counter_cell.load(std::memory_order_relaxed)));
          break;
        case type_gauge:
          append_sample(out, f->name, s->pairs, std::to_string(gauge_value(*s)));
          break;
        default: {
          const auto& cells = *s->histogram_cells;
          const auto bucket_name = f->name + "_bucket";
          const auto prefix = s->pairs.empty() ? std::string{} : s->pairs + ",";
          // _count is the cumulative total of the same bucket reads, so +Inf == _count holds
          // in every scrape even while other threads observe.
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i < cells.bounds_us.size(); ++i) {
            cumulative += cells.buckets[i].load(std::memory_order_relaxed);
            append_sample(out, bucket_name,
                          prefix + "le=\"" + format_seconds(cells.bounds_us[i]) + "\"",
                          std::to_string(cumulative));
          }
          cumulative += cells.buckets[cells.bounds_us.size()].load(std::memory_order_relaxed);
          append_sample(out, bucket_name, prefix + "le=\"+Inf\"", std::to_string(cumulative));
          append_sample(out, f->name + "_sum", s->pairs,
                        format_seconds(cells.sum_us.load(std::memory_order_relaxed)));
          append_sample(out, f->name + "_count", s->pairs, std::to_string(cumulative));
        }
      }
    }
  }
  return out;
}

std::vector<registry::reading> registry::read(std::string_view name) const {
  std::vector<reading> out;
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& f : families_) {
    if (f->name != name || f->type == type_histogram) continue;
    for (const auto& s : f->members) {
      std::int64_t value = 0;
      if (f->type == type_counter)
        value = s->sample
                    ? s->sample()
                    : static_cast<std::int64_t>(s->counter_cell.load(std::memory_order_relaxed));
      else
        value = gauge_value(*s);
      out.push_back({s->labels, value});
    }
  }
  return out;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_seconds(std::int64_t value_us) {
  std::string out = value_us < 0 ? "-" : "";
  // Negate in unsigned arithmetic so INT64_MIN does not overflow.
  auto magnitude = value_us < 0 ? 0 - static_cast<std::uint64_t>(value_us)
                                : static_cast<std::uint64_t>(value_us);
  out += std::to_string(magnitude / 1'000'000);
  auto fraction = magnitude % 1'000'000;
  if (fraction == 0) return out;
  auto digits = std::to_string(fraction);
  digits.insert(0, 6 - digits.size(), '0');
  digits.erase(digits.find_last_not_of('0') + 1);
  return out + "." + digits;
}

namespace {

struct tree_row {
  std::string pairs;  // path="..."
  const sup::tree_node* node;
};

// Children of a simple_one_for_one supervisor are short-lived and only the worst few are
// reported; giving each a series would churn label sets without bound, so only their count
// (superapp_supervisor_dynamic_children) is exported.
void flatten(const sup::tree_node& node, const std::string& parent_path,
             std::vector<tree_row>& rows) {
  auto path = parent_path.empty() ? node.name : parent_path + "/" + node.name;
  rows.push_back({"path=\"" + escape_label_value(path) + "\"", &node});
  if (node.strategy == "simple_one_for_one") return;
  for (const auto& child : node.children) flatten(child, path, rows);
}

template <class Value, class Filter>
void append_tree_family(std::string& out, const std::vector<tree_row>& rows, std::string_view name,
                        std::string_view help, std::string_view type, Filter&& include,
                        Value&& value) {
  append_header(out, name, help, type);
  for (const auto& row : rows)
    if (include(*row.node)) append_sample(out, name, row.pairs, value(*row.node));
}

}  // namespace

void append_tree(const sup::tree_node& root, std::string& out) {
  std::vector<tree_row> rows;
  flatten(root, {}, rows);
  auto every = [](const sup::tree_node&) { return true; };
  auto supervisors = [](const sup::tree_node& n) { return n.kind == "supervisor"; };
  append_tree_family(
      out, rows, "superapp_actor_up", "1 if the actor is running, 0 otherwise", "gauge", every,
      [](const sup::tree_node& n) { return std::string{n.state == "running" ? "1" : "0"}; });
  append_tree_family(
      out, rows, "superapp_actor_mailbox_depth", "Messages queued in the actor's mailbox", "gauge",
      [](const sup::tree_node& n) { return n.mailbox_depth >= 0; },
      [](const sup::tree_node& n) { return std::to_string(n.mailbox_depth); });
  append_tree_family(
      out, rows, "superapp_actor_messages_total",
      "Messages the actor has handled since it was (re)started", "counter",
      [](const sup::tree_node& n) { return n.messages >= 0; },
      [](const sup::tree_node& n) { return std::to_string(n.messages); });
  append_tree_family(out, rows, "superapp_actor_restarts_total",
                     "Restarts of the child since its supervisor started", "counter", every,
                     [](const sup::tree_node& n) { return std::to_string(n.restarts); });
  append_tree_family(out, rows, "superapp_actor_uptime_seconds",
                     "Time since the actor was (re)started", "gauge", every,
                     [](const sup::tree_node& n) { return format_seconds(n.uptime_ms * 1000); });
  append_tree_family(out, rows, "superapp_supervisor_intensity_used",
                     "Restarts inside the supervisor's current intensity window", "gauge",
                     supervisors,
                     [](const sup::tree_node& n) { return std::to_string(n.intensity_used); });
  append_tree_family(out, rows, "superapp_supervisor_intensity_max",
                     "Restarts allowed inside one intensity window before the supervisor gives up",
                     "gauge", supervisors,
                     [](const sup::tree_node& n) { return std::to_string(n.intensity_max); });
  append_tree_family(
      out, rows, "superapp_supervisor_dynamic_children",
      "Live children of a simple_one_for_one supervisor", "gauge",
      [](const sup::tree_node& n) { return n.strategy == "simple_one_for_one"; },
      [](const sup::tree_node& n) { return std::to_string(n.dynamic_children); });
}

}  // namespace superapp::metrics
