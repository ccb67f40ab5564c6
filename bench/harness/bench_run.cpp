// The run of one scenario: baseline process, preflight, data set, runs, result files.
#include "bench/harness/bench_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "bench/harness/baseline.hpp"
#include "bench/harness/load_engine.hpp"
#include "bench/harness/report.hpp"
#include "protocols/assert.hpp"

namespace superapp::bench {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;

constexpr auto preflight_timeout = std::chrono::seconds{5};
constexpr auto dataset_time_limit = std::chrono::minutes{10};

// One connection making requests one at a time: the preflight and the data set.
class call_session {
 public:
  bool open(const ws_target& target, upgrade_headers headers, std::string& failure) {
    connector_ = std::make_unique<ws_connector>(
        io_, target, 1, 1, [h = std::move(headers)](std::size_t) { return h; },
        std::chrono::duration_cast<std::chrono::milliseconds>(preflight_timeout));
    connector_->open(
        1, [&](std::size_t, ws_connector::stream& ws) { ws_ = &ws; },
        [&](std::size_t, const std::string& why) { failure = why; });
    io_.run();
    return ws_ != nullptr;
  }

  // Sends one request and waits for the reply with its id.
  // `raw` (when given) receives the reply frame.
  std::optional<reply_view> call(const std::string& frame, std::uint64_t id, std::string& failure,
                                 std::string* raw = nullptr) {
    std::optional<reply_view> reply;
    beast::get_lowest_layer(*ws_).expires_after(preflight_timeout);
    ws_->text(true);
    std::function<void()> read_one = [&] {
      ws_->async_read(buffer_, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          failure = ec == beast::error::timeout ? "no reply within 5 s" : ec.message();
          return;
        }
        auto text = beast::buffers_to_string(buffer_.data());
        auto r = read_reply(text);
        buffer_.consume(buffer_.size());
        if (r.has_id && r.id == id) {
          reply = std::move(r);
          if (raw != nullptr) *raw = std::move(text);
          return;
        }
        read_one();  // a push or another reply: keep reading
      });
    };
    ws_->async_write(net::buffer(frame), [&](beast::error_code ec, std::size_t) {
      if (ec) failure = ec.message();
      else read_one();
    });
    io_.restart();
    io_.run();
    beast::get_lowest_layer(*ws_).expires_never();
    return reply;
  }

  void close() {
    if (ws_ == nullptr) return;
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
    ws_ = nullptr;
  }

 private:
  net::io_context io_{1};
  std::unique_ptr<ws_connector> connector_;
  ws_connector::stream* ws_ = nullptr;
  beast::flat_buffer buffer_;
};

std::string utc_now(const char* format) {
  const auto now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[64];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

// Tokens per user and device, minted once; sessions of one user on one device share a token.
// Session i's user and device depend only on i modulo users x devices_per_user.
class token_cache {
 public:
  token_cache(const scenario& s, const bench_environment& env) : s_(s), env_(env) {}
  bool mint(std::size_t sessions, std::string& failure) {
    const auto pairs = std::min<std::size_t>(std::size_t{s_.users} * s_.devices_per_user, sessions);
    tokens_.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      tokens_[i] = env_.token_for(user_of_session(s_, i), device_of_session(s_, i), failure);
      if (tokens_[i].empty()) return false;
    }
    return true;
  }
  upgrade_headers headers(std::size_t session) const {
    return {tokens_[session % tokens_.size()], device_of_session(s_, session)};
  }

 private:
  const scenario& s_;
  const bench_environment& env_;
  std::vector<std::string> tokens_;
};

struct preflight_request {
  std::string op;
  std::string body_json;
  bool idempotency_key;
};

