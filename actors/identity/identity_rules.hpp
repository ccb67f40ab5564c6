// The identity domain's rules as plain functions: phone numbers, OTP, credentials and lock-out,
// refresh-token families, device challenges. No CAF, no I/O; time is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/clock.hpp"

namespace superapp::identity {

using time_point = superapp::clock::time_point;
using seconds = std::chrono::seconds;

std::int64_t to_unix_s(time_point t);
time_point from_unix_s(std::int64_t s);

// ---- phone numbers ----
// E.164: '+', a country code not starting with 0, at most 15 digits in all (at least 8 here:
// the shortest real numbers with their country code).
bool is_e164(std::string_view phone);

// ---- one-time codes ----
struct otp_policy {
  int code_digits = 6;
  seconds ttl{5 * 60};
  int max_tries = 5;                 // wrong codes accepted before the code is dead
  seconds resend_interval{30};       // at most one new code per phone per interval
  int max_sends_per_window = 5;      // and at most this many per window
  seconds send_window{60 * 60};
};

// The stored state of the newest code sent to a phone.
struct otp_state {
  time_point expires_at;
  int tries = 0;  // wrong attempts so far
  bool used = false;
  time_point last_sent_at;
  time_point window_started_at;
  int sends_in_window = 0;
};

enum class send_verdict { allowed, too_soon };

// Whether a new code may be sent now, given the phone's newest code (if any).
send_verdict may_send_code(const std::optional<otp_state>& newest, time_point now,
                           const otp_policy& policy);

// The send window after sending a code now.
otp_state state_after_send(const std::optional<otp_state>& newest, time_point now,
                           const otp_policy& policy);

enum class otp_verdict { accepted, wrong, expired, tries_exhausted };

// Judges one attempt. Order matters: a used or expired code is `expired` whatever was typed, a
// code with max_tries wrong attempts behind it is dead even for the right digits.
otp_verdict check_otp_attempt(const otp_state& state, bool code_matches, time_point now,
                              const otp_policy& policy);

// ---- mPIN, password and lock-out ----
enum class credential_kind { mpin, password };
std::string_view to_string(credential_kind kind);

inline constexpr std::size_t min_password_chars = 8;
inline constexpr std::size_t max_password_chars = 128;

// mPIN: 4 to 6 ASCII digits. Password: 8 to 128 bytes of printable text.
bool valid_credential_format(credential_kind kind, std::string_view secret);

struct lockout_policy {
  int max_failures = 5;        // wrong attempts before a lock
  seconds first_lock{60};      // the first lock; each further lock doubles it
  seconds max_lock{24 * 60 * 60};
};

struct lockout_state {
  int failed_attempts = 0;  // since the last lock or success
  int lockouts = 0;         // locks so far; the next lock lasts first_lock * 2^lockouts
  std::optional<time_point> locked_until;
};

bool is_locked(const lockout_state& s, time_point now);
seconds lock_duration(int lockouts_before, const lockout_policy& policy);
// A wrong attempt: counts it, and locks when it is the max_failures-th.
lockout_state after_failure(const lockout_state& s, time_point now, const lockout_policy& policy);
// A right attempt clears the counter and the lock history.
lockout_state after_success();

// ---- refresh-token families ----
struct refresh_record {
  bool used = false;            // already rotated out
  bool family_revoked = false;  // logout, log out everywhere, reuse, device revoked
  bool device_active = true;
  time_point expires_at;
};

enum class refresh_verdict { rotate, reused, expired, revoked };

// What presenting this refresh token means. A used token coming back is theft or a replay:
// the caller revokes the whole family (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14).
refresh_verdict judge_refresh(const refresh_record& r, time_point now);

// ---- device challenges ----
inline constexpr std::string_view login_challenge_prefix = "superapp-login.v1";

// The exact bytes a device signs to log in: prefix|challenge_id|nonce|device_id|expires_at_unix_s.
std::string login_challenge_message(std::string_view challenge_id, std::string_view nonce,
                                    std::string_view device_id, time_point expires_at);

struct challenge_record {
  std::string device_id;
  time_point expires_at;
  bool used = false;
};

enum class challenge_verdict { usable, used, expired, other_device };

challenge_verdict judge_challenge(const challenge_record& c, std::string_view device_id,
                                  time_point now);

}  // namespace superapp::identity
