// The identity domain's rules (see identity_rules.hpp).
#include "actors/identity/identity_rules.hpp"

#include <algorithm>

#include "protocols/assert.hpp"

namespace superapp::identity {

std::int64_t to_unix_s(time_point t) {
  return std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
}

time_point from_unix_s(std::int64_t s) { return time_point{seconds{s}}; }

bool is_e164(std::string_view phone) {
  if (phone.size() < 9 || phone.size() > 16 || phone[0] != '+') return false;
  if (phone[1] < '1' || phone[1] > '9') return false;
  return std::all_of(phone.begin() + 1, phone.end(), [](char c) { return c >= '0' && c <= '9'; });
}

send_verdict may_send_code(const std::optional<otp_state>& newest, time_point now,
                           const otp_policy& policy) {
  if (!newest) return send_verdict::allowed;
  if (now < newest->last_sent_at + policy.resend_interval) return send_verdict::too_soon;
  bool same_window = now < newest->window_started_at + policy.send_window;
  if (same_window && newest->sends_in_window >= policy.max_sends_per_window)
    return send_verdict::too_soon;
  return send_verdict::allowed;
}

otp_state state_after_send(const std::optional<otp_state>& newest, time_point now,
                           const otp_policy& policy) {
  otp_state s;
  s.expires_at = now + policy.ttl;
  s.last_sent_at = now;
  if (newest && now < newest->window_started_at + policy.send_window) {
    s.window_started_at = newest->window_started_at;
    s.sends_in_window = newest->sends_in_window + 1;
  } else {
    s.window_started_at = now;
    s.sends_in_window = 1;
  }
  return s;
}

otp_verdict check_otp_attempt(const otp_state& state, bool code_matches, time_point now,
                              const otp_policy& policy) {
  if (state.used || now >= state.expires_at) return otp_verdict::expired;
  if (state.tries >= policy.max_tries) return otp_verdict::tries_exhausted;
  return code_matches ? otp_verdict::accepted : otp_verdict::wrong;
}

std::string_view to_string(credential_kind kind) {
  return kind == credential_kind::mpin ? "mpin" : "password";
}

bool valid_credential_format(credential_kind kind, std::string_view secret) {
  if (kind == credential_kind::mpin)
    return secret.size() >= 4 && secret.size() <= 6 &&
           std::all_of(secret.begin(), secret.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (secret.size() < min_password_chars || secret.size() > max_password_chars) return false;
  // Control characters are refused; UTF-8 beyond ASCII is allowed.
  return std::none_of(secret.begin(), secret.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool is_locked(const lockout_state& s, time_point now) {
  return s.locked_until && now < *s.locked_until;
}

seconds lock_duration(int lockouts_before, const lockout_policy& policy) {
  SUPERAPP_ASSERT(lockouts_before >= 0);
  seconds d = policy.first_lock;
  for (int i = 0; i < lockouts_before && d < policy.max_lock; ++i) d *= 2;
  return std::min(d, policy.max_lock);
}

lockout_state after_failure(const lockout_state& s, time_point now, const lockout_policy& policy) {
  SUPERAPP_ASSERT(!is_locked(s, now));  // a locked credential is never even checked
  lockout_state next = s;
  next.failed_attempts += 1;
  if (next.failed_attempts >= policy.max_failures) {
    next.locked_until = now + lock_duration(s.lockouts, policy);
    next.lockouts = s.lockouts + 1;
    next.failed_attempts = 0;
  }
  return next;
}

lockout_state after_success() { return lockout_state{}; }

refresh_verdict judge_refresh(const refresh_record& r, time_point now) {
  if (r.family_revoked || !r.device_active) return refresh_verdict::revoked;
  if (r.used) return refresh_verdict::reused;
  if (now >= r.expires_at) return refresh_verdict::expired;
  return refresh_verdict::rotate;
}

std::string login_challenge_message(std::string_view challenge_id, std::string_view nonce,
                                    std::string_view device_id, time_point expires_at) {
  std::string out{login_challenge_prefix};
  for (auto part : {challenge_id, nonce, device_id}) {
    out += '|';
    out += part;
  }
  out += '|';
  out += std::to_string(to_unix_s(expires_at));
  return out;
}

challenge_verdict judge_challenge(const challenge_record& c, std::string_view device_id,
                                  time_point now) {
  if (c.device_id != device_id) return challenge_verdict::other_device;
  if (c.used) return challenge_verdict::used;
  if (now >= c.expires_at) return challenge_verdict::expired;
  return challenge_verdict::usable;
}

}  // namespace superapp::identity
