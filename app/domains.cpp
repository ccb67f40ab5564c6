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

// A data file of identity's, parsed once, shared with the domain's settings.
template <class T>
bool load_identity_data(const char* key, const std::string& path, std::shared_ptr<const T>& out,
                        std::string& failure) {
  return load_checked(key, path, out,
                      [](const std::string& text, std::string& error) {
                        auto parsed = T::parse(text, error);
                        return parsed ? std::optional{std::make_shared<const T>(std::move(*parsed))}
                                      : std::nullopt;
                      },
                      failure);
}

// identity's storage key: the configured file, or one this node keeps in its data dir.
bool load_storage_key(const node::node_config& config, domain_wiring& wiring, std::string& failure) {
  const auto& roles = config.node.roles;
  if (std::find(roles.begin(), roles.end(), node::role::identity) == roles.end()) return true;
  auto path = config.identity.storage_key_file;
  if (path.empty()) {
    path = (std::filesystem::path{config.node.data_dir} / "identity-storage.key").string();
    if (!std::filesystem::exists(path) &&
        !write_private_file(path, identity::new_storage_key_hex() + "\n", failure)) {
      failure = "identity: cannot make the storage key: " + failure;
      return false;
    }
  }
  return load_checked("identity.storage_key_file", path, wiring.identity_storage_key,
                      identity::storage_key_from_hex, failure);
}

}  // namespace

bool load_domain_files(const node::node_config& config, domain_wiring& wiring, std::string& failure) {
  wiring.hashing = config.identity.hashing;
  return load_storage_key(config, wiring, failure) &&
         load_identity_data("identity.tiers_file", config.identity.tiers_file, wiring.tiers,
                            failure) &&
         load_identity_data("identity.partners_file", config.identity.partners_file,
                            wiring.partners, failure);
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
    settings.hashing_nice = wiring.hashing == node::hashing_priority::normal ? 0 : 10;
    settings.hashing_idle = wiring.hashing == node::hashing_priority::idle;
    settings.tiers = wiring.tiers;
    settings.partners = wiring.partners;
    return identity::identity_domain(std::move(settings));
  }
  sup::domain_definition def;
  def.name = std::string{node::to_string(role)};
  return def;
}

}  // namespace superapp::app
