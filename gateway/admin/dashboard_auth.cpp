// Operator credentials, log-in sessions and the guessing brake of the dashboard.
#include "gateway/admin/dashboard_auth.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "protocols/assert.hpp"
#include "protocols/hex.hpp"

namespace superapp::admin {

namespace {

void ensure_sodium() { SUPERAPP_ASSERT(sodium_init() >= 0); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    auto end = line.find_first_of(" \t");
    out.push_back(line.substr(0, end));
    line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  }
  return out;
}

// A valid Argon2id string for a password nobody has, so an unknown name costs a verification.
const std::string& dummy_hash() {
  static const std::string hash = hash_operator_password("no operator has this password");
  return hash;
}

}  // namespace

bool valid_operator_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

std::optional<std::vector<operator_account>> parse_operators(std::string_view text,
                                                             std::string& error) {
  std::vector<operator_account> out;
  std::size_t number = 0;
  while (!text.empty()) {
    auto newline = text.find('\n');
    auto line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    auto f = fields_of(line);
    const auto where = "line " + std::to_string(number) + ": ";
    if (f.size() != 3) return error = where + "expected NAME ROLE HASH", std::nullopt;
    if (!valid_operator_name(f[0]))
      return error = where + "name: 1 to 64 of A-Z a-z 0-9 . _ -", std::nullopt;
    if (!valid_role(f[1])) return error = where + "role: viewer or operator", std::nullopt;
    if (!f[2].starts_with("$argon2id$")) return error = where + "hash: an Argon2id string", std::nullopt;
    out.push_back({std::string{f[0]}, std::string{f[1]}, std::string{f[2]}});
  }
  return out;
}

namespace {

// N random bytes as URL-safe base64 without padding.
template <std::size_t N>
std::string random_base64() {
  ensure_sodium();
  std::array<unsigned char, N> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  std::array<char, sodium_base64_ENCODED_LEN(N, sodium_base64_VARIANT_URLSAFE_NO_PADDING)> out{};
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string{out.data()};
}

}  // namespace

std::string random_password() { return random_base64<18>(); }

namespace {

// The operators file read whole and parsed; `error` starts with the file's path.
std::optional<std::vector<operator_account>> read_operators(const std::filesystem::path& file,
                                                            std::string& error) {
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_operators(text.str(), error);
  if (!parsed) error = file.string() + ": " + error;
  return parsed;
}

}  // namespace

std::string hash_operator_password(std::string_view password) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  const int rc = crypto_pwhash_str(out.data(), password.data(), password.size(),
                                   crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                   crypto_pwhash_MEMLIMIT_INTERACTIVE);
  SUPERAPP_ASSERT(rc == 0);  // only fails when out of memory
  return std::string{out.data()};
}

bool put_operator(const std::filesystem::path& file, const operator_account& account,
                  std::string& error) {
  if (!valid_operator_name(account.name)) return error = "name: 1 to 64 of A-Z a-z 0-9 . _ -", false;
  if (!valid_role(account.role)) return error = "role: viewer or operator", false;
  std::vector<operator_account> accounts;
  if (std::filesystem::exists(file)) {
    auto parsed = read_operators(file, error);
    if (!parsed) return false;
    accounts = std::move(*parsed);
  }
  auto same = std::find_if(accounts.begin(), accounts.end(),
                           [&](const auto& a) { return a.name == account.name; });
  if (same != accounts.end())
    *same = account;
  else
    accounts.push_back(account);
  auto temporary = file;
  temporary += ".tmp";
  {
    std::ofstream out{temporary, std::ios::trunc};
    if (!out) return error = "cannot write " + temporary.string(), false;
    ::chmod(temporary.c_str(), 0600);
    out << "# Dashboard operators: NAME ROLE ARGON2ID-HASH (superapp admin operator add)\n";
    for (const auto& a : accounts) out << a.name << ' ' << a.role << ' ' << a.hash << '\n';
    out.flush();
    if (!out) return error = "cannot write " + temporary.string(), false;
  }
  std::error_code ec;
  std::filesystem::rename(temporary, file, ec);
  if (ec) return error = "cannot replace " + file.string() + ": " + ec.message(), false;
  return true;
}

