// `superapp client`: a small WebSocket client for poking a running node by hand.
#include "app/client_cli.hpp"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "app/cli_common.hpp"
#include "app/gateway_wiring.hpp"
#include "app/ws_client.hpp"
#include "protocols/clock.hpp"
#include "protocols/hex.hpp"
#include "protocols/tokens/approval.hpp"
#include "protocols/ws/banking_ops.hpp"
#include "protocols/tokens/device_key.hpp"

namespace superapp::app {
namespace {

int usage() {
  std::fprintf(stderr,
               "usage: superapp client [--url ws://HOST:PORT/ws] [--token TOKEN | --dev-token]\n"
               "                       [--data-dir DIR]\n"
               "                       [op OP [BODY_JSON] [--idempotency-key KEY]]\n"
               "With `op` it sends one request and prints the reply (exit 0 when ok). Without,\n"
               "it reads `OP BODY_JSON` lines from stdin and prints each reply.\n"
               "The token may also come from SUPERAPP_CLIENT_TOKEN; --dev-token signs one with the\n"
               "development key `superapp run` keeps in DIR (until the identity domain issues them).\n"
               "\n"
               "       superapp client [...] watch TOPIC... [--count N] [--timeout-s S]\n"
               "With `watch` it subscribes to each TOPIC (an event type or `prefix.*`, e.g.\n"
               "identity.*) and prints every event pushed to this user as one JSON line; it stops\n"
               "after N events (exit 0) or S seconds (exit 1 if fewer than N came).\n"
               "\n"
               "usage: superapp client identity register PHONE\n"
               "       superapp client identity verify [CODE] --mpin PIN [--device-name NAME]\n"
               "       superapp client identity login --mpin PIN\n"
               "       superapp client identity refresh | logout | show\n"
               "       superapp client identity authorise OP AMOUNT_MINOR CURRENCY PAYEE\n"
               "                [--mpin PIN | --password PW] [--step-up otp|biometric [--otp CODE]]\n"
               "       (each also takes --url and --data-dir)\n"
               "Sign-up and login from the command line. The device key, ids and tokens are kept in\n"
               "DIR/client-identity.json (mode 0600); later `op` calls use its access token. Without\n"
               "CODE, verify reads the code from the SMS simulator of `superapp run` (node.json).\n"
               "`authorise` asks identity for a signed approval of one operation (e.g.\n"
               "banking.transfer 60000 GBP acct-1: GBP 600.00 to acct-1) as the logged-in user;\n"
               "--step-up biometric signs the step-up challenge with the device key, --step-up otp\n"
               "answers the code sent by SMS (from --otp, else from the simulator of `run`).\n"
               "\n"
               "usage: superapp client banking open CURRENCY | accounts\n"
               "       superapp client banking statement CURRENCY [--after SEQ] [--limit N]\n"
               "       superapp client banking pay USER_ID AMOUNT_MINOR CURRENCY [--hold [--expires-in-s S]]\n"
               "                [--mpin PIN | --password PW] [--step-up otp|biometric [--otp CODE]]\n"
               "                [--idempotency-key KEY]\n"
               "       superapp client banking batch CURRENCY USER_ID:AMOUNT_MINOR...\n"
               "                [--mpin PIN | --password PW] [--step-up otp|biometric [--otp CODE]]\n"
               "                [--idempotency-key KEY]\n"
               "       superapp client banking capture HOLD_ID [AMOUNT_MINOR] | release HOLD_ID\n"
               "       superapp client banking status TRANSFER_ID\n"
               "       superapp client banking link CUSTOMER_ID | banks | bank-accounts LINK_ID\n"
               "       superapp client banking unlink LINK_ID | payment PAYMENT_ID\n"
               "       superapp client banking topup LINK_ID BANK_ACCOUNT AMOUNT_MINOR CURRENCY [--wait]\n"
               "The logged-in user's wallets. `pay` asks identity for the approval (as `identity\n"
               "authorise`) and sends banking.transfer (or banking.hold with --hold) with it; its\n"
               "idempotency key (printed; random unless given) makes a retry safe. `batch` pays\n"
               "several users all or nothing under one approval (always a step-up). `link` links\n"
               "your account at the bank (the simulator of `run` knows any CUSTOMER_ID), `topup`\n"
               "pays from it into your wallet; --wait prints the payment once settled.\n");
  return 2;
}

// The command-line app's state: what a phone keeps in its secure storage.
class identity_state {
 public:
  explicit identity_state(const std::string& data_dir)
      : path_((std::filesystem::path{data_dir} / "client-identity.json").string()) {
    auto text = read_text_file(path_);
    boost::system::error_code ec;
    auto doc = boost::json::parse(text, ec);
    if (!ec && doc.is_object()) doc_ = doc.as_object();
  }
  std::string get(const char* key) const {
    auto* v = doc_.if_contains(key);
    return v && v->is_string() ? std::string{v->as_string()} : std::string{};
  }
  void set(const char* key, const std::string& value) { doc_[key] = value; }
  void save() const {
    std::filesystem::create_directories(std::filesystem::path{path_}.parent_path());
    std::ofstream out{path_, std::ios::trunc};
    out << boost::json::serialize(doc_) << "\n";
    out.close();
    ::chmod(path_.c_str(), S_IRUSR | S_IWUSR);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  boost::json::object doc_;
};

// Connects to `url`, or to the node of `data_dir/node.json` when it is empty: 0, or the exit
// status after saying why on stderr (2: no URL, 1: cannot connect).
int connect_to_node(client_session& session, std::string url, const std::string& data_dir,
                    const std::string& token) {
  if (url.empty()) url = node_file_field(data_dir, "ws_url");
  auto target = parse_url(url, "ws://", "/ws");
  if (!target) {
    std::fprintf(stderr, "superapp client: no WebSocket URL (pass --url ws://HOST:PORT/ws)\n");
    return 2;
  }
  std::string failure;
  if (!session.connect(*target, token, failure)) {
    std::fprintf(stderr, "superapp client: cannot connect to %s: %s\n", url.c_str(),
                 failure.c_str());
    return 1;
  }
  return 0;
}

// `client watch`: subscribe, then print pushed events until `count` (0: no limit) or the
// deadline (0: none).
int watch_events(client_session& session, const std::vector<std::string>& topics,
                 std::int64_t count, std::int64_t timeout_s) {
  std::string failure, reply;
  for (const auto& topic : topics) {
    if (!session.call("session.subscribe", boost::json::serialize(boost::json::object{{"topic", topic}}),
                      "", reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return 1;
    }
    if (!reply_ok(reply)) {
      std::printf("%s\n", reply.c_str());
      return 1;
    }
    std::fprintf(stderr, "superapp client: subscribed to %s\n", topic.c_str());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{timeout_s > 0 ? timeout_s : std::int64_t{86400} * 365};
  std::int64_t seen = 0;
  while (count == 0 || seen < count) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::string frame;
    if (left.count() <= 0 || !session.next_frame(left, frame, failure)) {
      std::fprintf(stderr, "superapp client: %lld events, then %s\n", static_cast<long long>(seen),
                   left.count() <= 0 ? "the timeout" : failure.c_str());
      return count == 0 ? 0 : 1;
    }
    std::printf("%s\n", frame.c_str());
    std::fflush(stdout);
    if (frame.find("\"type\":\"event\"") != std::string::npos) ++seen;
  }
  return 0;
}

// One op call of a command: the reply's body when ok; otherwise says why (stderr) or prints the
// error reply (stdout) and gives nothing.
using op_call = std::function<std::optional<boost::json::object>(const std::string& op,
                                                                 const boost::json::object& body)>;

// Calls on `session` with `idempotency_key` (empty: none).
op_call caller_of(client_session& session, std::string idempotency_key) {
  return [&session, idempotency_key](const std::string& op,
                                     const boost::json::object& body) -> std::optional<boost::json::object> {
    std::string failure, reply;
    if (!session.call(op, boost::json::serialize(body), idempotency_key, reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return std::nullopt;
    }
    auto out = ok_body(reply);
    if (!out) std::printf("%s\n", reply.c_str());
    return out;
  };
}

struct factors {
  std::string mpin, password, step_up, otp;  // step_up: "", "otp" or "biometric"
};

// identity.authorise for `op` as the logged-in user, with a step-up first when asked: the
// reply ({approval, ...}).
std::optional<boost::json::object> authorise(const op_call& call, const identity_state& state,
                                             const std::string& data_dir,
                                             const tokens::operation_binding& op, const factors& f) {
  boost::json::object amount{{"minor", op.amount_minor}, {"currency", op.currency}};
  boost::json::object body{{"operation", op.operation}, {"amount", amount}, {"payee", op.payee}};
  if (!f.mpin.empty()) body["mpin"] = f.mpin;
  if (!f.password.empty()) body["password"] = f.password;
  if (!f.step_up.empty()) {
    auto started = call("identity.step_up", {{"operation", op.operation},
                                             {"amount", amount},
                                             {"payee", op.payee},
                                             {"method", f.step_up}});
    if (!started) return std::nullopt;
    boost::json::object proof{{"step_up_id", text_of(*started, "step_up_id")}};
    if (f.step_up == "biometric") {
      // A phone asks for the fingerprint here; the key it unlocks is the device key.
      std::string err;
      auto key = tokens::signing_key::from_pem("device", state.get("device_key_pem"), err);
      if (!key) {
        std::fprintf(stderr, "superapp client: no device key (superapp client identity verify)\n");
        return std::nullopt;
      }
      proof["signature"] = tokens::sign_message_es256(*key, text_of(*started, "challenge"));
    } else {
      auto code = f.otp.empty() ? code_from_simulator(data_dir, state.get("phone")) : f.otp;
      if (code.empty()) {
        std::fprintf(stderr, "superapp client: no --otp given and none found at the simulator\n");
        return std::nullopt;
      }
      proof["otp"] = code;
    }
    body["step_up"] = proof;
  }
  return call("identity.authorise", body);
}

int identity_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  std::string url, data_dir = "./data", mpin, password, step_up, otp,
      device_name = "superapp client";
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if ((args[i] == "--url" && value(url)) || (args[i] == "--data-dir" && value(data_dir)) ||
        (args[i] == "--mpin" && value(mpin)) || (args[i] == "--device-name" && value(device_name)) ||
        (args[i] == "--password" && value(password)) || (args[i] == "--step-up" && value(step_up)) ||
        (args[i] == "--otp" && value(otp)))
      continue;
    if (args[i].rfind("--", 0) == 0) return usage();
    positional.push_back(args[i]);
  }
  const auto& what = args[0];
  identity_state state{data_dir};
  if (what == "show") {
    std::printf("%s\n", read_text_file(state.path()).c_str());
    return 0;
  }
  // Sign-up and login are public; authorising is done as the logged-in user.
  const bool as_user = what == "authorise";
  if (as_user && state.get("access_token").empty()) {
    std::fprintf(stderr, "superapp client: not logged in (superapp client identity login)\n");
    return 1;
  }
  client_session session;
  if (int status = connect_to_node(session, url, data_dir, as_user ? state.get("access_token") : ""))
    return status;
  op_call call = caller_of(session, "");
  auto keep_tokens = [&](const boost::json::object& body) {
    state.set("access_token", text_of(body, "access_token"));
    state.set("refresh_token", text_of(body, "refresh_token"));
    state.save();
    std::printf("logged in: user %s, device %s; access token valid %lld s (kept in %s)\n",
                text_of(body, "user_id").c_str(), text_of(body, "device_id").c_str(),
                static_cast<long long>(body.at("expires_in_s").as_int64()), state.path().c_str());
  };
  if (what == "register") {
    if (positional.size() != 1) return usage();
    auto body = call("identity.register", {{"phone", positional[0]}});
    if (!body) return 1;
    state.set("phone", positional[0]);
    state.set("user_id", text_of(*body, "user_id"));
    state.save();
    std::printf("code sent to %s; next: superapp client identity verify [CODE] --mpin PIN\n",
                positional[0].c_str());
    return 0;
  }
  if (what == "verify") {
    auto phone = state.get("phone");
    if (phone.empty() || mpin.empty() || positional.size() > 1) return usage();
    auto code = positional.empty() ? code_from_simulator(data_dir, phone) : positional[0];
    if (code.empty()) {
      std::fprintf(stderr, "superapp client: no code given and none found at the simulator\n");
      return 1;
    }
    auto verified = call("identity.verify_otp", {{"phone", phone}, {"code", code}});
    if (!verified) return 1;
    auto key = tokens::signing_key::generate("device");
    auto bound = call("identity.bind_device",
                      {{"enrolment_token", text_of(*verified, "enrolment_token")},
                       {"public_key", tokens::device_public_key_b64url(key)},
                       {"device_name", device_name},
                       {"mpin", mpin}});
    if (!bound) return 1;
    state.set("device_id", text_of(*bound, "device_id"));
    state.set("device_key_pem", key.private_pem());
    state.save();
    std::printf("device %s bound; next: superapp client identity login --mpin PIN\n",
                text_of(*bound, "device_id").c_str());
    return 0;
  }
  if (what == "login") {
    auto device_id = state.get("device_id");
    std::string err;
    auto key = tokens::signing_key::from_pem("device", state.get("device_key_pem"), err);
    if (device_id.empty() || !key || mpin.empty()) return usage();
    auto challenge = call("identity.challenge", {{"device_id", device_id}});
    if (!challenge) return 1;
    auto pair = call("identity.login",
                       {{"device_id", device_id},
                        {"challenge_id", text_of(*challenge, "challenge_id")},
                        {"signature", tokens::sign_message_es256(*key, text_of(*challenge, "challenge"))},
                        {"mpin", mpin}});
    if (!pair) return 1;
    keep_tokens(*pair);
    return 0;
  }
  if (what == "authorise") {
    std::int64_t minor = 0;
    if (positional.size() != 4 ||
        !parse_integer(positional[1], 1, std::numeric_limits<std::int64_t>::max(), minor) ||
        (!step_up.empty() && step_up != "otp" && step_up != "biometric"))
      return usage();
    auto approved = authorise(call, state, data_dir, {positional[0], minor, positional[2], positional[3]},
                              {mpin, password, step_up, otp});
    if (!approved) return 1;
    std::printf("%s\n", boost::json::serialize(*approved).c_str());
    return 0;
  }
  if ((what == "refresh" || what == "logout") && state.get("refresh_token").empty()) {
    std::fprintf(stderr, "superapp client: not logged in (superapp client identity login)\n");
    return 1;
  }
  if (what == "refresh") {
    auto pair = call("identity.refresh", {{"refresh_token", state.get("refresh_token")}});
    if (!pair) return 1;
    keep_tokens(*pair);
    return 0;
  }
  if (what == "logout") {
    auto out = call("identity.logout", {{"refresh_token", state.get("refresh_token")}});
    if (!out) return 1;
    state.set("access_token", "");
    state.set("refresh_token", "");
    state.save();
    std::printf("logged out\n");
    return 0;
  }
  return usage();
}


// `client banking ...`: the logged-in user's wallets, payments and holds.
int banking_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  std::string url, data_dir = "./data", key;
  factors f;
  std::int64_t after = -1, limit = 0, expires_in_s = 0;
  bool hold = false, wait = false;
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    auto number = [&](std::int64_t& out) {
      return i + 1 < args.size() && parse_integer(args[++i], 0, std::numeric_limits<std::int64_t>::max(), out);
    };
    if ((args[i] == "--url" && value(url)) || (args[i] == "--data-dir" && value(data_dir)) ||
        (args[i] == "--mpin" && value(f.mpin)) || (args[i] == "--password" && value(f.password)) ||
        (args[i] == "--step-up" && value(f.step_up)) || (args[i] == "--otp" && value(f.otp)) ||
        (args[i] == "--idempotency-key" && value(key)) || (args[i] == "--after" && number(after)) ||
        (args[i] == "--limit" && number(limit)) || (args[i] == "--expires-in-s" && number(expires_in_s)))
      continue;
    if (args[i] == "--hold" || args[i] == "--wait") {
      (args[i] == "--hold" ? hold : wait) = true;
      continue;
    }
    if (args[i].rfind("--", 0) == 0) return usage();
    positional.push_back(args[i]);
  }
  const auto& what = args[0];
  identity_state state{data_dir};
  if (state.get("access_token").empty()) {
    std::fprintf(stderr, "superapp client: not logged in (superapp client identity login)\n");
    return 1;
  }
  if (key.empty()) {  // a write the user may retry: one key per attempt, shown for the retry
    unsigned char bytes[12];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return 1;
    key = "cli-" + to_hex(bytes, sizeof bytes);
  }
  client_session session;
  if (int status = connect_to_node(session, url, data_dir, state.get("access_token"))) return status;
  op_call read = caller_of(session, "");
  op_call write = caller_of(session, key);
  auto print = [](const std::optional<boost::json::object>& body) {
    if (!body) return 1;
    std::printf("%s\n", boost::json::serialize(*body).c_str());
    return 0;
  };
  std::int64_t minor = 0;
  if (what == "open" && positional.size() == 1)
    return print(write("banking.open_account", {{"currency", positional[0]}}));
  if (what == "accounts" && positional.empty()) return print(read("banking.accounts", {}));
  if (what == "statement" && positional.size() == 1) {
    boost::json::object body{{"currency", positional[0]}};
    if (after >= 0) body["after"] = after;
    if (limit > 0) body["limit"] = limit;
    return print(read("banking.statement", body));
  }
  if (what == "status" && positional.size() == 1)
    return print(read("banking.transfer_status", {{"transfer_id", positional[0]}}));
  if (what == "release" && positional.size() == 1)
    return print(write("banking.release", {{"hold_id", positional[0]}}));
  if (what == "capture" && (positional.size() == 1 || positional.size() == 2)) {
    boost::json::object body{{"hold_id", positional[0]}};
    if (positional.size() == 2) {
      if (!parse_integer(positional[1], 1, std::numeric_limits<std::int64_t>::max(), minor)) return usage();
      body["amount_minor"] = minor;
    }
    return print(write("banking.capture", body));
  }
  if (what == "link" && positional.size() == 1)
    return print(write("banking.link_bank", {{"customer", positional[0]}}));
  if (what == "banks" && positional.empty()) return print(read("banking.linked_banks", {}));
  if (what == "bank-accounts" && positional.size() == 1)
    return print(read("banking.bank_accounts", {{"link_id", positional[0]}}));
  if (what == "unlink" && positional.size() == 1)
    return print(write("banking.unlink_bank", {{"link_id", positional[0]}}));
  if (what == "payment" && positional.size() == 1)
    return print(read("banking.payment_status", {{"payment_id", positional[0]}}));
  if (what == "topup" && positional.size() == 4 &&
      parse_integer(positional[2], 1, std::numeric_limits<std::int64_t>::max(), minor)) {
    std::fprintf(stderr, "superapp client: banking.topup with idempotency key %s\n", key.c_str());
    auto payment = write("banking.topup", {{"link_id", positional[0]},
                                           {"bank_account", positional[1]},
                                           {"amount", {{"minor", minor}, {"currency", positional[3]}}}});
    // --wait: until the bank settles it (posted) or it fails, for at most a minute.
    for (int i = 0; wait && payment && i < 600; ++i) {
      auto state = text_of(*payment, "state");
      if (state == "posted" || state == "failed") break;
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
      payment = read("banking.payment_status", {{"payment_id", text_of(*payment, "payment_id")}});
    }
    if (payment && text_of(*payment, "state") == "failed") {
      std::printf("%s\n", boost::json::serialize(*payment).c_str());
      return 1;
    }
    return print(payment);
  }
  if (what == "batch" && positional.size() >= 2 &&
      (f.step_up.empty() || f.step_up == "otp" || f.step_up == "biometric")) {
    const auto& currency = positional[0];
    std::vector<ws::banking_batch_item> items;
    boost::json::array listed;
    std::int64_t total = 0;
    for (std::size_t i = 1; i < positional.size(); ++i) {
      auto colon = positional[i].rfind(':');
      std::int64_t amount = 0;
      if (colon == std::string::npos || colon == 0 ||
          !parse_integer(positional[i].substr(colon + 1), 1,
                         std::numeric_limits<std::int64_t>::max(), amount) ||
          amount > std::numeric_limits<std::int64_t>::max() - total)
        return usage();
      total += amount;
      items.push_back({positional[i].substr(0, colon), amount});
      listed.push_back({{"to_user", items.back().to_user}, {"amount_minor", amount}});
    }
    const tokens::operation_binding op{"banking.batch", total, currency,
                                       ws::batch_payee(currency, items)};
    auto approved = authorise(read, state, data_dir, op, f);
    if (!approved) return 1;
    std::fprintf(stderr, "superapp client: banking.batch with idempotency key %s\n", key.c_str());
    return print(write("banking.batch", {{"currency", currency},
                                         {"items", std::move(listed)},
                                         {"approval", text_of(*approved, "approval")}}));
  }
  if (what == "pay" && positional.size() == 3 &&
      parse_integer(positional[1], 1, std::numeric_limits<std::int64_t>::max(), minor) &&
      (f.step_up.empty() || f.step_up == "otp" || f.step_up == "biometric")) {
    const std::string op = hold ? "banking.hold" : "banking.transfer";
    const auto& payee = positional[0];
    const auto& currency = positional[2];
    auto approved = authorise(read, state, data_dir, {op, minor, currency, payee}, f);
    if (!approved) return 1;
    boost::json::object body{{"to_user", payee},
                             {"amount", {{"minor", minor}, {"currency", currency}}},
                             {"approval", text_of(*approved, "approval")}};
    if (hold && expires_in_s > 0) body["expires_in_s"] = expires_in_s;
    std::fprintf(stderr, "superapp client: %s with idempotency key %s\n", op.c_str(), key.c_str());
    return print(write(op, body));
  }
  return usage();
}

}  // namespace

