// The WebSocket transport over real loopback sockets: Beast clients against ws_listener, with
// session actors under a real sessions_sup.
#include "gateway/ws/ws_listener.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "supervisors/supervisor.hpp"

using namespace superapp;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Only a bound against a hung test; no test waits for it to pass.
constexpr auto test_deadline = 60s;

// Blocking Beast clients keep the tests short; this turns a hang into a failure.
class watchdog {
 public:
  watchdog()
      : thread_([this] {
          std::unique_lock<std::mutex> lock{mutex_};
          if (!done_cv_.wait_for(lock, test_deadline, [this] { return done_; })) {
            std::fprintf(stderr, "test hung for %lld s\n",
                         static_cast<long long>(test_deadline.count()));
            std::_Exit(3);
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

// A one-shot signal from an actor or io thread to the test thread.
class one_shot {
 public:
  void fire() {
    std::lock_guard<std::mutex> guard{mutex_};
    fired_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lock{mutex_};
    return cv_.wait_for(lock, timeout, [this] { return fired_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool fired_ = false;
};

ws::session_handler_factory echo_factory() {
  return [](caf::event_based_actor*, const ws::session_context&,
            std::shared_ptr<ws::outbound> out) {
    ws::session_handler handler;
    handler.on_text = [out](std::string frame) { out->send_text(std::move(frame)); };
    return handler;
  };
}

// An actor system, a sessions_sup and a started listener; torn down in the node's order.
struct gateway {
  gateway(ws::ws_config config, ws::session_handler_factory factory,
          ws::http_handler on_http = {}) {
    cfg_.set("scheduler.max-threads", 2);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sessions_sup_ = sup::spawn_supervisor(*sys_, ws::sessions_supervisor_spec(std::move(factory)));
    {
      caf::scoped_actor self{*sys_};
      REQUIRE_FALSE(sup::await_ready(self, sessions_sup_, 10s));
    }
    listener_ = std::make_unique<ws::ws_listener>(std::move(config), *sys_, sessions_sup_,
                                                  std::move(on_http));
    auto endpoint = listener_->start();
    REQUIRE(endpoint);
    port_ = endpoint->port;
  }
  ~gateway() {
    listener_->stop();
    {
      caf::scoped_actor self{*sys_};
      sup::shutdown(self, sessions_sup_, 10s);
    }
    sessions_sup_ = nullptr;
    listener_.reset();
    sys_.reset();
  }
  caf::actor_system& sys() { return *sys_; }
  ws::ws_listener& listener() { return *listener_; }
  std::uint16_t port() const { return port_; }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::actor sessions_sup_;
  std::unique_ptr<ws::ws_listener> listener_;
  std::uint16_t port_ = 0;
};

template <class Stream>
std::uint16_t read_until_close(websocket::stream<Stream>& ws) {
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec == websocket::error::closed) return ws.reason().code;
    if (ec) return 0;
    buffer.consume(buffer.size());
  }
}

// A blocking client; `receive_buffer_bytes` > 0 makes a slow reader fill up quickly.
struct client {
  explicit client(std::uint16_t port, int receive_buffer_bytes = 0) : ws_(io_) {
    auto& socket = ws_.next_layer();
    socket.open(tcp::v4());
    if (receive_buffer_bytes > 0)
      socket.set_option(net::socket_base::receive_buffer_size(receive_buffer_bytes));
    socket.connect({net::ip::make_address("127.0.0.1"), port});
    ws_.handshake("127.0.0.1", "/ws");
  }
  void send(const std::string& text) {
    ws_.text(true);
    ws_.write(net::buffer(text));
  }
  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(net::buffer(bytes));
  }
  std::string read() {
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }
  std::uint16_t read_until_close() { return ::read_until_close(ws_); }

  net::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

unsigned raw_upgrade_status(std::uint16_t port) {
  net::io_context io;
  websocket::stream<tcp::socket> ws{io};
  ws.next_layer().connect({net::ip::make_address("127.0.0.1"), port});
  websocket::response_type response;
  beast::error_code ec;
  ws.handshake(response, "127.0.0.1", "/ws", ec);
  return response.result_int();
}

void raise_open_file_limit() {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = limit.rlim_max;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

// A self-signed certificate for 127.0.0.1, made with OpenSSL 3's own APIs.
struct self_signed_cert {
  std::filesystem::path dir;
  std::filesystem::path cert_path;
  std::filesystem::path key_path;
  std::string cert_pem;

  self_signed_cert() {
    dir = std::filesystem::temp_directory_path() /
          ("superapp-ws-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    cert_path = dir / "cert.pem";
    key_path = dir / "key.pem";
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    REQUIRE(san != nullptr);
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    FILE* f = std::fopen(cert_path.c_str(), "w");
    REQUIRE(f != nullptr);
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    REQUIRE(f != nullptr);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    BIO* mem = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(mem, cert);
    char* data = nullptr;
    const long size = BIO_get_mem_data(mem, &data);
    cert_pem.assign(data, static_cast<std::size_t>(size));
    BIO_free(mem);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~self_signed_cert() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

}  // namespace

TEST_CASE("a text frame makes a round trip through the session actor") {
  watchdog guard;
  std::mutex mutex;
  ws::session_context seen;
  std::thread::id handler_thread;
  gateway gw{{}, [&](caf::event_based_actor*, const ws::session_context& context,
                     std::shared_ptr<ws::outbound> out) {
               {
                 std::lock_guard<std::mutex> lock{mutex};
                 seen = context;
               }
               ws::session_handler handler;
               handler.on_text = [out, &mutex, &handler_thread](std::string frame) {
                 {
                   std::lock_guard<std::mutex> lock{mutex};
                   handler_thread = std::this_thread::get_id();
                 }
                 out->send_text("echo:" + frame);
               };
               return handler;
             }};
  client c{gw.port()};
  c.send("hello");
  CHECK(c.read() == "echo:hello");
  c.send("again");
  CHECK(c.read() == "echo:again");
  std::lock_guard<std::mutex> lock{mutex};
  CHECK(seen.remote_address == "127.0.0.1");
  CHECK(seen.target == "/ws");
  CHECK(seen.session_id > 0);
  CHECK(handler_thread != std::this_thread::get_id());
  CHECK(gw.listener().stats().sessions_open == 1);
}

TEST_CASE("a handler inside the session actor can request another actor and write the reply later") {
  watchdog guard;
  caf::actor upper_service;
  std::atomic<caf::actor_system*> system{nullptr};
  gateway gw{{}, [&](caf::event_based_actor* self, const ws::session_context&,
                     std::shared_ptr<ws::outbound> out) {
               ws::session_handler handler;
               handler.on_text = [self, out, &upper_service](std::string frame) {
                 self->request(upper_service, 2s, std::move(frame))
                     .then([out](const std::string& reply) { out->send_text(reply); },
                           [out](caf::error&) { out->close(ws::close_code::internal_error, ""); });
               };
               return handler;
             }};
  upper_service = gw.sys().spawn(
      [](caf::event_based_actor*, int) -> caf::behavior {
        return {[](std::string& text) {
          for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          return text;
        }};
      },
      0);
  client c{gw.port()};
  c.send("front door");
  CHECK(c.read() == "FRONT DOOR");
  caf::anon_send_exit(upper_service, caf::exit_reason::user_shutdown);
  upper_service = nullptr;
}

TEST_CASE("a frame over max_frame_bytes is closed with 1009") {
  watchdog guard;
  ws::ws_config config;
  config.max_frame_bytes = 1024;
  gateway gw{config, echo_factory()};
  client c{gw.port()};
  c.send(std::string(1000, 'a'));
  CHECK(c.read().size() == 1000);
  c.send(std::string(1025, 'b'));
  CHECK(c.read_until_close() == ws::close_code::too_big);
}

TEST_CASE("a binary frame is closed with 1003") {
  watchdog guard;
  gateway gw{{}, echo_factory()};
  client c{gw.port()};
  c.send_binary("\x01\x02");
  CHECK(c.read_until_close() == ws::close_code::unsupported_data);
}

TEST_CASE("a client that never reads is closed with 1013 and the queue stays under its limit") {
  watchdog guard;
  ws::ws_config config;
  config.max_outbound_bytes = 256 * 1024;
  config.max_outbound_frames = 64;
  config.max_frame_bytes = 1024 * 1024;
  one_shot refused;
  std::atomic<int> frames_accepted{0};
  gateway gw{config, [&](caf::event_based_actor*, const ws::session_context&,
                         std::shared_ptr<ws::outbound> out) {
               ws::session_handler handler;
               handler.on_text = [out, &refused, &frames_accepted](std::string) {
                 const std::string chunk(16 * 1024, 'x');
                 // Far more than any socket buffers hold: the queue must fill.
                 for (int i = 0; i < 100'000; ++i) {
                   if (!out->send_text(chunk)) {
                     CHECK(out->queued_bytes() <= 256 * 1024);
                     refused.fire();
                     return;
                   }
                   frames_accepted.fetch_add(1);
                 }
               };
               return handler;
             }};
  client c{gw.port(), 4096};
  c.send("flood");
  REQUIRE(refused.wait());
  const auto stats = gw.listener().stats();
  CHECK(stats.closed_outbound_full == 1);
  CHECK(stats.outbound_queue_high_water_bytes <= config.max_outbound_bytes);
  CHECK(stats.outbound_queue_high_water_bytes > 0);
  CHECK(frames_accepted.load() < 100'000);
  // Now the client reads: what was already written, then the close frame.
  CHECK(c.read_until_close() == ws::close_code::try_again_later);
}

TEST_CASE("keepalive cuts a peer that stops answering pings, and its session actor stops") {
  watchdog guard;
  ws::ws_config config;
  config.ping_interval_ms = 20;
  config.pong_timeout_ms = 60;
  one_shot actor_ended;
  gateway gw{config, [&](caf::event_based_actor* self, const ws::session_context&,
                         std::shared_ptr<ws::outbound> out) {
               self->attach_functor([&actor_ended](const caf::error&) { actor_ended.fire(); });
               ws::session_handler handler;
               handler.on_text = [out](std::string frame) { out->send_text(std::move(frame)); };
               return handler;
             }};
  client c{gw.port()};
  c.send("ping me");
  CHECK(c.read() == "ping me");
  // The client stops reading, so Beast never answers the server's pings.
  REQUIRE(actor_ended.wait());
  CHECK(gw.listener().stats().closed_keepalive == 1);
  CHECK(c.read_until_close() == 0);  // cut, not closed: a dead peer gets no close handshake
}

TEST_CASE("a session that keeps answering pings stays open") {
  watchdog guard;
  ws::ws_config config;
  config.ping_interval_ms = 10;
  config.pong_timeout_ms = 200;
  gateway gw{config, echo_factory()};
  client c{gw.port()};
  // A reading client answers pings; 30 round trips span several ping intervals.
  for (int i = 0; i < 30; ++i) {
    c.send(std::to_string(i));
    CHECK(c.read() == std::to_string(i));
  }
  CHECK(gw.listener().stats().closed_keepalive == 0);
}

TEST_CASE("a crashing session actor closes only its own connection") {
  watchdog guard;
  gateway gw{{}, [](caf::event_based_actor*, const ws::session_context&,
                    std::shared_ptr<ws::outbound> out) {
               ws::session_handler handler;
               handler.on_text = [out](std::string frame) {
                 if (frame.starts_with("crash")) throw std::runtime_error("handler bug");
                 out->send_text(std::move(frame));
               };
               return handler;
             }};
  client victim{gw.port()};
  client bystander{gw.port()};
  bystander.send("before");
  CHECK(bystander.read() == "before");
  victim.send("crash");
  CHECK(victim.read_until_close() == ws::close_code::internal_error);
  bystander.send("after");
  CHECK(bystander.read() == "after");
  CHECK(gw.listener().stats().closed_actor_crash == 1);
}

TEST_CASE("stop() sends 1001 going away to every open session") {
  watchdog guard;
  gateway gw{{}, echo_factory()};
  client a{gw.port()};
  client b{gw.port()};
  a.send("x");
  CHECK(a.read() == "x");
  b.send("y");
  CHECK(b.read() == "y");
  auto stopped = std::async(std::launch::async, [&] { gw.listener().stop(); });
  CHECK(a.read_until_close() == ws::close_code::going_away);
  CHECK(b.read_until_close() == ws::close_code::going_away);
  stopped.get();
  CHECK(a.ws_.reason().reason == "going away");
  gw.listener().stop();  // idempotent
}

TEST_CASE("an upgrade beyond max_sessions is answered with 503 before the upgrade") {
  watchdog guard;
  ws::ws_config config;
  config.max_sessions = 2;
  gateway gw{config, echo_factory()};
  client a{gw.port()};
  client b{gw.port()};
  CHECK(raw_upgrade_status(gw.port()) == 503);
  CHECK(gw.listener().stats().rejected_over_max_sessions == 1);
  a.send("still here");
  CHECK(a.read() == "still here");
}

TEST_CASE("plain HTTP requests go to the http handler, and without one get 404 JSON") {
  watchdog guard;
  auto get = [](std::uint16_t port, const std::string& target) {
    net::io_context io;
    beast::tcp_stream stream{io};
    stream.connect({net::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return response;
  };
  {
    gateway gw{{}, echo_factory()};
    auto response = get(gw.port(), "/partners/x");
    CHECK(response.result_int() == 404);
    CHECK(response.body().find("\"not_found\"") != std::string::npos);
  }
  {
    std::thread answerer;
    gateway gw{{}, echo_factory(), [&](ws::http_request request, ws::http_respond respond) {
                 // Answered later from another thread, as an actor would.
                 answerer = std::thread([request = std::move(request), respond] {
                   ws::http_response response;
                   response.body = "{\"path\":\"" + request.target + "\"}";
                   respond(response);
                 });
               }};
    auto response = get(gw.port(), "/.well-known/jwks.json");
    CHECK(response.result_int() == 200);
    CHECK(response.body() == "{\"path\":\"/.well-known/jwks.json\"}");
    answerer.join();
  }
}

TEST_CASE("a TLS session makes a round trip with a self-signed certificate") {
  watchdog guard;
  self_signed_cert cert;
  ws::ws_config config;
  config.tls_cert_path = cert.cert_path.string();
  config.tls_key_path = cert.key_path.string();
  gateway gw{config, echo_factory()};
  net::io_context io;
  ssl::context tls{ssl::context::tls_client};
  tls.add_certificate_authority(net::buffer(cert.cert_pem));
  tls.set_verify_mode(ssl::verify_peer);
  websocket::stream<beast::ssl_stream<tcp::socket>> ws{io, tls};
  beast::get_lowest_layer(ws).connect({net::ip::make_address("127.0.0.1"), gw.port()});
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("127.0.0.1", "/ws");
  ws.text(true);
  ws.write(net::buffer(std::string{"over tls"}));
  beast::flat_buffer buffer;
  ws.read(buffer);
  CHECK(beast::buffers_to_string(buffer.data()) == "over tls");
  ws.close(websocket::close_code::normal);
}

TEST_CASE("a thousand concurrent sessions each make a round trip") {
  watchdog guard;
  raise_open_file_limit();
  constexpr int sessions = 1000;
  ws::ws_config config;
  config.io_threads = 2;
  gateway gw{config, echo_factory()};
  std::vector<std::unique_ptr<client>> clients;
  clients.reserve(sessions);
  for (int i = 0; i < sessions; ++i) clients.push_back(std::make_unique<client>(gw.port()));
  for (int i = 0; i < sessions; ++i) clients[i]->send("n" + std::to_string(i));
  int answered = 0;
  for (int i = 0; i < sessions; ++i) answered += clients[i]->read() == "n" + std::to_string(i);
  CHECK(answered == sessions);
  CHECK(gw.listener().stats().sessions_open == sessions);
}
