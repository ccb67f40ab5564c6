// Open-loop scheduling on an injected clock: latency counts from the intended send time.
#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "bench/harness/open_loop_schedule.hpp"
#include "bench/harness/request_book.hpp"
#include "protocols/clock.hpp"

using namespace std::chrono_literals;
using superapp::bench::open_loop_schedule;
using superapp::bench::request_book;

TEST_CASE("without a ramp, requests are due exactly one interval apart") {
  open_loop_schedule s{1000, 0ns, 1s};
  CHECK(s.intended_offset(0) == 0ns);
  CHECK(s.intended_offset(1) == 1ms);
  CHECK(s.intended_offset(500) == 500ms);
  CHECK(s.total_requests() == 1000);  // 0 ms .. 999 ms
  CHECK(s.due_by(0ns) == 1);
  CHECK(s.due_by(999us) == 1);
  CHECK(s.due_by(1ms) == 2);
  CHECK(s.due_by(10s) == s.total_requests());
}

TEST_CASE("a linear ramp sends half the full-rate requests during the ramp, then the rate") {
  open_loop_schedule s{1000, 2s, 10s};
  // 1000/s ramped over 2 s: 1000 requests during the ramp, the 1000th at exactly 2 s.
  CHECK(s.intended_offset(1000) == 2s);
  CHECK(s.intended_offset(1001) == 2001ms);
  // Quarter of the ramp's requests by half its time (rate * t^2 / 2T).
  CHECK(s.due_by(1s) == 251);
  // Intended times never go backwards.
  for (std::uint64_t n = 1; n < 3000; ++n) REQUIRE(s.intended_offset(n) >= s.intended_offset(n - 1));
}

TEST_CASE("a stall is charged to every request that was due during it (no coordinated omission)") {
  // A server that answers in 100 us, except from t = 1 s to 1.2 s, when nothing comes back;
  // what it held is answered when the stall ends. The client keeps sending by the schedule.
  superapp::manual_clock clock;
  const auto start = clock.now();
  auto now = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - start);
  };
  open_loop_schedule schedule{1000, 0ns, 2s};
  request_book book{1};
  std::vector<std::uint64_t> in_flight;
  std::uint64_t next = 0;
  while (next < schedule.total_requests()) {
    for (const auto due = schedule.due_by(now()); next < due; ++next) {
      book.sent(next, 0, schedule.intended_offset(next), now());
      in_flight.push_back(next);
    }
    clock.advance(100us);
    const bool stalled = now() > 1s && now() <= 1200ms;
    if (!stalled) {
      for (auto id : in_flight) REQUIRE(book.answered(id, now(), {}));
      in_flight.clear();
    }
    clock.advance(900us);
  }
  for (auto id : in_flight) REQUIRE(book.answered(id, now(), {}));
  CHECK(book.error_count() == 0);
  CHECK(book.ok_count() == book.sent_count());
  // 200 of ~2000 requests were due during the stall and waited for its end: their latencies
  // run from ~200 ms down to ~0, so the tail shows the stall; a closed-loop client would have
  // sent one request during it and recorded one slow sample.
  const auto& latency = book.latency_ns();
  CHECK(latency.value_at(0.5) == doctest::Approx(100'000).epsilon(0.01));
  CHECK(latency.value_at(0.95) > 50'000'000);
  CHECK(latency.max() >= 190'000'000);
  // The client never lagged its schedule.
  CHECK(book.send_lag_ns().max() == 0);
  // The stall is in the slot of t = 1 s.
  REQUIRE(book.timeline().size() >= 2);
  CHECK(book.timeline()[1].latency_ns.max() >= 190'000'000);
  CHECK(book.timeline()[0].latency_ns.max() < 200'000);
}

TEST_CASE("requests without a reply in time become client timeouts, and late replies are ignored") {
  request_book book{2};
  book.sent(1, 0, 0ms, 0ms);
  book.sent(2, 1, 5ms, 5ms);
  CHECK(book.expire(12ms, 10ms) == 1);
  CHECK(book.errors_by_code().at(std::string{superapp::bench::timeout_code}) == 1);
  CHECK_FALSE(book.answered(1, 20ms, {}));
  CHECK(book.answered(2, 20ms, "rate_limited"));
  CHECK(book.errors_by_code().at("rate_limited") == 1);
  CHECK(book.in_flight() == 0);
  CHECK(book.ok_count() == 0);
  book.sent(3, 0, 30ms, 31ms);
  book.abandon(superapp::bench::closed_code);
  CHECK(book.error_count() == 3);
  CHECK(book.send_lag_ns().max() == 1'000'000);
}