int run_client_command(const std::vector<std::string>& args) {
  // `identity SUBCOMMAND ...` or `banking SUBCOMMAND ...`, with the shared options before or
  // after it.
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--url" || args[i] == "--data-dir" || args[i] == "--token") {
      ++i;
      continue;
    }
    if (args[i] != "identity" && args[i] != "banking") break;
    std::vector<std::string> rest{args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end()};
    rest.insert(rest.end(), args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
    return args[i] == "identity" ? identity_command(rest) : banking_command(rest);
  }
  std::string url, data_dir = "./data", op, body, key;
  std::string token = std::getenv("SUPERAPP_CLIENT_TOKEN") ? std::getenv("SUPERAPP_CLIENT_TOKEN") : "";
  bool one_shot = false;
  bool use_dev_token = false;
  bool watch = false;
  std::vector<std::string> topics;
  std::int64_t count = 0, timeout_s = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto number = [&](std::int64_t& out) {
      return i + 1 < args.size() &&
             parse_integer(args[++i], 0, std::numeric_limits<std::int64_t>::max(), out);
    };
    if (watch && args[i].rfind("--", 0) != 0) {
      topics.push_back(args[i]);
      continue;
    }
    if (watch && ((args[i] == "--count" && number(count)) || (args[i] == "--timeout-s" && number(timeout_s))))
      continue;
    if (args[i] == "watch" && !one_shot) {
      watch = true;
      continue;
    }
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if ((args[i] == "--url" && value(url)) || (args[i] == "--token" && value(token)) ||
        (args[i] == "--data-dir" && value(data_dir)) ||
        (args[i] == "--idempotency-key" && value(key))) {
      continue;
    }
    if (args[i] == "--dev-token") {
      use_dev_token = true;
      continue;
    }
    if (args[i] == "op" && value(op)) {
      one_shot = true;
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) body = args[++i];
      continue;
    }
    return usage();
  }
  if (watch && topics.empty()) return usage();
  if (use_dev_token) {
    std::string failure;
    superapp::system_clock clock;
    token = dev_token(data_dir, "dev-user", clock, failure);
    if (token.empty()) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return 2;
    }
  }
  if (token.empty()) token = identity_state{data_dir}.get("access_token");  // after `identity login`
  client_session session;
  if (int status = connect_to_node(session, url, data_dir, token)) return status;
  std::string failure, reply;
  if (watch) return watch_events(session, topics, count, timeout_s);
  if (one_shot) {
    if (!session.call(op, body, key, reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      return 1;
    }
    std::printf("%s\n", reply.c_str());
    return reply_ok(reply) ? 0 : 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    auto space = line.find(' ');
    auto line_op = line.substr(0, space);
    auto line_body = space == std::string::npos ? std::string{} : line.substr(space + 1);
    if (!session.call(line_op, line_body, "", reply, failure)) {
      std::fprintf(stderr, "superapp client: %s\n", failure.c_str());
      if (failure.find("JSON") == std::string::npos) return 1;
      continue;
    }
    std::printf("%s\n", reply.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace superapp::app
