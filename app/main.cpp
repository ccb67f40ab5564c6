// superapp: the one executable; its subcommands run a node or talk to one.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/admin_cli.hpp"
#include "app/bench_cli.hpp"
#include "app/client_cli.hpp"
#include "app/domains.hpp"
#include "app/gateway_wiring.hpp"
#include "app/node_runtime.hpp"
#include "actors/identity/secrets.hpp"
#include "app/cli_common.hpp"
#include "gateway/admin/dashboard_auth.hpp"
#include "simulators/bank/bank_simulator.hpp"
#include "simulators/kyc/kyc_simulator.hpp"
#include "simulators/sms/sms_simulator.hpp"
#include "supervisors/node/node_config.hpp"

namespace {

using superapp::node::node_config;

int usage(FILE* out, int status) {
  std::fprintf(out,
               "usage: superapp <command> [options]\n"
               "  run [--data-dir DIR]      every domain in one process: SQLite under DIR (./data),\n"
               "                            in-process event bus, admin listener on 127.0.0.1:9090\n"
               "  node --config FILE        the domains and backends FILE names (see config/)\n"
               "  admin <tree|health|ready|metrics> [--json] [--url URL] [--token T] [--data-dir DIR]\n"
               "  client [--url ws://HOST:PORT/ws] [--token T] [op OP [BODY_JSON]]\n"
               "  client identity register|verify|login|refresh|logout ...   (client --help)\n"
               "  sim sms [--bind ADDR] [--port N]   the SMS provider simulator (port 0: any free)\n"
               "  sim kyc [--bind ADDR] [--port N] [--webhook URL --secret-file FILE]\n"
               "                                     the KYC provider simulator; callbacks to URL\n"
               "                                     (a node's /webhooks/kyc) signed with FILE's key\n"
               "  sim bank [--bind ADDR] [--port N] [--webhook URL --secret-file FILE]\n"
               "                                     the Open Banking bank simulator; payment\n"
               "                                     callbacks to URL (a node's /webhooks/bank)\n"
               "  dev-keys [--data-dir DIR]  prints the JWKS of DIR's development signing key (made\n"
               "                            if missing), for gateway.jwks_file of a `superapp node`\n"
               "  partner-secret CLIENT_ID --scopes S1,S2 --quota N [--name NAME]   a partner's\n"
               "                            secret and its identity.partners_file entry\n"
               "  bench run SCENARIO.toml [--target ws://HOST:PORT/ws] [--out OUT]\n"
               "  bench compare A.json B.json\n"
               "  version\n"
               "Environment: SUPERAPP_<SECTION>_<KEY> overrides any config key, e.g. SUPERAPP_ADMIN_PORT=0.\n");
  return status;
}

int config_failure(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  return 2;
}

// `superapp run` keeps its operator token in DIR/operator-token (mode 0600) so that
// `superapp admin` on this machine finds it; an environment override wins.
void keep_operator_token(node_config& config, bool token_from_environment) {
  auto path = std::filesystem::path{config.node.data_dir} / "operator-token";
  std::filesystem::create_directories(config.node.data_dir);
  if (!token_from_environment && std::filesystem::exists(path)) {
    std::ifstream in{path};
    std::string token;
    std::getline(in, token);
    if (!token.empty()) config.admin.operator_token = superapp::secret{token};
  }
  std::ofstream out{path, std::ios::trunc};
  out << config.admin.operator_token.reveal() << "\n";
  out.close();
  ::chmod(path.c_str(), S_IRUSR | S_IWUSR);
}

// `superapp run` gives its dashboard an operator on first start: "admin", with a generated
// password kept in DIR/dashboard-password (mode 0600). Later starts keep the operators file.
void ensure_dashboard_operator(const node_config& config) {
  const auto file = superapp::node::operators_file(config);
  const auto password_file = std::filesystem::path{config.node.data_dir} / "dashboard-password";
  if (superapp::admin::operator_directory{file}.size() == 0) {
    auto password = superapp::admin::random_password();
    std::string error;
    std::filesystem::remove(password_file);
    if (!superapp::admin::put_operator(
            file, {"admin", "operator", superapp::admin::hash_operator_password(password)}, error) ||
        !superapp::app::write_private_file(password_file.string(), password + "\n", error)) {
      std::fprintf(stderr, "superapp: no dashboard operator: %s\n", error.c_str());
      return;
    }
  }
  if (std::filesystem::exists(password_file))
    std::printf("superapp: dashboard operator \"admin\", password in %s\n",
                password_file.c_str());
}

int run_command(const std::vector<std::string>& args) {
  std::string data_dir = "./data";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--data-dir" && i + 1 < args.size())
      data_dir = args[++i];
    else
      return usage(stderr, 2);
  }
  auto env = superapp::node::process_environment();
  auto config = superapp::node::apply_environment(superapp::node::embedded_defaults(data_dir), env);
  if (!config) return config_failure(config.error().message);
  auto cfg = std::move(config).value();
  keep_operator_token(cfg, env.count("SUPERAPP_ADMIN_OPERATOR_TOKEN") > 0);
  std::printf("superapp: operator token in %s/operator-token\n", cfg.node.data_dir.c_str());
  ensure_dashboard_operator(cfg);
  return superapp::app::run_node(cfg, /*dev_keys=*/true);
}

int node_command(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "--config") return usage(stderr, 2);
  auto config = superapp::node::load_node_config(args[1], superapp::node::process_environment());
  if (!config) return config_failure(config.error().message);
  return superapp::app::run_node(config.value(), /*dev_keys=*/false);
}

