// The load engine: sessions on one io thread, a pacer for the open loop, replies matched by id.
#include "bench/harness/load_engine.hpp"

#include <algorithm>
#include <charconv>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <deque>
#include <fmt/format.h>
#include <random>
#include <optional>
#include <unordered_set>

#include "bench/harness/open_loop_schedule.hpp"
#include "protocols/assert.hpp"

namespace superapp::bench {

namespace beast = boost::beast;
namespace net = boost::asio;
using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

namespace {

constexpr auto housekeeping_interval = std::chrono::milliseconds{100};
constexpr auto max_drain = std::chrono::seconds{5};
constexpr std::size_t max_connects_in_flight = 256;  // stays under the listen backlog

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

struct session_state {
  beast::flat_buffer in;
  std::deque<std::string> out;
  bool writing = false;
  bool alive = false;
  std::unordered_set<std::uint64_t> ids;  // requests this session carries
};

}  // namespace

op_chooser::op_chooser(const std::vector<op_mix_entry>& ops, std::uint64_t seed) : state_(seed) {
  SUPERAPP_ASSERT(!ops.empty());
  std::uint64_t total = 0;
  for (const auto& op : ops) {
    SUPERAPP_ASSERT(op.weight > 0);
    total += op.weight;
    cumulative_.push_back(total);
  }
}

std::uint32_t op_chooser::next() {
  const auto pick = splitmix64(state_) % cumulative_.back();
  return static_cast<std::uint32_t>(
      std::upper_bound(cumulative_.begin(), cumulative_.end(), pick) - cumulative_.begin());
}

std::string fresh_key_prefix() {
  std::random_device entropy;
  std::uint64_t state = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy() ^
                        static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
  return fmt::format("bench-{:016x}-", splitmix64(state));
}

std::string request_frame(std::uint64_t id, const op_mix_entry& op, const std::string& user,
                          const std::string& device, std::string_view key_prefix,
                          const frame_extras& extras) {
  std::string body = op.body_json;
  if (body.find("${") != std::string::npos) {
    replace_all(body, "${user}", user);
    replace_all(body, "${device}", device);
    if (!extras.next_user.empty()) replace_all(body, "${next_user}", extras.next_user);
    if (extras.vars != nullptr)
      for (const auto& [name, value] : *extras.vars) replace_all(body, "${" + name + "}", value);
    if (extras.approve != nullptr && *extras.approve &&
        body.find("${approval}") != std::string::npos)
      replace_all(body, "${approval}", (*extras.approve)(user, device, op.op, body));
  }
  std::string frame = R"({"id":)" + std::to_string(id) + R"(,"op":")" + op.op +
                      R"(","body":)" + body;
  if (op.idempotency_key)
    frame += R"(,"idempotency_key":")" + std::string{key_prefix} + std::to_string(id) + "\"";
  frame += '}';
  return frame;
}

