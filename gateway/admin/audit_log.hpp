// The operators' audit log: every dashboard action, who asked, what, where, when and how it
// ended, as JSON lines appended to a file and fsynced before the action is answered.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace superapp::admin {

struct audit_entry {
  std::int64_t id = 0;     // 1, 2, ... in this file
  std::int64_t at_ms = 0;  // wall clock, ms since the Unix epoch
  std::string operator_name;
  std::string role;
  std::string action;
  std::string node;
  std::string path;
  boost::json::object params;  // chaos mode, delay, duration
  std::string outcome;         // done, refused or failed
  std::string message;
};

boost::json::object to_json(const audit_entry& entry);

// "2026-12-03T11:00:00.123Z"
std::string iso_time_ms(std::int64_t epoch_ms);

// One actor owns it (not thread-safe). Opening reads the file's tail to continue its ids and
// show recent entries; a line that does not parse (a torn last write) is skipped.
class audit_log {
 public:
  explicit audit_log(std::filesystem::path file, std::size_t keep = 500);

  // Assigns id and time, appends the line and fsyncs. A write that fails is logged and the
  // entry is still kept in memory (the action has happened either way).
  audit_entry append(audit_entry entry);

  // Newest first, at most `limit`.
  std::vector<audit_entry> newest(std::size_t limit) const;

 private:
  std::filesystem::path file_;
  std::size_t keep_;
  std::int64_t next_id_ = 1;
  std::deque<audit_entry> recent_;  // oldest first
};

}  // namespace superapp::admin
