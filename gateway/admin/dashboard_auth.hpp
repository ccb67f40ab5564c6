// Operators of the dashboard: their credentials (Argon2id, libsodium), log-in sessions held in
// memory behind an HttpOnly cookie, the CSRF token of each session, and a brake on guessing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace superapp::admin {

// viewer: sees everything, acts on nothing. operator: may also act (restart, crash, ...).
inline bool valid_role(std::string_view role) { return role == "viewer" || role == "operator"; }

// 1..64 of [A-Za-z0-9._-]: goes into audit lines and logs as it is.
bool valid_operator_name(std::string_view name);

struct operator_account {
  std::string name;
  std::string role;
  std::string hash;  // crypto_pwhash_str (Argon2id)
};

// The operators file: one account per line, `NAME ROLE HASH`; blank lines and lines starting
// with '#' are skipped. A malformed line is an error naming its number.
std::optional<std::vector<operator_account>> parse_operators(std::string_view text,
                                                             std::string& error);

// 24 characters of URL-safe base64 from 18 random bytes: a generated operator password.
std::string random_password();

// Argon2id with libsodium's interactive limits (what a log-in can afford).
std::string hash_operator_password(std::string_view password);

// Adds the account, or replaces the one with that name, writing the file anew (0600, via a
// temporary file and rename, so a reader never sees half of it). False and `error` on failure.
bool put_operator(const std::filesystem::path& file, const operator_account& account,
                  std::string& error);

// Reads the file again when it changed (by modification time and size), so accounts added with
// `superapp admin operator add` count at the next log-in. Thread-safe.
class operator_directory {
 public:
  explicit operator_directory(std::filesystem::path file) : file_(std::move(file)) {}
  std::optional<operator_account> find(std::string_view name);
  std::size_t size();

 private:
  void reload_if_changed();
  std::mutex mutex_;
  std::filesystem::path file_;
  std::filesystem::file_time_type loaded_time_{};
  std::uintmax_t loaded_size_ = static_cast<std::uintmax_t>(-1);
  std::vector<operator_account> accounts_;
};

// Constant-time check of a password against an account (or against a fixed dummy hash when the
// name is unknown, so the answer takes as long either way). Slow on purpose: call it off the
// io threads.
bool check_password(const std::optional<operator_account>& account, std::string_view password);

struct dashboard_session {
  std::string name;
  std::string role;
  std::string csrf;
};

// Log-in sessions: a random 256-bit cookie value, kept only as its SHA-256; idle for 30 minutes
// or alive for 12 hours, it ends. Thread-safe.
class session_table {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr auto idle_limit = std::chrono::minutes{30};
  static constexpr auto absolute_limit = std::chrono::hours{12};

  // The cookie value of a new session.
  std::string open(const std::string& name, const std::string& role,
                   clock::time_point now = clock::now());
  std::optional<dashboard_session> find(std::string_view cookie_value,
                                        clock::time_point now = clock::now());
  void close(std::string_view cookie_value);

  // Log-in brake: at most `max_failures` wrong passwords per name per minute.
  static constexpr std::size_t max_failures = 5;
  bool may_try(const std::string& name, clock::time_point now = clock::now());
  void failed(const std::string& name, clock::time_point now = clock::now());

 private:
  struct entry {
    dashboard_session session;
    clock::time_point opened;
    clock::time_point last_seen;
  };
  std::mutex mutex_;
  std::map<std::string, entry> sessions_;  // by SHA-256 of the cookie value, hex
  std::map<std::string, std::deque<clock::time_point>> failures_;
};

// The value of cookie `name` in a Cookie header; empty when absent.
std::string cookie_value(std::string_view header, std::string_view name);

// Equal strings, compared in time independent of their content.
bool same_secret(std::string_view a, std::string_view b);

}  // namespace superapp::admin
