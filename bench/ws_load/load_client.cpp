// The WebSocket load client: one io thread, async Beast connections, latency samples per reply.
#include "bench/ws_load/load_client.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <vector>

namespace superapp::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_samples = 20'000'000;

tcp::endpoint source_endpoint(std::size_t index, std::size_t sources) {
  const auto host = static_cast<unsigned>(1 + index % std::max<std::size_t>(sources, 1));
  return {net::ip::make_address_v4("127.0.0." + std::to_string(host)), 0};
}

// Opens connections with at most `in_flight` connects pending, calling `ready` for each
// connection that finished its handshake and `failed` for each that did not.
class connector {
 public:
  using stream = websocket::stream<beast::tcp_stream>;
  connector(net::io_context& io, std::uint16_t port, std::size_t sources, std::size_t in_flight,
            std::string bearer_token = {})
      : io_(io),
        port_(port),
        sources_(sources),
        in_flight_(in_flight),
        bearer_token_(std::move(bearer_token)) {}

  void open(std::size_t count, std::function<void(std::size_t, stream&)> ready,
            std::function<void()> failed) {
    count_ = count;
    ready_ = std::move(ready);
    failed_ = std::move(failed);
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) streams_.push_back(std::make_unique<stream>(io_));
    for (std::size_t i = 0; i < std::min(in_flight_, count); ++i) next();
  }
  std::vector<std::unique_ptr<stream>>& streams() { return streams_; }

 private:
  void next() {
    if (started_ >= count_) return;
    const auto index = started_++;
    auto& ws = *streams_[index];
    auto& socket = beast::get_lowest_layer(ws).socket();
    beast::error_code ec;
    socket.open(tcp::v4(), ec);
    if (!ec) socket.bind(source_endpoint(index, sources_), ec);
    if (ec) return done(index, false);
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws).async_connect(
        tcp::endpoint{net::ip::make_address_v4("127.0.0.1"), port_},
        [this, index, &ws](beast::error_code connect_ec) {
          if (connect_ec) return done(index, false);
          if (!bearer_token_.empty())
            ws.set_option(websocket::stream_base::decorator(
                [token = bearer_token_](websocket::request_type& req) {
                  req.set(beast::http::field::authorization, "Bearer " + token);
                }));
          ws.async_handshake("127.0.0.1", "/ws", [this, index, &ws](beast::error_code hs_ec) {
            beast::get_lowest_layer(ws).expires_never();
            done(index, !hs_ec);
          });
        });
  }
  void done(std::size_t index, bool ok) {
    if (ok) ready_(index, *streams_[index]);
    else failed_();
    next();
  }

  net::io_context& io_;
  std::uint16_t port_;
  std::size_t sources_;
  std::size_t in_flight_;
  std::string bearer_token_;
  std::size_t count_ = 0;
  std::size_t started_ = 0;
  std::function<void(std::size_t, stream&)> ready_;
  std::function<void()> failed_;
  std::vector<std::unique_ptr<stream>> streams_;
};

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

}  // namespace

