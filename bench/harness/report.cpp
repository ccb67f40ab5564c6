// Result file, Markdown summary, hand-drawn SVG and the comparison table.
#include "bench/harness/report.hpp"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <thread>

namespace superapp::bench {
namespace {

namespace json = boost::json;

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

// Quantiles for the percentile curve: 0 .. 99.999% evenly on a log(1 / (1 - q)) axis.
std::vector<double> curve_quantiles() {
  std::vector<double> qs;
  for (int k = 0; k <= 100; ++k) qs.push_back(1.0 - std::pow(10.0, -k / 20.0));
  return qs;
}

json::object latency_json(const latency_figures_us& l) {
  return {{"p50", l.p50}, {"p90", l.p90}, {"p99", l.p99}, {"p99_9", l.p999}, {"max", l.max},
          {"mean", l.mean}};
}

template <class Map>
json::object counts_json(const Map& m) {
  json::object out;
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

json::object snapshot_json(const node_snapshot& s) {
  json::object out{{"restarts_total", s.restarts_total},
                   {"mailbox_depth_max", s.mailbox_depth_max},
                   {"mailbox_depth_max_path", s.mailbox_depth_max_path}};
  if (s.rss_bytes) out["rss_bytes"] = *s.rss_bytes;
  else out["rss_bytes"] = nullptr;
  if (s.cpu_seconds) out["cpu_seconds"] = *s.cpu_seconds;
  else out["cpu_seconds"] = nullptr;
  out["restarts_by_path"] = counts_json(s.restarts_by_path);
  return out;
}

double number_of(const json::value* v) {
  if (v == nullptr) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return 0;
}
std::string text_of(const json::value* v) {
  return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
}

std::string thousands(double value) {
  auto digits = fmt::format("{:.0f}", value);
  std::string out;
  const auto start = digits.front() == '-' ? 1u : 0u;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string ratio(double x, double base) {
  return base > 0 ? fmt::format("{:.2f}x", x / base) : std::string{"-"};
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

machine_info this_machine() {
  machine_info m;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) m.hostname = host;
  m.cpus = std::thread::hardware_concurrency();
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string{u.sysname} + " " + u.release;
  std::ifstream cpuinfo{"/proc/cpuinfo"};
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) m.cpu_model = line.substr(colon + 2);
      break;
    }
  }
  return m;
}

run_summary summarize(std::string name, std::string role, std::string url,
                      std::string description, const scenario& s, const load_figures& f) {
  run_summary r;
  r.name = std::move(name);
  r.role = std::move(role);
  r.url = std::move(url);
  r.description = std::move(description);
  r.mode = std::string{to_string(s.mode)};
  r.rate_per_s = s.rate_per_s;
  r.duration_s = s.duration_s;
  r.elapsed_s = f.elapsed_s;
  r.sessions = s.sessions;
  r.connected = f.connected;
  r.connect_failures = f.connect_failures;
  const auto& book = f.book;
  r.sent = book.sent_count();
  r.ok = book.ok_count();
  r.errors = book.error_count() + f.connect_failures;
  for (const auto& [code, n] : book.errors_by_code()) r.errors_by_code[code] = n;
  if (f.connect_failures > 0) r.errors_by_code["connect_failed"] += f.connect_failures;
  for (std::size_t i = 0; i < s.ops.size(); ++i) r.ok_by_op[s.ops[i].op] += book.ok_by_op()[i];
  r.throughput_per_s = f.elapsed_s > 0 ? static_cast<double>(r.ok) / f.elapsed_s : 0;
  const auto& h = book.latency_ns();
  r.latency = {us(h.value_at(0.5)), us(h.value_at(0.9)),  us(h.value_at(0.99)),
               us(h.value_at(0.999)), us(h.max()),      h.mean() / 1e3};
  r.send_lag_p99_us = us(book.send_lag_ns().value_at(0.99));
  r.histogram_relative_error = h.relative_error();
  if (h.count() > 0)
    for (double q : curve_quantiles()) r.percentile_curve_us.emplace_back(q, us(h.value_at(q)));
  const double slot_s = std::chrono::duration<double>(book.slot_width()).count();
  for (std::size_t i = 0; i < book.timeline().size(); ++i) {
    const auto& slot = book.timeline()[i];
    r.timeline.push_back({static_cast<double>(i) * slot_s, slot.latency_ns.count(), slot.errors,
                          us(slot.latency_ns.value_at(0.5)), us(slot.latency_ns.value_at(0.99)),
                          us(slot.latency_ns.max())});
  }
  r.stopped_early = f.stopped_early;
  return r;
}

std::string to_json(const bench_result& result) {
  json::array runs;
  for (const auto& r : result.runs) {
    json::array curve, timeline;
    for (const auto& [q, v] : r.percentile_curve_us) curve.push_back(json::array{q, v});
    for (const auto& t : r.timeline)
      timeline.push_back(json::object{{"t_s", t.t_s}, {"count", t.count}, {"errors", t.errors},
                                      {"p50_us", t.p50_us}, {"p99_us", t.p99_us},
                                      {"max_us", t.max_us}});
    json::object run{{"name", r.name},
                     {"role", r.role},
                     {"url", r.url},
                     {"description", r.description},
                     {"mode", r.mode},
                     {"rate_per_s", r.rate_per_s},
                     {"duration_s", r.duration_s},
                     {"elapsed_s", r.elapsed_s},
                     {"sessions", r.sessions},
                     {"connected", r.connected},
                     {"connect_failures", r.connect_failures},
                     {"sent", r.sent},
                     {"ok", r.ok},
                     {"errors", r.errors},
                     {"errors_by_code", counts_json(r.errors_by_code)},
                     {"ok_by_op", counts_json(r.ok_by_op)},
                     {"throughput_per_s", r.throughput_per_s},
                     {"latency_us", latency_json(r.latency)},
                     {"send_lag_p99_us", r.send_lag_p99_us},
                     {"histogram_relative_error", r.histogram_relative_error},
                     {"percentile_curve_us", curve},
                     {"timeline", timeline},
                     {"stopped_early", r.stopped_early}};
    if (r.server_rss_kib) run["server_rss_kib"] = *r.server_rss_kib;
    runs.push_back(std::move(run));
  }
  json::object server{{"scraped", result.server.scraped}, {"note", result.server.note}};
  if (result.server.scraped) {
    server["before"] = snapshot_json(result.server.before);
    server["loaded"] = snapshot_json(result.server.loaded);
    server["after"] = snapshot_json(result.server.after);
    server["restarts_during_run"] =
        result.server.after.restarts_total - result.server.before.restarts_total;
    if (result.server.load_cpu_cores) server["load_cpu_cores"] = *result.server.load_cpu_cores;
    if (result.server.load_cpu_us_per_ok)
      server["load_cpu_us_per_ok"] = *result.server.load_cpu_us_per_ok;
  }
  json::object doc{
      {"format", result_format},
      {"scenario", result.scenario},
      {"scenario_file", result.scenario_file},
      {"description", result.description},
      {"started_at", result.started_at},
      {"partial", result.partial},
      {"command", result.command},
      {"machine", json::object{{"hostname", result.machine.hostname},
                               {"cpu_model", result.machine.cpu_model},
                               {"cpus", result.machine.cpus},
                               {"kernel", result.machine.kernel}}},
      {"runs", runs},
      {"server", server}};
  return json::serialize(doc) + "\n";
}

std::variant<bench_result, std::string> from_json(const std::string& text) {
  boost::system::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return std::string{"not a JSON object"};
  const auto& o = doc.as_object();
  if (text_of(o.if_contains("format")) != result_format)
    return "not a " + std::string{result_format} + " file (\"format\")";
  bench_result r;
  r.scenario = text_of(o.if_contains("scenario"));
  r.started_at = text_of(o.if_contains("started_at"));
  const auto* partial = o.if_contains("partial");
  r.partial = partial != nullptr && partial->is_bool() && partial->as_bool();
  const auto* runs = o.if_contains("runs");
  if (runs == nullptr || !runs->is_array()) return std::string{"no \"runs\" array"};
  for (const auto& v : runs->as_array()) {
    if (!v.is_object()) return std::string{"a run is not an object"};
    const auto& ro = v.as_object();
    run_summary s;
    s.name = text_of(ro.if_contains("name"));
    s.role = text_of(ro.if_contains("role"));
    s.throughput_per_s = number_of(ro.if_contains("throughput_per_s"));
    s.ok = static_cast<std::uint64_t>(number_of(ro.if_contains("ok")));
    s.errors = static_cast<std::uint64_t>(number_of(ro.if_contains("errors")));
    if (const auto* l = ro.if_contains("latency_us"); l != nullptr && l->is_object()) {
      const auto& lo = l->as_object();
      s.latency = {number_of(lo.if_contains("p50")),   number_of(lo.if_contains("p90")),
                   number_of(lo.if_contains("p99")),   number_of(lo.if_contains("p99_9")),
                   number_of(lo.if_contains("max")),   number_of(lo.if_contains("mean"))};
    } else {
      return "run \"" + s.name + "\" has no \"latency_us\"";
    }
    if (s.name.empty()) return std::string{"a run has no \"name\""};
    r.runs.push_back(std::move(s));
  }
  return r;
}

std::string to_markdown(const bench_result& r) {
  std::string md = fmt::format("# Bench: {}{}\n\n", r.scenario, r.partial ? " (PARTIAL: stopped early)" : "");
  if (!r.description.empty()) md += r.description + "\n\n";
  md += fmt::format("- scenario file: `{}`\n- started: {} UTC\n- command: `{}`\n", r.scenario_file,
                    r.started_at, r.command);
  md += fmt::format("- machine: {}, {} CPUs ({}), {}\n\n", r.machine.hostname, r.machine.cpus,
                    r.machine.cpu_model, r.machine.kernel);
  md += "| run | mode | sessions | ok | errors | throughput/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& run : r.runs) {
    const auto mode = run.mode == "open" ? fmt::format("open {}/s", thousands(run.rate_per_s))
                                         : std::string{"closed"};
    md += fmt::format("| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", run.name,
                      run.stopped_early ? " (partial)" : "", mode, run.connected,
                      thousands(static_cast<double>(run.ok)),
                      thousands(static_cast<double>(run.errors)), thousands(run.throughput_per_s),
                      thousands(run.latency.p50), thousands(run.latency.p90),
                      thousands(run.latency.p99), thousands(run.latency.p999),
                      thousands(run.latency.max));
  }
  const run_summary* target = nullptr;
  for (const auto& run : r.runs)
    if (run.role == "target") target = &run;
  for (const auto& run : r.runs) {
    if (run.role != "baseline" || target == nullptr) continue;
    md += fmt::format(
        "\nTarget / {}: throughput {}, p50 {}, p99 {}, p99.9 {} (p99 {:+.0f} µs)\n", run.name,
        ratio(target->throughput_per_s, run.throughput_per_s),
        ratio(target->latency.p50, run.latency.p50), ratio(target->latency.p99, run.latency.p99),
        ratio(target->latency.p999, run.latency.p999), target->latency.p99 - run.latency.p99);
  }
  md += "\nErrors by code:\n\n";
  bool any = false;
  for (const auto& run : r.runs)
    for (const auto& [code, n] : run.errors_by_code) {
      md += fmt::format("- {}: `{}` × {}\n", run.name, code, n);
      any = true;
    }
  if (!any) md += "- none\n";
  md += "\nServer (from the node's /metrics, before → at the end of the load with its sessions "
        "open → after they closed):\n\n";
  if (!r.server.scraped) {
    md += "- not scraped: " + r.server.note + "\n";
  } else {
    const auto& b = r.server.before;
    const auto& a = r.server.after;
    md += fmt::format("- restarts: {} → {} ({:+})\n", b.restarts_total, a.restarts_total,
                      a.restarts_total - b.restarts_total);
    const auto& l = r.server.loaded;
    md += fmt::format("- deepest mailbox: {} ({}) → {} ({}) → {} ({})\n", b.mailbox_depth_max,
                      b.mailbox_depth_max_path, l.mailbox_depth_max, l.mailbox_depth_max_path,
                      a.mailbox_depth_max, a.mailbox_depth_max_path);
    if (a.rss_bytes && b.rss_bytes && l.rss_bytes) {
      md += fmt::format("- resident memory: {:.1f} MiB → {:.1f} MiB → {:.1f} MiB\n",
                        static_cast<double>(*b.rss_bytes) / 1048576.0,
                        static_cast<double>(*l.rss_bytes) / 1048576.0,
                        static_cast<double>(*a.rss_bytes) / 1048576.0);
      for (const auto& run : r.runs)
        if (run.role == "target" && run.connected > 0)
          md += fmt::format("- resident memory per open session: {:.2f} KiB ({} sessions)\n",
                            static_cast<double>(*l.rss_bytes - *b.rss_bytes) / 1024.0 /
                                static_cast<double>(run.connected),
                            run.connected);
    } else
      md += "- resident memory: not exposed by this node\n";
    if (r.server.load_cpu_cores)
      md += fmt::format(
          "- CPU over the measured load: {:.2f} cores{}\n", *r.server.load_cpu_cores,
          r.server.load_cpu_us_per_ok
              ? fmt::format(", {:.0f} µs per answered request", *r.server.load_cpu_us_per_ok)
              : std::string{});
    else
      md += "- CPU: not exposed by this node\n";
  }
  for (const auto& run : r.runs)
    if (run.server_rss_kib)
      md += fmt::format("- {} server resident memory with its {} sessions open: {:.1f} MiB\n",
                        run.name, run.connected, *run.server_rss_kib / 1024.0);
  const bool open = !r.runs.empty() && r.runs.front().mode == "open";
  md += fmt::format(
      "\nLatency is measured from each request's {}; percentiles carry at most {:.2f}% relative "
      "error. Client send lag p99 (how late the client sent against its schedule; large: the "
      "client or the shared CPU limited the run): ",
      open ? "intended send time (open loop: no coordinated omission)"
           : "send (closed loop: the figures of a saturated server)",
      100.0 * (r.runs.empty() ? 0 : r.runs.front().histogram_relative_error));
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    md += fmt::format("{}{} {} µs", i ? ", " : "", r.runs[i].name, thousands(r.runs[i].send_lag_p99_us));
  md += ".\n\nPlot: `latency.svg`. Result: `result.json`.\n";
  return md;
}

