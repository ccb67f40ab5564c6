// Signed webhook delivery the provider simulators share: a worker thread of the simulator's own
// that posts each webhook signed with HMAC-SHA256, retries it with backoff, and runs the
// simulator's own timed work (decisions, settlements) in due order with the deliveries.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace superapp::sim {

// Each attempt POSTs the body to the URL set at that moment with
//   <prefix>-Timestamp: <unix seconds of the wall clock plus the timestamp offset, decimal>
//   <prefix>-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
// signed afresh with the secret set at that moment, over exactly the body bytes sent. A non-2xx
// answer or a transport failure (2 s deadline) is retried, 6 attempts in all, 250 ms apart
// doubling up to 4 s. One exchange at a time, on the worker thread.
class signed_webhooks {
 public:
  using clock = std::chrono::steady_clock;

  // `header_prefix` like "X-Kyc": the headers sent are X-Kyc-Timestamp and X-Kyc-Signature.
  explicit signed_webhooks(std::string header_prefix);
  ~signed_webhooks();  // stop()
  signed_webhooks(const signed_webhooks&) = delete;
  signed_webhooks& operator=(const signed_webhooks&) = delete;

  // Starts the worker. Work queued while it is not running is dropped, so an owner starts it
  // before anything can queue work (its HTTP server).
  void start();
  // Ends the worker promptly, a delivery waiting out its backoff included (an exchange in flight
  // finishes first); work and deliveries still due are dropped. Safe to call twice.
  void stop();

  // `url` like http://127.0.0.1:PORT/path ("" for none: nothing is delivered); `secret` is the
  // HMAC key as raw bytes.
  void set_target(std::string url, std::string secret);
  void set_url(std::string url);  // the secret stays
  // Signing uses the wall clock (the receiver checks against its own) plus `offset`: a negative
  // one sends stale callbacks.
  void set_timestamp_offset(std::chrono::seconds offset);

  // Queues `body` for delivery now; false (nothing queued) while no URL is set. An attempt that
  // finds the URL unset since ends the delivery.
  bool send(std::string body);
  // Runs `work` on the worker once `when` has come, in due order with the deliveries (first
  // queued first among equal times), with no lock of this class held: it may call send().
  void run_at(clock::time_point when, std::function<void()> work);

  std::int64_t attempts() const;
  std::int64_t delivered() const;  // attempts answered 2xx
  int last_status() const;         // 0 before any attempt and after a transport failure

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace superapp::sim