load_result run_load(const load_config& config) {
  net::io_context io{1};
  connector conns{io, config.port, config.source_addresses, config.max_connects_in_flight,
                  config.bearer_token};
  const std::string payload =
      config.frame.empty() ? std::string(config.payload_bytes, 'p') : config.frame;
  std::vector<double> samples_us;
  samples_us.reserve(std::min<std::size_t>(max_samples, 1 << 20));
  load_result result;
  bool stopping = false;
  steady::time_point t0;
  net::steady_timer end_timer{io};
  // Paced mode: connection i sends at t0 + (i + k * connections) / rate; latency counts from
  // the scheduled time, so a slow server cannot hide its queueing (no coordinated omission).
  const double interval_s =
      config.rate_per_s > 0 ? static_cast<double>(config.connections) / config.rate_per_s : 0;
  struct state {
    beast::flat_buffer buffer;
    steady::time_point scheduled;
    std::uint64_t k = 0;
    std::unique_ptr<net::steady_timer> pacer;
  };
  std::vector<state> states(config.connections);
  std::size_t ready_count = 0;
  std::size_t settled = 0;

  std::function<void(std::size_t)> send_one;
  auto schedule = [&](std::size_t i) {
    auto& st = states[i];
    auto& ws = *conns.streams()[i];
    if (stopping) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
      return;
    }
    if (interval_s <= 0) {
      st.scheduled = steady::now();
      return send_one(i);
    }
    const auto offset = std::chrono::duration<double>(
        (static_cast<double>(i) / static_cast<double>(config.connections) +
         static_cast<double>(st.k)) * interval_s);
    st.scheduled = t0 + std::chrono::duration_cast<steady::duration>(offset);
    if (!st.pacer) st.pacer = std::make_unique<net::steady_timer>(io);
    st.pacer->expires_at(st.scheduled);
    st.pacer->async_wait([&, i](beast::error_code ec) {
      if (!ec) send_one(i);
    });
  };
  send_one = [&](std::size_t i) {
    auto& ws = *conns.streams()[i];
    ws.text(true);
    ws.async_write(net::buffer(payload), [&, i](beast::error_code ec, std::size_t) {
      auto& w = *conns.streams()[i];
      if (ec) {
        if (!stopping) ++result.errors;
        return;
      }
      w.async_read(states[i].buffer, [&, i](beast::error_code read_ec, std::size_t) {
        auto& st = states[i];
        if (read_ec) {
          if (!stopping) ++result.errors;
          return;
        }
        st.buffer.consume(st.buffer.size());
        if (!stopping) {
          ++result.messages;
          if (samples_us.size() < max_samples)
            samples_us.push_back(
                std::chrono::duration<double, std::micro>(steady::now() - st.scheduled).count());
        }
        ++st.k;
        schedule(i);
      });
    });
  };
  auto begin = [&] {
    t0 = steady::now();
    end_timer.expires_at(t0 + std::chrono::milliseconds(config.duration_ms));
    end_timer.async_wait([&](beast::error_code) {
      stopping = true;
      result.seconds = std::chrono::duration<double>(steady::now() - t0).count();
      for (auto& st : states)
        if (st.pacer) st.pacer->cancel();
      for (std::size_t i = 0; i < conns.streams().size(); ++i) {
        // Paced connections wait on their timer; closed-loop ones close after their reply.
        if (interval_s > 0) {
          beast::error_code ignored;
          beast::get_lowest_layer(*conns.streams()[i]).socket().close(ignored);
        }
      }
    });
    for (std::size_t i = 0; i < conns.streams().size(); ++i)
      if (beast::get_lowest_layer(*conns.streams()[i]).socket().is_open()) schedule(i);
  };
  auto on_settled = [&] {
    if (++settled == config.connections) begin();
  };
  conns.open(
      config.connections,
      [&](std::size_t, connector::stream&) {
        ++ready_count;
        on_settled();
      },
      [&] {
        ++result.errors;
        on_settled();
      });
  io.run();
  result.connected = ready_count;
  result.throughput_per_s = result.seconds > 0 ? static_cast<double>(result.messages) / result.seconds : 0;
  std::sort(samples_us.begin(), samples_us.end());
  result.p50_us = percentile(samples_us, 0.50);
  result.p99_us = percentile(samples_us, 0.99);
  result.max_us = samples_us.empty() ? 0 : samples_us.back();
  return result;
}

class idle_connections::impl {
 public:
  impl(std::uint16_t port, std::size_t count, std::size_t sources, std::string hello,
       std::string bearer_token)
      : conns_(io_, port, sources, 256, std::move(bearer_token)), buffers_(count) {
    conns_.open(
        count,
        [this, hello](std::size_t i, connector::stream& ws) {
          ws.text(true);
          ws.async_write(net::buffer(hello), [this, i, &ws](beast::error_code ec, std::size_t) {
            if (ec) return;
            ws.async_read(buffers_[i], [this](beast::error_code read_ec, std::size_t) {
              if (!read_ec) ++open_;
            });
          });
        },
        [] {});
    io_.run();  // returns when every connection made its round trip (or failed)
  }
  std::size_t open() const { return open_; }

 private:
  net::io_context io_{1};
  connector conns_;
  std::vector<beast::flat_buffer> buffers_;
  std::size_t open_ = 0;
};

idle_connections::idle_connections(std::uint16_t port, std::size_t count,
                                   std::size_t source_addresses, std::string hello_frame,
                                   std::string bearer_token)
    : impl_(std::make_unique<impl>(port, count, source_addresses, std::move(hello_frame),
                                   std::move(bearer_token))) {}
idle_connections::~idle_connections() = default;
std::size_t idle_connections::open() const { return impl_->open(); }

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace superapp::bench