std::string to_svg(const bench_result& r) {
  constexpr double width = 1000, height = 420, panel_w = 420, panel_h = 300;
  constexpr double left1 = 70, left2 = 540, top = 60;
  static constexpr const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
  double lo = 1e18, hi = 0, t_max = 1;
  for (const auto& run : r.runs) {
    for (const auto& t : run.timeline)
      if (t.count > 0) {
        lo = std::min(lo, std::max(t.p50_us, 1.0));
        hi = std::max(hi, t.max_us);
        t_max = std::max(t_max, t.t_s + 1);
      }
    for (const auto& [q, v] : run.percentile_curve_us) {
      lo = std::min(lo, std::max(v, 1.0));
      hi = std::max(hi, v);
    }
  }
  if (hi <= 0) {
    lo = 1;
    hi = 10;
  }
  const double log_lo = std::floor(std::log10(lo)), log_hi = std::max(std::ceil(std::log10(hi)), log_lo + 1);
  auto y_of = [&](double v) {
    const double l = std::log10(std::max(v, 1.0));
    return top + panel_h - (l - log_lo) / (log_hi - log_lo) * panel_h;
  };
  constexpr double max_nines = 5;  // 99.999%
  auto x_curve = [&](double q) {
    const double nines = q >= 1 ? max_nines : std::min(max_nines, -std::log10(1 - q));
    return left2 + nines / max_nines * panel_w;
  };
  auto x_time = [&](double t) { return left1 + t / t_max * panel_w; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  svg += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"15\">{}{}</text>\n", left1,
                     xml_escape(r.scenario), r.partial ? " (partial)" : "");
  svg += fmt::format("<text x=\"{}\" y=\"{}\">latency over time: p50 solid, p99 dashed (µs, log)</text>\n",
                     left1, top - 8);
  svg += fmt::format("<text x=\"{}\" y=\"{}\">percentile curve (µs, log)</text>\n", left2, top - 8);
  for (double left : {left1, left2}) {
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
                       left, top, panel_w, panel_h);
    for (double d = log_lo; d <= log_hi; d += 1) {
      const double y = y_of(std::pow(10.0, d));
      svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left, y,
                         left + panel_w, y);
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 4, y + 4,
                         thousands(std::pow(10.0, d)));
    }
  }
  for (int s = 0; s <= 4; ++s) {
    const double t = t_max * s / 4;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.0f} s</text>\n", x_time(t),
                       top + panel_h + 16, t);
  }
  for (double nines = 0; nines <= max_nines; nines += 1) {
    const double q = 1 - std::pow(10.0, -nines);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x_curve(q),
                       top + panel_h + 16, nines == 0 ? std::string{"0%"} : fmt::format("{:g}%", 100 * q));
  }
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const auto& run = r.runs[i];
    const auto* color = colors[i % 4];
    std::string p50, p99, curve;
    for (const auto& t : run.timeline) {
      if (t.count == 0) continue;
      p50 += fmt::format("{:.1f},{:.1f} ", x_time(t.t_s + 0.5), y_of(t.p50_us));
      p99 += fmt::format("{:.1f},{:.1f} ", x_time(t.t_s + 0.5), y_of(t.p99_us));
    }
    for (const auto& [q, v] : run.percentile_curve_us)
      curve += fmt::format("{:.1f},{:.1f} ", x_curve(q), y_of(v));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", color, p50);
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\" points=\"{}\"/>\n",
                       color, p99);
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", color, curve);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{}\"/>\n", left1 + 200.0 * static_cast<double>(i),
                       height - 30, color);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}: p99 {} µs, {}/s</text>\n", left1 + 200.0 * static_cast<double>(i) + 16,
                       height - 25, xml_escape(run.name), thousands(run.latency.p99),
                       thousands(run.throughput_per_s));
  }
  svg += "</svg>\n";
  return svg;
}

