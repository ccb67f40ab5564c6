// A load scenario as read from its TOML file: ops and weights, load shape, users, baseline,
// data set and chaos. Every mistake is one line naming the file and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace superapp::bench {

enum class load_mode : std::uint8_t { open_loop, closed_loop };
std::string_view to_string(load_mode mode) noexcept;

// One op of the mix. `body_json` is a JSON object; "${user}" and "${device}" in its strings are
// replaced by the session's user and device ids, "${next_user}" by the user after it (the last
// user's is the first: a ring), and "${approval}" by an approval identity would give that user
// on that device for this op, amount and payee, minted per request (ADR 0013; see bench_run.hpp).
struct op_mix_entry {
  std::string op;  // "domain.verb", as in the op catalogue
  std::uint32_t weight = 1;
  std::string body_json = "{}";
  bool idempotency_key = false;  // a fresh key per request (transactional ops need one)
};

// A request made once per user before the load starts (the data set). Its body may name what
// an earlier request of the same user's data set captured ("${link_id}").
struct setup_request {
  std::string op;
  std::string body_json = "{}";
  bool idempotency_key = false;
  // Reply body fields to keep, as name -> path ("accounts.0.account_id": keys and array
  // indexes separated by dots).
  std::vector<std::pair<std::string, std::string>> capture;
  // Asked again (every 50 ms) until the reply's `until_path` is `until_equals`, for at most
  // `until_within_s`: e.g. a top-up's payment_status until "posted".
  std::string until_path;
  std::string until_equals;
  double until_within_s = 30;
};

struct baseline_spec {
  std::string kind;  // a name baseline_kinds() knows
  bool before = true;  // run before the target (else after)
  std::uint32_t io_threads = 2;
};

struct chaos_spec {
  std::string domain;
  std::string action;  // "crash_loop"
};

struct scenario {
  std::string name;
  std::string description;
  std::string source;  // the file it came from

  load_mode mode = load_mode::open_loop;
  double rate_per_s = 0;  // open loop: all sessions together
  double ramp_s = 0;
  double duration_s = 10;
  std::uint32_t sessions = 10;
  std::uint32_t source_addresses = 8;      // 127.0.0.1 .. 127.0.0.<n> on a loopback target
  std::uint32_t in_flight_per_session = 1;  // closed loop: requests outstanding per session
  std::uint32_t request_timeout_ms = 10'000;

  std::uint32_t users = 10;             // sessions are spread over users ...
  std::uint32_t devices_per_user = 1;   // ... and their devices

  std::vector<op_mix_entry> ops;
  std::vector<setup_request> per_user_setup;
  std::optional<baseline_spec> baseline;
  std::optional<chaos_spec> chaos;
};

// Limits that keep a typo from becoming a flood; a value outside is an error naming the key.
inline constexpr double max_rate_per_s = 1'000'000;
inline constexpr double max_duration_s = 24 * 60 * 60;
inline constexpr std::uint32_t max_sessions = 200'000;
inline constexpr std::uint32_t max_users = 10'000'000;

struct scenario_error {
  std::string message;  // one line: "scenario error: FILE: KEY: what is wrong"
};

std::variant<scenario, scenario_error> parse_scenario(std::string_view toml_text,
                                                      std::string_view source_name);
std::variant<scenario, scenario_error> load_scenario(const std::string& path);

}  // namespace superapp::bench
