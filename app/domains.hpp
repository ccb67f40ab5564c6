// Which domain tree each role of a node runs: the composition root's table of domains.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/identity/partners.hpp"
#include "actors/identity/tiers.hpp"
#include "actors/kyc/levels.hpp"
#include "protocols/clock.hpp"
#include "protocols/tokens/jwt.hpp"
#include "supervisors/bus/bus.hpp"
#include "supervisors/domain.hpp"
#include "supervisors/node/node_config.hpp"

namespace superapp::app {

// What the domains of a node need from outside their trees.
struct domain_wiring {
  std::string sms_url;  // the SMS provider identity sends codes to (the simulator in `run`)
  std::string token_issuer = "superapp-identity";
  std::string token_audience = "superapp-mobile";
  std::shared_ptr<const superapp::clock> clock = std::make_shared<superapp::system_clock>();
  // identity.tiers_file and .partners_file, read once at start (null: built-in policy / none)
  std::shared_ptr<const identity::tier_policy> tiers;
  std::shared_ptr<const identity::partner_registry> partners;
  // identity's storage key (raw bytes) from identity.storage_key_file, or the one made in the
  // data dir; empty when this node hosts no identity.
  std::string identity_storage_key;
  node::hashing_priority hashing = node::hashing_priority::low;
  std::vector<int> hashing_cpus;  // identity.hashing_cpus
  // kyc: the provider (the simulator in `run`), the secret its callbacks are signed with (raw
  // bytes, from kyc.webhook_secret_file or the one made in the data dir; empty when this node
  // hosts no kyc), and kyc.levels_file read once (null: the built-in levels).
  std::string kyc_provider_url;
  std::string kyc_webhook_secret;
  std::shared_ptr<const kyc::level_policy> kyc_levels;
  // banking: the keys identity's approvals are verified with (the gateway's, refreshed from
  // identity); null on a node without a gateway: banking then refuses every payment.
  std::shared_ptr<const tokens::jwt_key_store> approval_keys;
  // banking: the bank's Open Banking API (the simulator in `run`) and the secret its callbacks
  // are signed with (raw bytes, from banking.bank_webhook_secret_file or the one made in the
  // data dir; empty when this node hosts no banking).
  std::string bank_url;
  std::string bank_webhook_secret;
  std::size_t recent_transfer_ids = 262'144;  // banking.recent_transfer_ids (ADR 0020)
  std::size_t commits_in_flight = 0;          // banking.commits_in_flight (ADR 0021); 0: by engine
  metrics::registry* metrics = nullptr;       // the node's (the ledger's series); null: none
  // The node's event bus (banking learns each user's KYC limits from it); null: none.
  std::shared_ptr<bus::bus_directory> bus;
  // A node on Kafka: banking's kyc_limits is fed by a consumer group of its own instead of the
  // bus (banking_settings::kyc_consumer); empty: the bus.
  std::function<sup::domain_worker(std::function<caf::actor()> handler)> kyc_consumer;
};

// Reads and checks the domain files the config names (identity.tiers_file, .partners_file,
// .storage_key_file — made as <data_dir>/identity-storage.key, mode 0600, when unset and
// missing; kyc.levels_file, .webhook_secret_file — made as <data_dir>/kyc-webhook.key;
// banking.bank_webhook_secret_file — made as <data_dir>/bank-webhook.key) into
// `wiring`; false with `failure` ("config error: identity.tiers_file: ...") when one is
// missing or wrong.
bool load_domain_files(const node::node_config& config, domain_wiring& wiring, std::string& failure);

// The definition of a role's domain. Identity, kyc and banking (ledger and client ops) are their own
// domains (actors/<domain>); the others,
// until their issues land, are the common skeleton: a store (its database, migrated) and a
// front door answering ping and probe.
// `superapp partner-secret CLIENT_ID --scopes S1,S2 --quota N [--name NAME]`: makes a random
// client secret and prints the partners_file entry (with its Argon2id hash) and, once, the
// secret to hand to the partner. 0, or 2 with the reason on stderr.
int partner_secret_command(const std::vector<std::string>& args);

sup::domain_definition domain_for(node::role role, const domain_wiring& wiring = {});

}  // namespace superapp::app
