// The baseline kinds, and the bare Beast echo baseline in its own process.
#include "bench/harness/baseline.hpp"

#include "bench/harness/child_server.hpp"
#include "bench/harness/echo_server.hpp"

namespace superapp::bench {

const std::vector<baseline_kind_info>& baseline_kinds() {
  static const std::vector<baseline_kind_info> kinds = {
      {"ws_echo", true, "bare Beast WebSocket echo server, the gateway's floor"},
      {"pgbench", false, "pgbench with a transfer script, the ledger on PostgreSQL"},
      {"sqlite_inserts", false, "raw SQLite inserts with the ledger's durability settings"},
      {"librdkafka", false, "librdkafka's own producer/consumer at the bridge's settings"},
  };
  return kinds;
}

const baseline_kind_info* find_baseline_kind(std::string_view kind) {
  for (const auto& k : baseline_kinds())
    if (k.kind == kind) return &k;
  return nullptr;
}

namespace {

class ws_echo_baseline final : public ws_baseline {
 public:
  explicit ws_echo_baseline(std::uint32_t io_threads) : io_threads_(io_threads) {
    server_ = fork_server([io_threads](const std::function<void(std::uint16_t)>& until_stopped) {
      echo_server server{"127.0.0.1", io_threads};
      until_stopped(server.start(0));
      server.stop();
    });
  }
  ~ws_echo_baseline() override { stop_server(server_); }

  std::string_view kind() const override { return "ws_echo"; }
  std::string description() const override {
    return "bare Beast WebSocket echo (own process, " + std::to_string(io_threads_) +
           " io threads)";
  }
  std::string url() const override {
    return "ws://127.0.0.1:" + std::to_string(server_.port) + "/ws";
  }
  double rss_kib() const override { return bench::rss_kib(server_.pid); }

 private:
  std::uint32_t io_threads_;
  child_server server_;
};

}  // namespace

std::unique_ptr<ws_baseline> start_ws_echo_baseline(std::uint32_t io_threads) {
  return std::make_unique<ws_echo_baseline>(io_threads);
}

}  // namespace superapp::bench