std::string compare(const bench_result& a, const std::string& a_name, const bench_result& b,
                    const std::string& b_name) {
  std::string out = fmt::format("A: {} ({}, {}{})\nB: {} ({}, {}{})\n\n", a_name, a.scenario,
                                a.started_at, a.partial ? ", partial" : "", b_name, b.scenario,
                                b.started_at, b.partial ? ", partial" : "");
  out += fmt::format("{:<12} {:<16} {:>14} {:>14} {:>8}\n", "run", "figure", "A", "B", "B/A");
  bool any = false;
  for (const auto& ra : a.runs) {
    const auto it = std::find_if(b.runs.begin(), b.runs.end(),
                                 [&](const run_summary& rb) { return rb.name == ra.name; });
    if (it == b.runs.end()) {
      out += fmt::format("{:<12} only in A\n", ra.name);
      continue;
    }
    any = true;
    const auto& rb = *it;
    auto row = [&](const char* figure, double x, double y) {
      out += fmt::format("{:<12} {:<16} {:>14} {:>14} {:>8}\n", ra.name, figure, thousands(x),
                         thousands(y), x > 0 ? fmt::format("{:.2f}", y / x) : std::string{"-"});
    };
    row("throughput/s", ra.throughput_per_s, rb.throughput_per_s);
    row("p50 us", ra.latency.p50, rb.latency.p50);
    row("p90 us", ra.latency.p90, rb.latency.p90);
    row("p99 us", ra.latency.p99, rb.latency.p99);
    row("p99.9 us", ra.latency.p999, rb.latency.p999);
    row("max us", ra.latency.max, rb.latency.max);
    row("errors", static_cast<double>(ra.errors), static_cast<double>(rb.errors));
  }
  for (const auto& rb : b.runs)
    if (std::none_of(a.runs.begin(), a.runs.end(),
                     [&](const run_summary& ra) { return ra.name == rb.name; }))
      out += fmt::format("{:<12} only in B\n", rb.name);
  if (!any) out += "(no run name in common)\n";
  return out;
}

}  // namespace superapp::bench
