// The table of domains, the one place where roles meet their actors/<domain> libraries.
#include "app/domains.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "actors/identity/identity_domain.hpp"
#include "actors/identity/partners.hpp"
#include "actors/identity/secrets.hpp"
#include "actors/identity/tiers.hpp"
#include "actors/banking/banking_domain.hpp"
#include "actors/kyc/kyc_domain.hpp"
#include "app/cli_common.hpp"

namespace superapp::app {

namespace {

// Reads the file `key` names and parses it with `parse` (text, error) -> optional<T>; `out`
// gets the result. Empty path: nothing to read, `out` stays as it is.
template <class T, class Parse>
bool load_checked(const char* key, const std::string& path, T& out, Parse parse,
                  std::string& failure) {
  if (path.empty()) return true;
  std::ifstream in{path};
  if (!in) {
    failure = std::string{"config error: "} + key + ": cannot read " + path;
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto parsed = parse(text.str(), error);
  if (!parsed) {
    failure = std::string{"config error: "} + key + ": " + path + ": " + error;
    return false;
  }
  out = std::move(*parsed);
  return true;
}

// A domain's data file, parsed once, shared with the domain's settings.
template <class T>
bool load_domain_data(const char* key, const std::string& path, std::shared_ptr<const T>& out,
                        std::string& failure) {
  return load_checked(key, path, out,
                      [](const std::string& text, std::string& error) {
                        auto parsed = T::parse(text, error);
                        return parsed ? std::optional{std::make_shared<const T>(std::move(*parsed))}
                                      : std::nullopt;
                      },
                      failure);
}

bool hosts(const node::node_config& config, node::role role) {
  const auto& roles = config.node.roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

// A key of 64 hex digits: the configured file, or one this node keeps in its data dir (made,
// mode 0600, when missing). `out` gets the raw bytes.
bool load_key_file(const char* key, std::string path, const node::node_config& config,
                   const char* default_name, std::string& out, std::string& failure) {
  if (path.empty()) {
    path = (std::filesystem::path{config.node.data_dir} / default_name).string();
    if (!std::filesystem::exists(path) &&
        !write_private_file(path, identity::new_storage_key_hex() + "\n", failure)) {
      failure = std::string{key} + ": cannot make " + path + ": " + failure;
      return false;
    }
  }
  return load_checked(key, path, out, identity::storage_key_from_hex, failure);
}

}  // namespace

bool load_domain_files(const node::node_config& config, domain_wiring& wiring, std::string& failure) {
  wiring.hashing = config.identity.hashing;
  wiring.hashing_cpus = config.identity.hashing_cpus;
  wiring.kyc_provider_url = config.kyc.provider_url;
  wiring.bank_url = config.banking.bank_url;
  if (hosts(config, node::role::identity) &&
      !load_key_file("identity.storage_key_file", config.identity.storage_key_file, config,
                     "identity-storage.key", wiring.identity_storage_key, failure))
    return false;
  if (hosts(config, node::role::kyc) &&
      !load_key_file("kyc.webhook_secret_file", config.kyc.webhook_secret_file, config,
                     "kyc-webhook.key", wiring.kyc_webhook_secret, failure))
    return false;
  if (hosts(config, node::role::banking) &&
      !load_key_file("banking.bank_webhook_secret_file", config.banking.bank_webhook_secret_file, config,
                     "bank-webhook.key", wiring.bank_webhook_secret, failure))
    return false;
  return load_domain_data("identity.tiers_file", config.identity.tiers_file, wiring.tiers,
                          failure) &&
         load_domain_data("identity.partners_file", config.identity.partners_file,
                          wiring.partners, failure) &&
         load_domain_data("kyc.levels_file", config.kyc.levels_file, wiring.kyc_levels, failure);
}

int partner_secret_command(const std::vector<std::string>& args) {
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: superapp partner-secret CLIENT_ID --scopes SCOPE[,SCOPE...] --quota N "
                 "[--name NAME]\n");
    return 2;
  };
  if (args.empty()) return usage();
  std::string client_id = args[0], scopes, quota, name;
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--scopes") scopes = args[i + 1];
    else if (args[i] == "--quota") quota = args[i + 1];
    else if (args[i] == "--name") name = args[i + 1];
    else return usage();
  }
  if (args.size() % 2 == 0 || scopes.empty() || quota.empty()) return usage();
  identity::ensure_sodium();
  auto secret = identity::random_token(32);
  auto hash = identity::hash_secret(secret, identity::argon2_params{});
  if (!hash) {
    std::fprintf(stderr, "superapp partner-secret: out of memory hashing\n");
    return 2;
  }
  // The entry, checked by the same parser the node uses.
  std::string entry = "[partners." + client_id + "]\nname = \"" + name + "\"\nsecret_hash = \"" +
                      *hash + "\"\nscopes = [";
  std::stringstream list{scopes};
  std::string scope;
  bool first = true;
  while (std::getline(list, scope, ',')) {
    entry += (first ? "\"" : ", \"") + scope + "\"";
    first = false;
  }
  entry += "]\nquota_per_day = " + quota + "\n";
  std::string error;
  if (name.find('"') != std::string::npos || !identity::partner_registry::parse(entry, error)) {
    std::fprintf(stderr, "superapp partner-secret: %s\n", error.empty() ? "bad name" : error.c_str());
    return 2;
  }
  std::printf("# Add to identity.partners_file:\n%s", entry.c_str());
  std::fprintf(stderr, "client secret for %s (shown once; give it to the partner): %s\n",
               client_id.c_str(), secret.c_str());
  return 0;
}