// Flags of `superapp sim`: --bind, --port, and for kyc and bank --webhook URL and --secret-file FILE.
struct sim_flags {
  std::string bind = "127.0.0.1";
  long port = 0;
  std::string webhook;
  std::string secret_file;
};

bool parse_sim_flags(const std::vector<std::string>& args, bool signed_callbacks, sim_flags& out) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (i + 1 >= args.size()) return false;
    const auto& flag = args[i];
    const auto& value = args[++i];
    if (flag == "--bind") {
      out.bind = value;
    } else if (flag == "--port") {
      char* end = nullptr;
      out.port = std::strtol(value.c_str(), &end, 10);
      if (*end != 0 || out.port < 0 || out.port > 65535) return false;
    } else if (signed_callbacks && flag == "--webhook") {
      out.webhook = value;
    } else if (signed_callbacks && flag == "--secret-file") {
      out.secret_file = value;
    } else {
      return false;
    }
  }
  return !signed_callbacks || out.webhook.empty() == out.secret_file.empty();
}

// Runs `simulator` (started) until SIGINT/SIGTERM, after printing `banner`.
template <class Simulator>
int serve_until_signal(Simulator& simulator, const std::string& banner) {
  std::printf("%s", banner.c_str());
  std::fflush(stdout);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  int number = 0;
  sigwait(&stop_signals, &number);
  simulator.stop();
  return 0;
}

// `superapp sim sms|kyc|bank`: a provider simulator on its own, until SIGINT/SIGTERM.
int sim_command(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "sms" && args[0] != "kyc" && args[0] != "bank")) return usage(stderr, 2);
  const bool signed_callbacks = args[0] != "sms";  // kyc and bank
  sim_flags flags;
  if (!parse_sim_flags(args, signed_callbacks, flags)) return usage(stderr, 2);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::string failure;
  const auto port = static_cast<std::uint16_t>(flags.port);
  if (!signed_callbacks) {
    superapp::sim::sms_simulator sms;
    if (!sms.start(flags.bind, port, failure)) {
      std::fprintf(stderr, "%s\n", failure.c_str());
      return 1;
    }
    return serve_until_signal(sms, "superapp: SMS simulator on " + sms.base_url() + "\n  POST " +
                                       sms.base_url() + "/v1/messages {\"to\",\"text\"}; GET " +
                                       sms.base_url() + "/v1/messages/last?to=NUMBER\n");
  }
  std::string secret;
  if (!flags.secret_file.empty()) {
    auto key = superapp::identity::storage_key_from_hex(
        superapp::app::read_text_file(flags.secret_file), failure);
    if (!key) {
      std::fprintf(stderr, "superapp sim %s: %s: %s\n", args[0].c_str(), flags.secret_file.c_str(),
                   failure.c_str());
      return 2;
    }
    secret = std::move(*key);
  }
  const auto callbacks_to =
      flags.webhook.empty() ? std::string{"(none: --webhook URL --secret-file FILE)"} : flags.webhook;
  if (args[0] == "bank") {
    superapp::sim::bank_simulator bank;
    if (!bank.start(flags.bind, port, failure)) {
      std::fprintf(stderr, "%s\n", failure.c_str());
      return 1;
    }
    if (!flags.webhook.empty()) bank.set_webhook(flags.webhook, secret);
    return serve_until_signal(bank, "superapp: bank simulator on " + bank.base_url() +
                                        "\n  POST /v1/consents, /v1/payments; callbacks to " + callbacks_to + "\n");
  }
  superapp::sim::kyc_simulator provider;
  if (!provider.start(flags.bind, port, failure)) {
    std::fprintf(stderr, "%s\n", failure.c_str());
    return 1;
  }
  if (!flags.webhook.empty()) provider.set_webhook(flags.webhook, secret);
  return serve_until_signal(
      provider, "superapp: KYC provider simulator on " + provider.base_url() + "\n  POST " +
                    provider.base_url() + "/v1/checks; callbacks to " + callbacks_to + "\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args{argv + 1, argv + argc};
  if (args.empty()) return usage(stderr, 2);
  auto command = args.front();
  std::vector<std::string> rest{args.begin() + 1, args.end()};
  try {
    if (command == "run") return run_command(rest);
    if (command == "node") return node_command(rest);
    if (command == "admin") return superapp::app::run_admin_command(rest);
    if (command == "client") return superapp::app::run_client_command(rest);
    if (command == "sim") return sim_command(rest);
    if (command == "dev-keys") {
      std::string data_dir = "./data";
      if (rest.size() == 2 && rest[0] == "--data-dir") data_dir = rest[1];
      else if (!rest.empty()) return usage(stderr, 2);
      std::string failure;
      auto jwks = superapp::app::dev_jwks(data_dir, failure);
      if (jwks.empty()) return config_failure(failure);
      std::printf("%s\n", jwks.c_str());
      return 0;
    }
    if (command == "partner-secret") return superapp::app::partner_secret_command(rest);
    if (command == "bench") return superapp::app::run_bench_command(rest);
    if (command == "version") {
      std::printf("superapp %s\n", SUPERAPP_VERSION);
      return 0;
    }
    if (command == "help" || command == "--help" || command == "-h") return usage(stdout, 0);
  } catch (const std::exception& e) {
    // Start-up is the one place exceptions are allowed (STYLE.md); report and fail.
    std::fprintf(stderr, "superapp: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "superapp: unknown command '%s'\n", command.c_str());
  return usage(stderr, 2);
}
