// The SMS provider simulator: a real HTTP server (Beast) that accepts messages like a provider
// would and lets tests and developers read the last one sent to a number.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace superapp::sim {

// POST /v1/messages        {"to": "+447700900123", "text": "..."}  -> 202 {"message_id": "m-1"}
//                          400 on a bad body; 503 while set_failing(true)
// GET  /v1/messages/last?to=%2B447700900123 -> 200 {"to", "text", "code", "count"} or 404
//                          ("code" is the first run of 6 digits in the text, "" if none)
// GET  /healthz            -> 200 ok
class sms_simulator {
 public:
  struct message {
    std::string to;
    std::string text;
    std::int64_t count = 0;  // messages to this number so far
  };

  sms_simulator();
  ~sms_simulator();
  sms_simulator(const sms_simulator&) = delete;
  sms_simulator& operator=(const sms_simulator&) = delete;

  // Binds (port 0: any free port) and serves on one thread of its own. Returns the port, or
  // nullopt with `failure` set.
  std::optional<std::uint16_t> start(const std::string& bind_address, std::uint16_t port,
                                     std::string& failure);
  void stop();

  std::string base_url() const;  // http://ADDRESS:PORT
  std::optional<message> last_message(const std::string& to) const;
  std::int64_t messages_received() const;
  // While failing, POST /v1/messages answers 503 (a provider outage).
  void set_failing(bool failing);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// Extracts the first run of exactly 6 digits from a message text ("" if none).
std::string otp_code_in(const std::string& text);

}  // namespace superapp::sim