sup::domain_definition domain_for(node::role role, const domain_wiring& wiring) {
  if (role == node::role::identity) {
    identity::identity_settings settings;
    settings.sms_url = wiring.sms_url;
    settings.issuer = wiring.token_issuer;
    settings.audience = wiring.token_audience;
    settings.clock = wiring.clock;
    settings.storage_key = wiring.identity_storage_key;
    settings.hashing.nice = wiring.hashing == node::hashing_priority::normal ? 0 : 10;
    settings.hashing.idle = wiring.hashing == node::hashing_priority::idle;
    settings.hashing.cpus = wiring.hashing_cpus;
    settings.tiers = wiring.tiers;
    settings.partners = wiring.partners;
    return identity::identity_domain(std::move(settings));
  }
  if (role == node::role::banking) {
    banking::banking_settings settings;
    settings.ledger.clock = wiring.clock;
    settings.ledger.recent_transfer_ids = wiring.recent_transfer_ids;
    settings.ledger.commits_in_flight = wiring.commits_in_flight;
    settings.ledger.metrics = wiring.metrics;
    settings.approval_keys = wiring.approval_keys;
    settings.open_banking.bank_url = wiring.bank_url;
    settings.bank_webhook_secret = wiring.bank_webhook_secret;
    settings.payments.clock = wiring.clock;
    // KYC limits: the default level's for users kyc has not verified yet, each user's own from
    // the kyc.check.verified events (on the bus, or from Kafka through a consumer group).
    settings.bus = wiring.bus;
    settings.kyc_consumer = wiring.kyc_consumer;
    const auto& levels = wiring.kyc_levels ? *wiring.kyc_levels : kyc::level_policy::defaults();
    for (const auto& [currency, l] : levels.default_level().limits_by_currency)
      settings.ledger.default_limits[currency] = {l.per_transaction_minor, l.per_day_minor, l.balance_minor};
    return banking::banking_domain(std::move(settings));
  }
  if (role == node::role::kyc) {
    kyc::kyc_settings settings;
    settings.provider_url = wiring.kyc_provider_url;
    settings.webhook_secret = wiring.kyc_webhook_secret;
    settings.levels = wiring.kyc_levels;
    settings.clock = wiring.clock;
    return kyc::kyc_domain(std::move(settings));
  }
  sup::domain_definition def;
  def.name = std::string{node::to_string(role)};
  return def;
}

}  // namespace superapp::app
