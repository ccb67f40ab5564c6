// The machinery every Beast listener of a node shares: io threads, one acceptor, a registry of
// live connections, and an orderly stop that lets connections wind down before cutting them.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/expected.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace superapp::listener {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Lets foreign threads (actors answering a request) reach the io_context only while it exists:
// stop() closes the gate before the io_context is destroyed, so a late answer is dropped, not a
// use-after-free. run(f) calls f under the gate's shared lock when the gate is open.
class io_gate {
 public:
  template <class F>
  void run(F&& f) {
    std::shared_lock<std::shared_mutex> guard{mutex_};
    if (open_) f();
  }
  void close() {
    std::unique_lock<std::shared_mutex> guard{mutex_};
    open_ = false;
  }

 private:
  std::shared_mutex mutex_;
  bool open_ = true;
};

// What the core asks of a live connection. start() and begin_shutdown() are posted onto the
// connection's executor (its strand); the connection calls listener_core::forget(id) from its
// destructor.
class connection {
 public:
  virtual ~connection() = default;
  virtual net::any_io_executor executor() = 0;
  virtual void start() = 0;           // the first read (or TLS handshake)
  virtual void begin_shutdown() = 0;  // stop(): finish what is in flight, then close
};

struct listener_options {
  std::string name;  // names the listener in log lines: "ws listener", "admin listener"
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the kernel picks; start() reports it
  std::size_t io_threads = 1;
  std::size_t max_connections = 64;  // accepted beyond this: closed at once, on_rejected runs
  std::int64_t stop_grace_ms = 2'000;  // stop() waits this long for connections to wind down
};

// Lifetime: construct, start() once, stop() (also done by the destructor). Whatever a
// connection's destructor touches must outlive the core's stop(): the io_context, and with it
// the connections its queued handlers keep alive, is destroyed inside stop().
class listener_core {
 public:
  // Makes the connection for an accepted socket, or returns null to close it. Runs on the
  // acceptor's strand under the registry's lock: construct only, do no I/O.
  using connection_factory =
      std::function<std::shared_ptr<connection>(std::uint64_t id, tcp::socket socket)>;

  listener_core(listener_options options, connection_factory make_connection,
                std::function<void()> on_rejected = {});
  ~listener_core();
  listener_core(const listener_core&) = delete;
  listener_core& operator=(const listener_core&) = delete;

  // Binds, listens and starts the io threads. A bad address or a port in use is
  // platform_errc::start_failed (the system's text goes to the log).
  caf::expected<tcp::endpoint> start();

  // Closes the acceptor, asks every connection to wind down, waits up to stop_grace_ms for
  // them to go, closes the gate, then stops and joins the io threads and destroys the
  // io_context (and the connections still held by its handlers). Idempotent; not from an io
  // thread (it joins them).
  void stop();

  void forget(std::uint64_t id);
  const std::shared_ptr<io_gate>& gate() const { return gate_; }
  std::size_t open_connections() const;

 private:
  void accept_next();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);

  const listener_options options_;
  const connection_factory make_connection_;
  const std::function<void()> on_rejected_;
  const std::shared_ptr<io_gate> gate_ = std::make_shared<io_gate>();

  std::mutex lifecycle_mutex_;  // serialises start() and stop()
  enum class lifecycle { created, running, stopped } lifecycle_ = lifecycle::created;

  mutable std::mutex connections_mutex_;
  std::condition_variable connections_gone_;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;

  // Declared last: resetting them destroys the connections still queued in the io_context,
  // whose destructors call forget() on the members above.
  std::optional<net::io_context> io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> accept_retry_;
  std::vector<std::thread> threads_;
};

}  // namespace superapp::listener
