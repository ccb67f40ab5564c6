// The identity rules alone: phone numbers, OTP tries/expiry/resend, lock-out schedule,
// refresh-token families, device challenges, and the secrets helpers.
#include <doctest/doctest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <string>

#include "actors/identity/helpers.hpp"
#include "actors/identity/identity_errc.hpp"
#include "actors/identity/identity_rules.hpp"
#include "actors/identity/secrets.hpp"
#include "tests/support/error_codes.hpp"

using namespace superapp;
using namespace superapp::identity;
using namespace std::chrono_literals;

namespace {
const time_point t0 = from_unix_s(1'700'000'000);
}

TEST_CASE("phone numbers must be E.164") {
  CHECK(is_e164("+447700900123"));
  CHECK(is_e164("+14155552671"));
  CHECK(is_e164("+123456789012345"));
  CHECK_FALSE(is_e164("447700900123"));
  CHECK_FALSE(is_e164("+047700900123"));
  CHECK_FALSE(is_e164("+44 7700 900123"));
  CHECK_FALSE(is_e164("+1234567"));
  CHECK_FALSE(is_e164("+1234567890123456"));
  CHECK_FALSE(is_e164("+44770090012a"));
  CHECK_FALSE(is_e164(""));
}

TEST_CASE("an OTP is accepted once, within 5 minutes, and dies after 5 wrong tries") {
  otp_policy p;
  auto s = state_after_send(std::nullopt, t0, p);
  CHECK(s.expires_at == t0 + 300s);
  CHECK(check_otp_attempt(s, true, t0 + 299s, p) == otp_verdict::accepted);
  CHECK(check_otp_attempt(s, true, t0 + 300s, p) == otp_verdict::expired);
  CHECK(check_otp_attempt(s, false, t0, p) == otp_verdict::wrong);
  s.tries = 4;
  CHECK(check_otp_attempt(s, false, t0, p) == otp_verdict::wrong);  // the 5th wrong try
  s.tries = 5;
  CHECK(check_otp_attempt(s, true, t0, p) == otp_verdict::tries_exhausted);  // the 6th, even right
  s.tries = 0;
  s.used = true;
  CHECK(check_otp_attempt(s, true, t0, p) == otp_verdict::expired);
}

TEST_CASE("OTP resends are limited per interval and per window") {
  otp_policy p;
  CHECK(may_send_code(std::nullopt, t0, p) == send_verdict::allowed);
  auto s = state_after_send(std::nullopt, t0, p);
  CHECK(may_send_code(s, t0 + 29s, p) == send_verdict::too_soon);
  CHECK(may_send_code(s, t0 + 30s, p) == send_verdict::allowed);
  auto now = t0;
  for (int i = 1; i < p.max_sends_per_window; ++i) {
    now += 31s;
    REQUIRE(may_send_code(s, now, p) == send_verdict::allowed);
    s = state_after_send(s, now, p);
  }
  CHECK(s.sends_in_window == 5);
  CHECK(may_send_code(s, now + 60s, p) == send_verdict::too_soon);
  CHECK(may_send_code(s, t0 + 3600s, p) == send_verdict::allowed);
  auto fresh = state_after_send(s, t0 + 3600s, p);
  CHECK(fresh.sends_in_window == 1);
}

TEST_CASE("mPIN is 4 to 6 digits and a password 8 to 128 printable characters") {
  CHECK(valid_credential_format(credential_kind::mpin, "1234"));
  CHECK(valid_credential_format(credential_kind::mpin, "123456"));
  CHECK_FALSE(valid_credential_format(credential_kind::mpin, "123"));
  CHECK_FALSE(valid_credential_format(credential_kind::mpin, "1234567"));
  CHECK_FALSE(valid_credential_format(credential_kind::mpin, "12a4"));
  CHECK(valid_credential_format(credential_kind::password, "correct horse"));
  CHECK_FALSE(valid_credential_format(credential_kind::password, "short"));
  CHECK_FALSE(valid_credential_format(credential_kind::password, std::string(129, 'x')));
  CHECK_FALSE(valid_credential_format(credential_kind::password, "tab\there!"));
}

TEST_CASE("five wrong attempts lock, and each further lock lasts twice as long") {
  lockout_policy p;
  lockout_state s;
  auto now = t0;
  for (int i = 0; i < 4; ++i) s = after_failure(s, now, p);
  CHECK_FALSE(is_locked(s, now));
  s = after_failure(s, now, p);
  REQUIRE(is_locked(s, now));
  CHECK(*s.locked_until == now + 60s);
  CHECK(is_locked(s, now + 59s));
  now += 60s;
  CHECK_FALSE(is_locked(s, now));
  for (int i = 0; i < 5; ++i) s = after_failure(s, now, p);
  CHECK(*s.locked_until == now + 120s);
  CHECK(lock_duration(2, p) == 240s);
  CHECK(lock_duration(40, p) == p.max_lock);
  s = after_success();
  CHECK(s.lockouts == 0);
  CHECK_FALSE(s.locked_until);
}

TEST_CASE("a refresh token rotates once; a used one is reuse; revoked and expired ones are refused") {
  refresh_record r{false, false, true, t0 + 3600s};
  CHECK(judge_refresh(r, t0) == refresh_verdict::rotate);
  r.used = true;
  CHECK(judge_refresh(r, t0) == refresh_verdict::reused);
  r.used = false;
  CHECK(judge_refresh(r, t0 + 3600s) == refresh_verdict::expired);
  r.family_revoked = true;
  CHECK(judge_refresh(r, t0) == refresh_verdict::revoked);
  r.family_revoked = false;
  r.device_active = false;
  CHECK(judge_refresh(r, t0) == refresh_verdict::revoked);
}

TEST_CASE("a login challenge names its device, nonce and expiry and is single use") {
  auto msg = login_challenge_message("c-1", "nonce", "d-1", t0 + 60s);
  CHECK(msg == "superapp-login.v1|c-1|nonce|d-1|1700000060");
  challenge_record c{"d-1", t0 + 60s, false};
  CHECK(judge_challenge(c, "d-1", t0) == challenge_verdict::usable);
  CHECK(judge_challenge(c, "d-2", t0) == challenge_verdict::other_device);
  CHECK(judge_challenge(c, "d-1", t0 + 60s) == challenge_verdict::expired);
  c.used = true;
  CHECK(judge_challenge(c, "d-1", t0) == challenge_verdict::used);
}

TEST_CASE("random codes have the asked length and digests never equal their input") {
  auto code = random_digits(6);
  CHECK(code.size() == 6);
  CHECK(code.find_first_not_of("0123456789") == std::string::npos);
  auto a = random_token(32), b = random_token(32);
  CHECK(a.size() == 43);
  CHECK(a != b);
  auto salt = random_token(16);
  auto d = keyed_digest(salt, "123456");
  CHECK(d.size() == 64);
  CHECK(digests_equal(d, keyed_digest(salt, "123456")));
  CHECK_FALSE(digests_equal(d, keyed_digest(salt, "123457")));
  CHECK_FALSE(digests_equal(d, keyed_digest(random_token(16), "123456")));
  CHECK(token_digest(a) != token_digest(b));
}

TEST_CASE("Argon2id hashes verify the right secret only and carry the OWASP parameters") {
  argon2_params fast{1, 8 * 1024};  // tests only: libsodium's minimums
  auto h = hash_secret("1234", fast);
  REQUIRE(h);
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(h->find("1234") == std::string::npos);
  CHECK(verify_secret(*h, "1234"));
  CHECK_FALSE(verify_secret(*h, "1235"));
  CHECK_FALSE(verify_secret("", "1234"));
  argon2_params owasp;
  auto strong = hash_secret("1234", owasp);
  REQUIRE(strong);
  CHECK(strong->find("$m=19456,t=2,p=1$") != std::string::npos);
}

TEST_CASE("identity's error codes are distinct and the protocol document lists exactly them") {
  register_identity_errors();
  superapp::testing::check_error_codes("identity", last_identity_errc,
                                       [](identity_errc c) { return make_error(c); });
}

TEST_CASE("a hashing thread is kept to its CPUs at a lower priority") {
  cpu_set_t mine;
  REQUIRE(::sched_getaffinity(0, sizeof mine, &mine) == 0);
  int first_cpu = 0;
  while (!CPU_ISSET(first_cpu, &mine)) ++first_cpu;
  cpu_set_t seen;
  CPU_ZERO(&seen);
  int nice = 0;
  std::thread worker{[&] {
    place_this_thread(hashing_placement{10, false, {first_cpu}});
    ::sched_getaffinity(0, sizeof seen, &seen);
    errno = 0;
    nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
  }};
  worker.join();
  CHECK(CPU_COUNT(&seen) == 1);
  CHECK(CPU_ISSET(first_cpu, &seen));
  CHECK(nice == 10);
  // The test's own thread is untouched: placement is per thread.
  cpu_set_t after;
  ::sched_getaffinity(0, sizeof after, &after);
  CHECK(CPU_EQUAL(&after, &mine));
}