// Every op of the load, once, as user 0, after the data set (a transfer's payee must have its
// wallet): an op the node does not serve stops the run here with one line, before any load.
std::optional<std::string> preflight(const scenario& s, const bench_environment& env,
                                     const token_cache& tokens, std::uint64_t& next_id,
                                     const std::string& key_prefix) {
  call_session session;
  std::string failure;
  if (!session.open(env.target, tokens.headers(0), failure))
    return fmt::format("cannot reach {}: {}", env.target.url(), failure);
  std::vector<preflight_request> requests;
  std::set<std::string> seen;
  for (const auto& op : s.ops)
    if (seen.insert(op.op).second) requests.push_back({op.op, op.body_json, op.idempotency_key});
  std::vector<std::string> missing;
  for (const auto& r : requests) {
    const auto id = next_id++;
    const auto frame =
        request_frame(id, op_mix_entry{r.op, 1, r.body_json, r.idempotency_key},
                      user_of_session(s, 0), device_of_session(s, 0), key_prefix,
                      frame_extras{next_user_of_session(s, 0), nullptr, &env.approve});
    const auto reply = session.call(frame, id, failure);
    if (!reply) return fmt::format("preflight: {} on {}: {}", r.op, env.target.url(), failure);
    if (reply->error_code == "unknown_op") {
      missing.push_back("\"" + r.op + "\"");
      continue;
    }
    if (!reply->error_code.empty())
      return fmt::format("preflight: op \"{}\" was refused with {} ({}); fix the scenario or the "
                         "target before loading it",
                         r.op, reply->error_code, reply->error_message);
  }
  if (!missing.empty())
    return fmt::format(
        "the target does not serve op {} (unknown_op): scenario \"{}\" cannot run against {} "
        "until {} exist{}",
        fmt::join(missing, ", "), s.name, env.target.url(), missing.size() == 1 ? "it" : "they",
        missing.size() == 1 ? "s" : "");
  session.close();
  return std::nullopt;
}

// The value at `path` ("accounts.0.account_id") in a reply frame's body, as text.
std::optional<std::string> reply_field(const std::string& frame, const std::string& path) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(frame, ec);
  const boost::json::value* at =
      ec || !doc.is_object() ? nullptr : doc.as_object().if_contains("body");
  for (std::size_t from = 0; at != nullptr && from <= path.size();) {
    auto dot = path.find('.', from);
    if (dot == std::string::npos) dot = path.size();
    const auto step = path.substr(from, dot - from);
    from = dot + 1;
    if (const auto* o = at->if_object()) {
      at = o->if_contains(step);
    } else if (const auto* a = at->if_array()) {
      std::size_t i = 0;
      auto [end, err] = std::from_chars(step.data(), step.data() + step.size(), i);
      at = err == std::errc{} && end == step.data() + step.size() && i < a->size() ? &(*a)[i]
                                                                                   : nullptr;
    } else {
      at = nullptr;
    }
  }
  if (at == nullptr) return std::nullopt;
  if (const auto* text = at->if_string()) return std::string{*text};
  return boost::json::serialize(*at);
}

