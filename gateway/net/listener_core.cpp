// The shared listener machinery: acceptor with retry, connection registry, orderly stop.
#include "gateway/net/listener_core.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <utility>

#include "protocols/assert.hpp"
#include "protocols/error_catalogue.hpp"

namespace superapp::listener {

namespace {
// A failing accept (EMFILE) would otherwise spin the acceptor's strand.
constexpr std::int64_t accept_retry_ms = 100;
}  // namespace

listener_core::listener_core(listener_options options, connection_factory make_connection,
                             std::function<void()> on_rejected)
    : options_(std::move(options)),
      make_connection_(std::move(make_connection)),
      on_rejected_(std::move(on_rejected)) {
  SUPERAPP_ASSERT(options_.io_threads > 0);
  SUPERAPP_ASSERT(options_.max_connections > 0);
  SUPERAPP_ASSERT(options_.stop_grace_ms >= 0);
  SUPERAPP_ASSERT(make_connection_);
}

listener_core::~listener_core() { stop(); }

caf::expected<tcp::endpoint> listener_core::start() {
  std::lock_guard<std::mutex> lifecycle_guard{lifecycle_mutex_};
  SUPERAPP_ASSERT(lifecycle_ == lifecycle::created);  // start() is called once
  io_.emplace(static_cast<int>(options_.io_threads));
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options_.bind_address, ec);
  if (!ec) {
    acceptor_.emplace(net::make_strand(*io_));
    const tcp::endpoint endpoint{address, options_.port};
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    spdlog::error("{}: cannot listen on {} port {}: {}", options_.name, options_.bind_address,
                  options_.port, ec.message());
    acceptor_.reset();
    io_.reset();
    lifecycle_ = lifecycle::stopped;
    return make_error(platform_errc::start_failed);
  }
  const auto bound = acceptor_->local_endpoint();
  work_.emplace(io_->get_executor());
  accept_retry_.emplace(acceptor_->get_executor());
  net::post(acceptor_->get_executor(), [this] { accept_next(); });
  threads_.reserve(options_.io_threads);
  for (std::size_t i = 0; i < options_.io_threads; ++i)
    threads_.emplace_back([this] { io_->run(); });
  lifecycle_ = lifecycle::running;
  spdlog::info("{} on {} port {}", options_.name, bound.address().to_string(), bound.port());
  return bound;
}

void listener_core::accept_next() {
  acceptor_->async_accept(net::make_strand(*io_),
                          [this](const boost::system::error_code& ec, tcp::socket socket) {
                            on_accept(ec, std::move(socket));
                          });
}

void listener_core::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
  if (ec) {
    spdlog::warn("{}: accept failed: {}", options_.name, ec.message());
    accept_retry_->expires_after(std::chrono::milliseconds(accept_retry_ms));
    accept_retry_->async_wait([this](const boost::system::error_code& wait_ec) {
      if (!wait_ec && acceptor_->is_open()) accept_next();
    });
    return;
  }
  std::shared_ptr<connection> accepted;
  bool rejected = false;
  {
    std::lock_guard<std::mutex> guard{connections_mutex_};
    if (stopping_) return;  // the socket closes as it goes out of scope
    if (connections_.size() >= options_.max_connections) {
      rejected = true;
    } else {
      const auto id = next_id_++;
      accepted = make_connection_(id, std::move(socket));
      if (accepted) connections_.emplace(id, accepted);
    }
  }
  if (rejected && on_rejected_) on_rejected_();
  if (accepted) {
    auto executor = accepted->executor();
    net::post(executor, [accepted] { accepted->start(); });
  }
  accept_next();
}

void listener_core::forget(std::uint64_t id) {
  std::lock_guard<std::mutex> guard{connections_mutex_};
  connections_.erase(id);
  if (connections_.empty()) connections_gone_.notify_all();
}

std::size_t listener_core::open_connections() const {
  std::lock_guard<std::mutex> guard{connections_mutex_};
  return connections_.size();
}

void listener_core::stop() {
  std::lock_guard<std::mutex> lifecycle_guard{lifecycle_mutex_};
  if (lifecycle_ != lifecycle::running) {
    lifecycle_ = lifecycle::stopped;
    return;
  }
  for (const auto& t : threads_) SUPERAPP_ASSERT(t.get_id() != std::this_thread::get_id());
  lifecycle_ = lifecycle::stopped;
  net::post(acceptor_->get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_->cancel();
  });
  {
    std::unique_lock<std::mutex> lock{connections_mutex_};
    stopping_ = true;
    for (auto& [id, weak] : connections_)
      if (auto c = weak.lock()) {
        auto executor = c->executor();
        net::post(executor, [c = std::move(c)] { c->begin_shutdown(); });
      }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.stop_grace_ms);
    if (!connections_gone_.wait_until(lock, deadline, [this] { return connections_.empty(); }))
      spdlog::warn("{}: {} connection(s) still open after {} ms; cutting them", options_.name,
                   connections_.size(), options_.stop_grace_ms);
  }
  gate_->close();
  work_.reset();
  io_->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Destroying the io_context destroys the handlers still queued, and with them the
  // connections they kept alive; no io thread runs any more, so this is single-threaded.
  accept_retry_.reset();
  acceptor_.reset();
  io_.reset();
  spdlog::info("{} stopped", options_.name);
}

}  // namespace superapp::listener
