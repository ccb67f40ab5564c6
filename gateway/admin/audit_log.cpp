// The audit log's file: one JSON object per line, appended with O_APPEND and fsynced.
#include "gateway/admin/audit_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "supervisors/chaos.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::admin {

std::string iso_time_ms(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(epoch_ms % 1000));
  return text;
}

boost::json::object to_json(const audit_entry& e) {
  return {{"id", e.id},
          {"at", iso_time_ms(e.at_ms)},
          {"operator", e.operator_name},
          {"role", e.role},
          {"action", e.action},
          {"node", e.node},
          {"path", e.path},
          {"params", e.params},
          {"outcome", e.outcome},
          {"message", e.message}};
}

namespace {

std::string text_of(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
}

}  // namespace

audit_log::audit_log(std::filesystem::path file, std::size_t keep)
    : file_(std::move(file)), keep_(keep) {
  std::ifstream in{file_};
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(line, ec);
    if (ec || !parsed.is_object()) continue;
    const auto& o = parsed.as_object();
    audit_entry e;
    if (auto* id = o.if_contains("id"); id != nullptr && id->is_int64()) e.id = id->as_int64();
    if (auto* at = o.if_contains("at_ms"); at != nullptr && at->is_int64()) e.at_ms = at->as_int64();
    e.operator_name = text_of(o, "operator");
    e.role = text_of(o, "role");
    e.action = text_of(o, "action");
    e.node = text_of(o, "node");
    e.path = text_of(o, "path");
    if (auto* p = o.if_contains("params"); p != nullptr && p->is_object()) e.params = p->as_object();
    e.outcome = text_of(o, "outcome");
    e.message = text_of(o, "message");
    next_id_ = std::max(next_id_, e.id + 1);
    recent_.push_back(std::move(e));
    if (recent_.size() > keep_) recent_.pop_front();
  }
}

audit_entry audit_log::append(audit_entry entry) {
  entry.id = next_id_++;
  entry.at_ms = sup::wall_clock_ms();
  auto line = to_json(entry);
  line["at_ms"] = entry.at_ms;  // exact, for reading back
  auto text = boost::json::serialize(line) + "\n";
  const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  bool written = false;
  if (fd >= 0) {
    written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
  }
  if (!written)
    log::error("audit log write failed", {{"file", file_.string()}, {"id", entry.id}});
  recent_.push_back(entry);
  if (recent_.size() > keep_) recent_.pop_front();
  return entry;
}

std::vector<audit_entry> audit_log::newest(std::size_t limit) const {
  std::vector<audit_entry> out;
  for (auto i = recent_.rbegin(); i != recent_.rend() && out.size() < limit; ++i)
    out.push_back(*i);
  return out;
}

}  // namespace superapp::admin
