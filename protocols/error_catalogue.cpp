// The error catalogue: registered categories and the platform's shared codes.
#include "protocols/error_catalogue.hpp"

#include <array>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/sec.hpp>

namespace superapp {
namespace {

struct category_entry {
  caf::atom_value category;
  describe_fn describe;
};

std::mutex& catalogue_mutex() {
  static std::mutex m;
  return m;
}

std::vector<category_entry>& catalogue() {
  static std::vector<category_entry> entries;
  return entries;
}

error_description describe_platform(std::uint8_t code) {
  return describe(static_cast<platform_errc>(code));
}

error_description describe_system(std::uint8_t code) {
  switch (static_cast<caf::sec>(code)) {
    case caf::sec::request_timeout:
      return {"timeout", "the request was not answered in time", true};
    case caf::sec::request_receiver_down:
    case caf::sec::remote_linking_failed:
    case caf::sec::cannot_connect_to_node:
    case caf::sec::no_actor_published_at_port:
      return {"unavailable", "the service is not available right now", true};
    default:
      return {"internal", "internal error", false};
  }
}

const bool platform_registered = [] {
  register_error_category(platform_category, describe_platform);
  return true;
}();

}  // namespace

void register_error_category(caf::atom_value category, describe_fn describe) {
  std::lock_guard<std::mutex> guard{catalogue_mutex()};
  for (auto& entry : catalogue())
    if (entry.category == category) {
      entry.describe = describe;
      return;
    }
  catalogue().push_back({category, describe});
}

error_description describe(const caf::error& err) {
  if (!err) return {"internal", "internal error", false};
  if (err.category() == caf::atom("system")) return describe_system(err.code());
  std::lock_guard<std::mutex> guard{catalogue_mutex()};
  for (const auto& entry : catalogue())
    if (entry.category == err.category()) return entry.describe(err.code());
  return {"internal", "internal error", false};
}

void add_error_renderers(caf::actor_system_config& cfg) {
  (void)platform_registered;
  std::vector<category_entry> entries;
  {
    std::lock_guard<std::mutex> guard{catalogue_mutex()};
    entries = catalogue();
  }
  for (const auto& entry : entries) {
    auto describe_code = entry.describe;
    cfg.add_error_category(entry.category,
                           [describe_code](std::uint8_t code, caf::atom_value category,
                                           const caf::message&) -> std::string {
                             auto d = describe_code(code);
                             return caf::to_string(category) + "." + std::string{d.wire_code};
                           });
  }
}

caf::error make_error(platform_errc code) {
  return caf::error{static_cast<std::uint8_t>(code), platform_category};
}

error_description describe(platform_errc code) {
  switch (code) {
    case platform_errc::overloaded:
      return {"overloaded", "the service is busy; retry later", true};
    case platform_errc::unavailable:
      return {"unavailable", "the service is not available right now", true};
    case platform_errc::timeout:
      return {"timeout", "the request was not answered in time", true};
    case platform_errc::internal:
      return {"internal", "internal error", false};
    case platform_errc::invalid_argument:
      return {"invalid_argument", "the request is not valid", false};
    case platform_errc::not_found:
      return {"not_found", "no such resource", false};
    case platform_errc::unauthorized:
      return {"unauthorized", "authentication is required", false};
    case platform_errc::forbidden:
      return {"forbidden", "not allowed", false};
    case platform_errc::shutting_down:
      return {"shutting_down", "the node is shutting down", true};
    case platform_errc::storage_failure:
      return {"storage_failure", "the change could not be stored", true};
    case platform_errc::database_newer_than_code:
      return {"database_newer_than_code", "the database schema is newer than this build", false};
    case platform_errc::restart_intensity_exceeded:
      return {"restart_intensity_exceeded", "a supervisor gave up after too many restarts", true};
    case platform_errc::start_failed:
      return {"start_failed", "a component failed to start", true};
    case platform_errc::bad_request:
      return {"bad_request", "the request is malformed", false};
    case platform_errc::unknown_op:
      return {"unknown_op", "no such operation", false};
    case platform_errc::idempotency_key_required:
      return {"idempotency_key_required", "this operation needs an idempotency key", false};
    case platform_errc::rate_limited:
      return {"rate_limited", "too many requests; retry later", true};
    case platform_errc::quota_exceeded:
      return {"quota_exceeded", "the quota for this period is used up", false};
    case platform_errc::payload_too_large:
      return {"payload_too_large", "the message is too large", false};
    case platform_errc::idempotency_key_reused:
      return {"idempotency_key_reused",
              "this idempotency key was used for a different request; use a new key", false};
  }
  return {"internal", "internal error", false};
}

}  // namespace superapp