reply_view read_reply(std::string_view frame) {
  reply_view out;
  // Fast path for the frames the gateway and the echo write, {"id":N,"ok":true,... or
  // {"id":N,"op":...: the client reads one reply per request, and a full JSON parse of each
  // would make it, not the server, the bottleneck on 2 cores. Anything else is parsed fully.
  constexpr std::string_view id_prefix = R"({"id":)";
  if (frame.starts_with(id_prefix)) {
    const auto* begin = frame.data() + id_prefix.size();
    const auto* end = frame.data() + frame.size();
    std::uint64_t id = 0;
    const auto [next, ec] = std::from_chars(begin, end, id);
    const std::string_view rest{next, static_cast<std::size_t>(end - next)};
    if (ec == std::errc{} && next != begin &&
        (rest.starts_with(R"(,"ok":true)") || rest.starts_with(R"(,"op":")"))) {
      out.readable = out.has_id = true;
      out.id = id;
      return out;
    }
  }
  boost::system::error_code ec;
  auto value = boost::json::parse(frame, ec);
  if (ec || !value.is_object()) return out;
  const auto& obj = value.as_object();
  out.readable = true;
  const auto* id = obj.if_contains("id");
  if (id == nullptr || !id->is_int64() || id->as_int64() < 0) return out;
  out.id = static_cast<std::uint64_t>(id->as_int64());
  out.has_id = true;
  const auto* ok = obj.if_contains("ok");
  if (ok != nullptr && ok->is_bool() && !ok->as_bool()) {
    out.error_code = "error";
    if (const auto* err = obj.if_contains("error"); err != nullptr && err->is_object()) {
      if (const auto* code = err->as_object().if_contains("code"); code && code->is_string())
        out.error_code = std::string{code->as_string()};
      if (const auto* text = err->as_object().if_contains("message"); text && text->is_string())
        out.error_message = std::string{text->as_string()};
    }
  }
  return out;
}

load_figures run_load(const load_plan& plan) {
  SUPERAPP_ASSERT(!plan.ops.empty());
  SUPERAPP_ASSERT(plan.sessions > 0);
  SUPERAPP_ASSERT(plan.mode == load_mode::closed_loop || plan.rate_per_s > 0);
  net::io_context io{1};
  ws_connector conns{io,
                     plan.target,
                     plan.source_addresses,
                     max_connects_in_flight,
                     plan.headers,
                     plan.connect_timeout};
  load_figures fig{plan.ops.size()};
  auto& book = fig.book;
  std::vector<session_state> sessions(plan.sessions);
  std::vector<std::string> users(plan.sessions), devices(plan.sessions);
  std::vector<frame_extras> extras(plan.sessions);
  for (std::size_t i = 0; i < plan.sessions; ++i) {
    users[i] = plan.user_of ? plan.user_of(i) : "bench-user-" + std::to_string(i);
    devices[i] = plan.device_of ? plan.device_of(i) : "bench-device-" + std::to_string(i);
    if (plan.next_user_of) extras[i].next_user = plan.next_user_of(i);
    if (plan.approve) extras[i].approve = &plan.approve;
  }
  std::optional<open_loop_schedule> schedule;
  if (plan.mode == load_mode::open_loop)
    schedule.emplace(plan.rate_per_s, plan.ramp, plan.duration);
  op_chooser chooser{plan.ops, plan.seed};
  const auto key_prefix =
      plan.idempotency_key_prefix.empty() ? fresh_key_prefix() : plan.idempotency_key_prefix;

  steady::time_point t0 = steady::now();
  auto since = [&] { return std::chrono::duration_cast<ns>(steady::now() - t0); };
  net::steady_timer pacer{io}, end_timer{io}, housekeeping{io}, drain{io};
  bool started = false, ending = false, finished = false;
  std::uint32_t settled = 0, alive = 0;
  std::uint64_t next_n = 0, next_id = 1;
  std::size_t round_robin = 0;
  ns last_progress{0};
  std::uint64_t last_answered = 0;

  std::function<void(std::size_t)> write_next, read_next;
  std::function<void()> finish, end_run;

  auto session_failed = [&](std::size_t i) {
    auto& s = sessions[i];
    if (!s.alive) return;
    s.alive = false;
    --alive;
    for (auto id : s.ids) book.abandon(id, closed_code);
    s.ids.clear();
    beast::error_code ignored;
    beast::get_lowest_layer(*conns.streams()[i]).socket().close(ignored);
    if (alive == 0 && started && !ending) end_run();
  };
  auto send = [&](std::size_t i, std::uint32_t op, ns intended) {
    auto& s = sessions[i];
    const auto id = next_id++;
    s.out.push_back(request_frame(id, plan.ops[op], users[i], devices[i], key_prefix, extras[i]));
    s.ids.insert(id);
    book.sent(id, op, intended, since());
    if (!s.writing) write_next(i);
  };
  write_next = [&](std::size_t i) {
    auto& s = sessions[i];
    s.writing = true;
    auto& ws = *conns.streams()[i];
    ws.text(true);
    ws.async_write(net::buffer(s.out.front()), [&, i](beast::error_code ec, std::size_t) {
      auto& st = sessions[i];
      st.writing = false;
      if (finished) return;
      if (ec) return session_failed(i);
      st.out.pop_front();
      if (!st.out.empty()) write_next(i);
    });
  };
  read_next = [&](std::size_t i) {
    auto& ws = *conns.streams()[i];
    ws.async_read(sessions[i].in, [&, i](beast::error_code ec, std::size_t) {
      if (finished) return;
      if (ec) return session_failed(i);
      auto& s = sessions[i];
      const auto reply = read_reply(beast::buffers_to_string(s.in.data()));
      s.in.consume(s.in.size());
      if (!reply.readable) {
        book.not_sent(0, since(), bad_reply_code);
      } else if (!reply.has_id) {
        // A server push (an event on a subscribed topic): not a reply to anything.
      } else if (book.answered(reply.id, since(), reply.error_code)) {
        s.ids.erase(reply.id);
        if (plan.mode == load_mode::closed_loop && !ending) send(i, chooser.next(), since());
      } else {
        s.ids.erase(reply.id);  // timed out before it came
      }
      if (ending && book.in_flight() == 0) return finish();
      read_next(i);
    });
  };
  auto pick_session = [&]() -> std::optional<std::size_t> {
    for (std::size_t tries = 0; tries < sessions.size(); ++tries) {
      const auto i = round_robin++ % sessions.size();
      if (sessions[i].alive) return i;
    }
    return std::nullopt;
  };
  std::function<void()> pump = [&] {
    if (ending) return;
    const auto now = since();
    const auto due = schedule->due_by(now);
    for (; next_n < due; ++next_n) {
      const auto op = chooser.next();
      const auto intended = schedule->intended_offset(next_n);
      auto i = pick_session();
      if (!i) return end_run();
      if (sessions[*i].ids.size() >= plan.max_in_flight_per_session)
        book.not_sent(op, intended, backlog_code);
      else
        send(*i, op, intended);
    }
    if (next_n >= schedule->total_requests()) return;  // the end timer ends the run
    pacer.expires_at(t0 + schedule->intended_offset(next_n));
    pacer.async_wait([&](beast::error_code ec) {
      if (!ec) pump();
    });
  };
  auto progress = [&](bool force) {
    const auto now = since();
    if (!plan.on_progress || (!force && now - last_progress < plan.progress_interval)) return;
    const auto answered = book.ok_count() + book.error_count();
    const auto dt = std::chrono::duration<double>(now - last_progress).count();
    load_progress p;
    p.elapsed_s = std::chrono::duration<double>(now).count();
    p.duration_s = std::chrono::duration<double>(plan.duration).count();
    p.sent = book.sent_count();
    p.ok = book.ok_count();
    p.errors = book.error_count();
    p.rate_per_s = dt > 0 ? static_cast<double>(answered - last_answered) / dt : 0;
    p.p99_ns = book.latency_ns().value_at(0.99);
    last_progress = now;
    last_answered = answered;
    plan.on_progress(p);
  };
  finish = [&] {
    if (finished) return;
    finished = true;
    conns.stop();
    if (started && plan.before_close) plan.before_close();
    book.abandon(!started ? closed_code : fig.stopped_early ? unanswered_at_stop_code : timeout_code);
    for (auto* t : {&pacer, &end_timer, &housekeeping, &drain}) t->cancel();
    for (auto& ws : conns.streams()) {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
    }
  };
  end_run = [&] {
    if (ending) return;
    ending = true;
    fig.elapsed_s = std::chrono::duration<double>(since()).count();
    pacer.cancel();
    end_timer.cancel();
    progress(true);
    if (book.in_flight() == 0) return finish();
    drain.expires_after(std::min<steady::duration>(plan.request_timeout, max_drain));
    drain.async_wait([&](beast::error_code ec) {
      if (!ec) finish();
    });
  };
  auto begin = [&] {
    started = true;
    if (plan.on_begin) plan.on_begin();
    t0 = steady::now();
    if (alive == 0) return finish();
    end_timer.expires_at(t0 + plan.duration);
    end_timer.async_wait([&](beast::error_code ec) {
      if (!ec) end_run();
    });
    if (plan.mode == load_mode::open_loop) return pump();
    for (std::size_t i = 0; i < sessions.size(); ++i)
      if (sessions[i].alive)
        for (std::uint32_t k = 0; k < plan.in_flight_per_session; ++k)
          send(i, chooser.next(), since());
  };
  std::function<void()> tick = [&] {
    housekeeping.expires_after(housekeeping_interval);
    housekeeping.async_wait([&](beast::error_code ec) {
      if (ec || finished) return;
      if (plan.stop_requested != nullptr && plan.stop_requested->load()) {
        fig.stopped_early = true;
        if (!started) return finish();
        if (!ending) end_run();
        return;  // the drain timer ends the run
      }
      if (started) {
        book.expire(since(), plan.request_timeout);
        if (ending && book.in_flight() == 0) return finish();
        if (!ending) progress(false);
      }
      tick();
    });
  };
  tick();
  conns.open(
      plan.sessions,
      [&](std::size_t i, ws_connector::stream& ws) {
        if (finished) {
          beast::error_code ignored;
          beast::get_lowest_layer(ws).socket().close(ignored);
          return;
        }
        sessions[i].alive = true;
        ++alive;
        ++fig.connected;
        read_next(i);
        if (++settled == plan.sessions && !finished) begin();
      },
      [&](std::size_t, const std::string& failure) {
        ++fig.connect_failures;
        if (fig.first_connect_failure.empty()) fig.first_connect_failure = failure;
        if (++settled == plan.sessions && !finished) begin();
      });
  io.run();
  if (fig.elapsed_s == 0 && started)
    fig.elapsed_s = std::chrono::duration<double>(since()).count();
  return fig;
}

}  // namespace superapp::bench
