// The KYC provider simulator: a real HTTP server (Beast) that takes identity-verification checks
// like a provider would, decides them after a delay and reports each outcome to a signed webhook.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace superapp::sim {

// POST /v1/checks   {"reference": "<client's id for the check, 1..64 chars>", "level": "...",
//                    "documents": [{"type": "...", "number": "..."}, ...]}   (documents non-empty)
//                   -> 202 {"provider_check_id": "pc-1", "status": "pending"}
//                   the same reference again -> 200 with that check's id and current status (it
//                   is neither a new check nor decided again)
//                   400 {"error"} on a bad body; 503 {"error": "provider down"} while
//                   set_failing(true)
// GET  /v1/checks/pc-1 -> 200 {"provider_check_id", "reference", "level",
//                              "status": "pending"|"verified"|"rejected", "reason"} or 404
// POST /v1/webhooks {"url": "http://HOST:PORT/path"} -> 200; sets the webhook URL (the secret
//                   stays as configured in C++); 400 on a bad body
// GET  /healthz     -> 200 ok
//
// Decision, decision_delay after the check arrives: "rejected" with reason "document_rejected"
// if any document number starts with "REJECT", else "verified" with reason "".
//
// Webhook, once decided and if a URL is set:
//   POST <url>  {"provider_check_id", "reference", "level", "outcome": "verified"|"rejected",
//                "reason"}
//   X-Kyc-Timestamp: <unix seconds, decimal>
//   X-Kyc-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
// over exactly the body bytes sent. A non-2xx answer or a transport failure (2 s deadline) is
// retried, 6 attempts in all, 250 ms apart doubling up to 4 s; each attempt is signed afresh.
// Deliveries run on a worker thread of the simulator's own, one at a time.
class kyc_simulator {
 public:
  kyc_simulator();
  ~kyc_simulator();
  kyc_simulator(const kyc_simulator&) = delete;
  kyc_simulator& operator=(const kyc_simulator&) = delete;

  // Binds (port 0: any free port) and serves on one thread of its own, deciding and delivering
  // on another. Returns the port, or nullopt with `failure` set.
  std::optional<std::uint16_t> start(const std::string& bind_address, std::uint16_t port,
                                     std::string& failure);
  // Ends both threads promptly, a delivery waiting out its backoff included (one in flight
  // finishes first); decisions and deliveries still due are dropped. Safe to call twice.
  void stop();

  std::string base_url() const;  // http://ADDRESS:PORT

  // `url` like http://127.0.0.1:PORT/webhooks/kyc ("" for none: checks are decided, nothing is
  // delivered); `secret` is the HMAC key as raw bytes.
  void set_webhook(std::string url, std::string secret);
  // While failing, POST /v1/checks answers 503 (a provider outage).
  void set_failing(bool failing);
  // For checks posted from now on; 200 ms unless set.
  void set_decision_delay(std::chrono::milliseconds delay);
  // Webhooks are signed with the wall clock plus `offset`: a negative one sends stale callbacks.
  void set_timestamp_offset(std::chrono::seconds offset);
  // Delivers a decided check's outcome again, as providers do now and then (retried like the
  // first). Does nothing for an unknown or still pending check, or with no URL set.
  void resend_webhook(const std::string& provider_check_id);

  std::int64_t checks_received() const;     // distinct checks (a repeated reference is not one)
  std::int64_t webhooks_delivered() const;  // attempts answered 2xx
  std::int64_t webhook_attempts() const;
  int last_webhook_status() const;  // 0 before any attempt and after a transport failure

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace superapp::sim