void operator_directory::reload_if_changed() {
  std::error_code ec;
  auto time = std::filesystem::last_write_time(file_, ec);
  if (ec) {
    accounts_.clear();
    loaded_size_ = static_cast<std::uintmax_t>(-1);
    return;
  }
  auto size = std::filesystem::file_size(file_, ec);
  if (ec || (time == loaded_time_ && size == loaded_size_)) return;
  std::string error;
  auto parsed = read_operators(file_, error);
  if (!parsed) {
    // Keep the accounts read before: a file being edited by hand must not lock everyone out.
    std::fprintf(stderr, "operators file %s\n", error.c_str());
    return;
  }
  accounts_ = std::move(*parsed);
  loaded_time_ = time;
  loaded_size_ = size;
}

std::optional<operator_account> operator_directory::find(std::string_view name) {
  std::lock_guard<std::mutex> guard{mutex_};
  reload_if_changed();
  for (const auto& a : accounts_)
    if (a.name == name) return a;
  return std::nullopt;
}

std::size_t operator_directory::size() {
  std::lock_guard<std::mutex> guard{mutex_};
  reload_if_changed();
  return accounts_.size();
}

bool check_password(const std::optional<operator_account>& account, std::string_view password) {
  ensure_sodium();
  const auto& hash = account ? account->hash : dummy_hash();
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::array<char, crypto_pwhash_STRBYTES> text{};
  std::copy(hash.begin(), hash.end(), text.begin());
  const bool ok = crypto_pwhash_str_verify(text.data(), password.data(), password.size()) == 0;
  return ok && account.has_value();
}

std::string session_table::open(const std::string& name, const std::string& role,
                                clock::time_point now) {
  auto cookie = random_base64<32>();
  std::lock_guard<std::mutex> guard{mutex_};
  // Sessions that ended are swept here, at the next log-in.
  for (auto i = sessions_.begin(); i != sessions_.end();)
    i = now - i->second.last_seen > idle_limit || now - i->second.opened > absolute_limit
            ? sessions_.erase(i)
            : std::next(i);
  sessions_[sha256_hex(cookie)] = entry{{name, role, random_base64<32>()}, now, now};
  return cookie;
}

std::optional<dashboard_session> session_table::find(std::string_view cookie_value,
                                                     clock::time_point now) {
  if (cookie_value.empty()) return std::nullopt;
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = sessions_.find(sha256_hex(cookie_value));
  if (i == sessions_.end()) return std::nullopt;
  if (now - i->second.last_seen > idle_limit || now - i->second.opened > absolute_limit) {
    sessions_.erase(i);
    return std::nullopt;
  }
  i->second.last_seen = now;
  return i->second.session;
}

void session_table::close(std::string_view cookie_value) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.erase(sha256_hex(cookie_value));
}

bool session_table::may_try(const std::string& name, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = failures_.find(name);
  if (i == failures_.end()) return true;
  while (!i->second.empty() && now - i->second.front() > std::chrono::minutes{1})
    i->second.pop_front();
  if (i->second.empty()) {
    failures_.erase(i);
    return true;
  }
  return i->second.size() < max_failures;
}

void session_table::failed(const std::string& name, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (failures_.size() > 10'000) failures_.clear();  // names are guesses too: bound the table
  failures_[name].push_back(now);
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name)
      return std::string{trim(pair.substr(eq + 1))};
  }
  return {};
}

bool same_secret(std::string_view a, std::string_view b) {
  const auto da = sha256_hex(a);
  const auto db = sha256_hex(b);
  return sodium_memcmp(da.data(), db.data(), da.size()) == 0;
}

}  // namespace superapp::admin