// One user's data set, in order, on one session: captures kept for the later requests, and a
// request with `until` asked again until its reply says so.
std::optional<std::string> create_user_data(const scenario& s, const bench_environment& env,
                                            std::size_t u, std::uint64_t& next_id,
                                            const std::string& key_prefix) {
  const auto user = user_of_session(s, u);
  std::string failure;
  const auto token = env.token_for(user, device_of_session(s, u), failure);
  if (token.empty()) return "data set: " + failure;
  call_session session;
  if (!session.open(env.target, {token, device_of_session(s, u)}, failure))
    return fmt::format("data set: cannot reach {}: {}", env.target.url(), failure);
  std::vector<std::pair<std::string, std::string>> vars;
  const frame_extras extras{next_user_of_session(s, u), &vars, &env.approve};
  for (const auto& r : s.per_user_setup) {
    const auto give_up =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds{static_cast<std::int64_t>(r.until_within_s * 1000)};
    std::string raw;
    for (;;) {
      const auto id = next_id++;
      const auto frame = request_frame(id, op_mix_entry{r.op, 1, r.body_json, r.idempotency_key},
                                       user, device_of_session(s, u), key_prefix, extras);
      const auto reply = session.call(frame, id, failure, &raw);
      if (!reply) return fmt::format("data set: {} for {}: {}", r.op, user, failure);
      if (reply->error_code == "unknown_op")
        return fmt::format(
            "the target does not serve op \"{}\" (unknown_op), which the data set "
            "of scenario \"{}\" needs",
            r.op, s.name);
      if (!reply->error_code.empty())
        return fmt::format("data set: {} for {} was refused with {} ({})", r.op, user,
                           reply->error_code, reply->error_message);
      if (r.until_path.empty() || reply_field(raw, r.until_path) == r.until_equals) break;
      if (std::chrono::steady_clock::now() > give_up)
        return fmt::format("data set: {} for {}: {} was not \"{}\" within {} s (last reply: {})",
                           r.op, user, r.until_path, r.until_equals, r.until_within_s, raw);
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    for (const auto& [name, path] : r.capture) {
      auto value = reply_field(raw, path);
      if (!value)
        return fmt::format("data set: {} for {}: the reply has no {} to capture as {} ({})", r.op,
                           user, path, name, raw);
      vars.emplace_back(name, std::move(*value));
    }
  }
  session.close();
  return std::nullopt;
}

// The data set: each user's setup requests, as that user. User 0 goes first, alone: a setup
// op the target lacks or refuses stops the run there.
std::optional<std::string> create_dataset(const scenario& s, const bench_environment& env,
                                          std::uint64_t& next_id, const std::string& key_prefix,
                                          std::FILE* progress) {
  if (s.per_user_setup.empty()) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + dataset_time_limit;
  for (std::uint32_t u = 0; u < s.users; ++u) {
    if (std::chrono::steady_clock::now() > deadline)
      return fmt::format("data set: {} users not created within {} minutes", s.users - u,
                         dataset_time_limit.count());
    if (env.stop_requested != nullptr && env.stop_requested->load())
      return std::string{"data set: stopped by Ctrl-C"};
    if (auto why = create_user_data(s, env, u, next_id, key_prefix)) return why;
    if ((u + 1) % 1000 == 0) std::fprintf(progress, "[dataset] %u/%u users\n", u + 1, s.users);
  }
  return std::nullopt;
}

load_plan plan_for(const scenario& s, const ws_target& target, const token_cache& tokens,
                   const bench_environment& env, const std::string& run_name) {
  load_plan plan;
  plan.target = target;
  plan.mode = s.mode;
  plan.rate_per_s = s.rate_per_s;
  plan.ramp = std::chrono::nanoseconds{static_cast<std::int64_t>(s.ramp_s * 1e9)};
  plan.duration = std::chrono::nanoseconds{static_cast<std::int64_t>(s.duration_s * 1e9)};
  plan.sessions = s.sessions;
  plan.source_addresses = s.source_addresses;
  plan.in_flight_per_session = s.in_flight_per_session;
  plan.request_timeout = std::chrono::milliseconds{s.request_timeout_ms};
  plan.ops = s.ops;
  plan.headers = [&tokens](std::size_t i) { return tokens.headers(i); };
  plan.user_of = [&s](std::size_t i) { return user_of_session(s, i); };
  plan.device_of = [&s](std::size_t i) { return device_of_session(s, i); };
  plan.next_user_of = [&s](std::size_t i) { return next_user_of_session(s, i); };
  plan.approve = env.approve;
  plan.stop_requested = env.stop_requested;
  const bool tty = ::isatty(::fileno(env.progress)) != 0;
  plan.on_progress = [&env, run_name, tty](const load_progress& p) {
    std::fprintf(env.progress, "%s[%s] %5.1f/%.0f s  %9.0f/s  ok %llu  errors %llu  p99 %.0f us%s",
                 tty ? "\r" : "", run_name.c_str(), p.elapsed_s, p.duration_s, p.rate_per_s,
                 static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.errors),
                 static_cast<double>(p.p99_ns) / 1e3, tty ? "   " : "\n");
    std::fflush(env.progress);
  };
  return plan;
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out{path, std::ios::trunc};
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

std::string user_of_session(const scenario& s, std::size_t session) {
  return "bench-user-" + std::to_string(session % s.users);
}

std::string next_user_of_session(const scenario& s, std::size_t session) {
  return "bench-user-" + std::to_string((session % s.users + 1) % s.users);
}

std::string device_of_session(const scenario& s, std::size_t session) {
  return fmt::format("bench-device-{}-{}", session % s.users,
                     (session / s.users) % s.devices_per_user);
}

bench_outcome run_bench(const scenario& s, const bench_environment& env) {
  bench_outcome outcome;
  auto fail = [&](std::string why) {
    outcome.exit_status = 1;
    outcome.failure = std::move(why);
    return outcome;
  };
  // Fork the baseline's server before anything here starts a thread.
  std::unique_ptr<ws_baseline> baseline;
  if (s.baseline) {
    SUPERAPP_ASSERT(s.baseline->kind == "ws_echo");  // the parser admits implemented kinds only
    baseline = start_ws_echo_baseline(s.baseline->io_threads);
  }
  const auto nofile = raise_open_file_limit();
  if (nofile < s.sessions + 64u)
    return fail(fmt::format("{} sessions need {} open files; this process may have {} "
                            "(raise the hard limit: ulimit -Hn)",
                            s.sessions, s.sessions + 64, nofile));

  bench_result result;
  result.scenario = s.name;
  result.scenario_file = s.source;
  result.description = s.description;
  result.started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  result.command = env.command;
  result.machine = this_machine();

  token_cache tokens{s, env};
  std::string failure;
  if (!tokens.mint(s.sessions, failure)) return fail(failure);
  std::uint64_t next_id = 1;
  const auto key_prefix = fresh_key_prefix();  // the setup's keys; each run makes its own
  if (s.chaos)
    return fail(fmt::format(
        "scenario \"{}\" needs a {} in domain \"{}\", and the node's admin API has no chaos "
        "control yet (it comes with the operators' dashboard); nothing was run",
        s.name, s.chaos->action == "crash_loop" ? "crash loop" : s.chaos->action, s.chaos->domain));
  // The data set first: the load's ops may need every user's data (a payee's wallet).
  if (auto why = create_dataset(s, env, next_id, key_prefix, env.progress)) return fail(*why);
  if (auto why = preflight(s, env, tokens, next_id, key_prefix)) return fail(*why);

  auto run_baseline = [&] {
    if (!baseline || (env.stop_requested && env.stop_requested->load())) return;
    auto target = parse_ws_target(baseline->url());
    SUPERAPP_ASSERT(target.has_value());
    auto plan = plan_for(s, *target, tokens, env, std::string{baseline->kind()});
    double rss_kib = 0;
    plan.before_close = [&] { rss_kib = baseline->rss_kib(); };
    const auto figures = run_load(plan);
    auto summary = summarize(std::string{baseline->kind()}, "baseline", baseline->url(),
                             baseline->description(), s, figures);
    if (rss_kib > 0) summary.server_rss_kib = rss_kib;
    result.runs.push_back(std::move(summary));
  };
  if (s.baseline && s.baseline->before) run_baseline();

  auto scrape = [&](node_snapshot& into) {
    if (!env.fetch_metrics) return false;
    auto text = env.fetch_metrics(failure);
    if (!text) {
      result.server.note = "GET /metrics failed: " + failure;
      return false;
    }
    into = parse_node_metrics(*text);
    return true;
  };
  result.server.note = env.metrics_note;
  const bool before_ok = scrape(result.server.before);
  bool loaded_ok = false;
  if (!(env.stop_requested && env.stop_requested->load())) {
    auto plan = plan_for(s, env.target, tokens, env, "target");
    // The node's CPU time when the measured load begins and when it ends (replies in).
    node_snapshot at_begin;
    bool begin_ok = false;
    auto begin_time = std::chrono::steady_clock::now(), end_time = begin_time;
    plan.on_begin = [&] {
      begin_ok = before_ok && scrape(at_begin);
      begin_time = std::chrono::steady_clock::now();
    };
    plan.before_close = [&] {
      end_time = std::chrono::steady_clock::now();
      loaded_ok = before_ok && scrape(result.server.loaded);
    };
    const auto figures = run_load(plan);
    if (figures.connected == 0)
      return fail(fmt::format("cannot reach {}: {}", env.target.url(),
                              figures.first_connect_failure));
    result.runs.push_back(
        summarize("target", "target", env.target.url(), "the scenario's target", s, figures));
    const double wall_s = std::chrono::duration<double>(end_time - begin_time).count();
    if (begin_ok && loaded_ok && at_begin.cpu_seconds && result.server.loaded.cpu_seconds &&
        wall_s > 0) {
      const double cpu_s = *result.server.loaded.cpu_seconds - *at_begin.cpu_seconds;
      result.server.load_cpu_cores = cpu_s / wall_s;
      if (result.runs.back().ok > 0)
        result.server.load_cpu_us_per_ok = cpu_s * 1e6 / static_cast<double>(result.runs.back().ok);
    }
  }
  result.server.scraped = loaded_ok && scrape(result.server.after);
  if (s.baseline && !s.baseline->before) run_baseline();
  baseline.reset();

  const bool stopped = env.stop_requested != nullptr && env.stop_requested->load();
  result.partial = stopped;
  for (const auto& r : result.runs) result.partial = result.partial || r.stopped_early;

  const auto dir = std::filesystem::path{env.out_dir} /
                   (s.name + "-" + utc_now("%Y%m%d-%H%M%S") + (result.partial ? "-partial" : ""));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const auto markdown = to_markdown(result);
  if (!write_file(dir / "result.json", to_json(result)) ||
      !write_file(dir / "summary.md", markdown) || !write_file(dir / "latency.svg", to_svg(result)))
    return fail("cannot write the result files in " + dir.string());
  std::fprintf(env.out, "%s\nresults: %s/{result.json,summary.md,latency.svg}\n", markdown.c_str(),
               dir.string().c_str());
  outcome.result_dir = dir.string();
  if (result.partial) outcome.exit_status = 130;
  return outcome;
}

}  // namespace superapp::bench
