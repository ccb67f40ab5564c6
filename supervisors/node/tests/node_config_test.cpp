// Tests of node_config: the full file, every kind of bad input, environment overrides, secrets.
#include "supervisors/node/node_config.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace node = superapp::node;

namespace {

constexpr std::string_view file_name = "/etc/superapp/node.toml";
constexpr std::string_view token = "0123456789abcdef-operator";

// Every key, none at its default, so the round trip proves each one is read.
constexpr std::string_view full_file = R"(
[node]
name = "node-7"
roles = ["banking", "kyc"]
data_dir = "/var/lib/superapp"
scheduler_threads = 3
scheduler_idle_polls = 40

[log]
level = "debug"
format = "text"
file = "/var/log/superapp.log"

[admin]
bind = "0.0.0.0"
port = 9191
operator_token = "0123456789abcdef-operator"
io_threads = 2

[gateway]
bind = "0.0.0.0"
port = 8443

[persistence]
engine = "postgres"
sqlite_directory = "/srv/sqlite"
postgres_conninfo = "host=db user=superapp password=hunter2"
postgres_layout = "database_per_domain"
reader_connections = 8
busy_timeout_ms = 2500
max_batch_units = 500

[supervision]
max_restarts = 7
period_ms = 20000
backoff_initial_ms = 5
backoff_max_ms = 4000
backoff_jitter_percent = 10
shutdown_timeout_ms = 3000

[admission]
front_door_credits = 64

[banking]
recent_transfer_ids = 1000
commits_in_flight = 1

[bus]
kind = "kafka"
kafka_brokers = "k1:9092,k2:9092"
refill_window_s = 600
refill_max_events = 256
)";

// The smallest file `superapp node` accepts: only the required secret.
const std::string minimal_file = fmt::format("[admin]\noperator_token = \"{}\"\n", token);

node::config_result parse(std::string_view text, const node::environment& env = {}) {
  return node::parse_node_config(text, file_name, env);
}

std::string error_of(std::string_view text, const node::environment& env = {}) {
  const node::config_result result = parse(text, env);
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

void check_one_line(const std::string& message) {
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.starts_with("config error: "));
}

}  // namespace

TEST_CASE("a file with every key set is read back key by key") {
  const node::config_result result = parse(full_file);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  const node::node_config& c = result.value();
  CHECK(c.node.name == "node-7");
  CHECK(c.node.roles == std::vector{node::role::banking, node::role::kyc});
  CHECK(c.node.data_dir == "/var/lib/superapp");
  CHECK(c.node.scheduler_threads == 3);
  CHECK(node::effective_scheduler_threads(c) == 3);
  CHECK(c.node.scheduler_idle_polls == 40);
  CHECK(c.log.level == node::log_level::debug);
  CHECK(c.log.format == node::log_format::text);
  CHECK(c.log.file == "/var/log/superapp.log");
  CHECK(c.admin.bind == "0.0.0.0");
  CHECK(c.admin.port == 9191);
  CHECK(c.admin.operator_token.reveal() == token);
  CHECK(c.admin.io_threads == 2);
  CHECK(c.gateway.bind == "0.0.0.0");
  CHECK(c.gateway.port == 8443);
  CHECK(c.persistence.engine == superapp::persistence::engine::postgres);
  CHECK(c.persistence.sqlite_directory == "/srv/sqlite");
  CHECK(c.persistence.postgres_conninfo.reveal() == "host=db user=superapp password=hunter2");
  CHECK(c.persistence.postgres_layout ==
        superapp::persistence::pg_domain_layout::database_per_domain);
  CHECK(c.persistence.reader_connections == 8);
  CHECK(c.persistence.busy_timeout_ms == 2500);
  CHECK(c.persistence.max_batch_units == 500);
  CHECK(c.supervision.max_restarts == 7);
  CHECK(c.supervision.period_ms == 20000);
  CHECK(c.supervision.backoff_initial_ms == 5);
  CHECK(c.supervision.backoff_max_ms == 4000);
  CHECK(c.supervision.backoff_jitter_percent == 10);
  CHECK(c.supervision.shutdown_timeout_ms == 3000);
  CHECK(c.admission.front_door_credits == 64);
  CHECK(c.bus.kind == node::bus_kind::kafka);
  CHECK(c.bus.kafka_brokers == "k1:9092,k2:9092");
  CHECK(c.bus.refill_window_s == 600);
  CHECK(c.bus.refill_max_events == 256);
  CHECK(c.banking.recent_transfer_ids == 1000);
  CHECK(c.banking.commits_in_flight == 1);

  const superapp::persistence::database_config db = node::to_database_config(c);
  CHECK(db.engine_kind == superapp::persistence::engine::postgres);
  CHECK(db.sqlite_directory == "/srv/sqlite");
  CHECK(db.pg_conninfo == "host=db user=superapp password=hunter2");
  CHECK(db.pg_layout == superapp::persistence::pg_domain_layout::database_per_domain);
  CHECK(db.reader_connections == 8);
  CHECK(db.busy_timeout_ms == 2500);
  CHECK(db.max_batch_units == 500);
}

TEST_CASE("keys left out take their documented defaults and sqlite follows data_dir") {
  const node::config_result result = parse(minimal_file + "[node]\ndata_dir = \"/tmp/n1\"\n");
  REQUIRE(result.ok());
  const node::node_config& c = result.value();
  CHECK(c.node.name == "node-1");
  CHECK(c.node.roles.size() == node::all_roles.size());
  CHECK(c.node.scheduler_idle_polls == 10);
  CHECK(c.admin.port == 9090);
  CHECK(c.gateway.port == 8080);
  CHECK(c.persistence.engine == superapp::persistence::engine::sqlite);
  CHECK(c.persistence.sqlite_directory == "/tmp/n1/db");
  CHECK(c.persistence.reader_connections == 4);
  CHECK(c.supervision.max_restarts == 5);
  CHECK(c.admission.front_door_credits == 1024);
  CHECK(c.bus.kind == node::bus_kind::local);
  CHECK(c.bus.refill_window_s == 3600);
  CHECK(c.bus.refill_max_events == 1024);
  CHECK(c.banking.recent_transfer_ids == 262'144);
  CHECK(c.banking.commits_in_flight == 0);
  CHECK(c.log.format == node::log_format::json);
}

TEST_CASE("the shipped example file loads once the token comes from the environment") {
  const node::environment env{{"SUPERAPP_ADMIN_OPERATOR_TOKEN", std::string{token}}};
  const node::config_result result = node::load_node_config(SUPERAPP_NODE_EXAMPLE_TOML, env);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  CHECK(result.value().admin.operator_token.reveal() == token);
  CHECK(result.value().persistence.sqlite_directory == "./data/db");

  const node::config_result without = node::load_node_config(SUPERAPP_NODE_EXAMPLE_TOML, {});
  REQUIRE_FALSE(without.ok());
  CHECK(without.error().message.find("admin.operator_token: required") != std::string::npos);
}

TEST_CASE("an unknown key is one line naming the file and the key") {
  const std::string message = error_of(minimal_file + "port = 1\nprot = 9090\n");
  check_one_line(message);
  CHECK(message.starts_with("config error: /etc/superapp/node.toml: admin.prot: unknown key"));
}

TEST_CASE("an unknown section is one line naming the file and the section") {
  const std::string message = error_of(minimal_file + "[adminn]\nport = 1\n");
  check_one_line(message);
  CHECK(message.starts_with("config error: /etc/superapp/node.toml: adminn: unknown section"));
}

TEST_CASE("a key given where a section belongs is a type error") {
  const std::string message = error_of("admin = 5\n");
  check_one_line(message);
  CHECK(message == "config error: /etc/superapp/node.toml: admin: expected a table [admin], got 5");
}

TEST_CASE("a value of the wrong type is one line naming the key and what was found") {
  const std::string message = error_of(minimal_file + "port = \"abc\"\n");
  check_one_line(message);
  CHECK(message ==
        "config error: /etc/superapp/node.toml: admin.port: expected an integer from 0 to 65535, "
        "got \"abc\"");
  CHECK(error_of(minimal_file + "io_threads = true\n") ==
        "config error: /etc/superapp/node.toml: admin.io_threads: expected an integer from 1 to "
        "64, got true");
  CHECK(error_of("[node]\nroles = \"banking\"\n").find("node.roles: expected a list of roles") !=
        std::string::npos);
}

TEST_CASE("an out-of-range port is one line naming the key and the value") {
  CHECK(error_of(minimal_file + "port = 70000\n") ==
        "config error: /etc/superapp/node.toml: admin.port: expected an integer from 0 to 65535, "
        "got 70000");
  CHECK(error_of("[gateway]\nport = -1\n") ==
        "config error: /etc/superapp/node.toml: gateway.port: expected an integer from 0 to "
        "65535, got -1");
  CHECK(error_of("[banking]\ncommits_in_flight = 3\n") ==
        "config error: /etc/superapp/node.toml: banking.commits_in_flight: expected an integer "
        "from 0 to 2, got 3");
}

TEST_CASE("limits that must be positive reject zero") {
  CHECK(error_of("[admission]\nfront_door_credits = 0\n") ==
        "config error: /etc/superapp/node.toml: admission.front_door_credits: expected an "
        "integer from 1 to 1000000, got 0");
  CHECK(error_of("[persistence]\nreader_connections = 0\n")
            .starts_with("config error: /etc/superapp/node.toml: persistence.reader_connections:"));
}

TEST_CASE("a value outside an enumeration is one line listing the choices") {
  CHECK(error_of("[persistence]\nengine = \"mysql\"\n") ==
        "config error: /etc/superapp/node.toml: persistence.engine: expected one of \"sqlite\", "
        "\"postgres\", got \"mysql\"");
  CHECK(error_of("[log]\nlevel = \"verbose\"\n").find("log.level: expected one of") !=
        std::string::npos);
  CHECK(error_of("[node]\nroles = [\"banking\", \"bankng\"]\n").find("got \"bankng\"") !=
        std::string::npos);
  CHECK(error_of("[node]\nroles = [\"kyc\", \"kyc\"]\n") ==
        "config error: /etc/superapp/node.toml: node.roles: role \"kyc\" is listed twice");
}

TEST_CASE("node mode without an operator token stops start-up") {
  const std::string message = error_of("[admin]\nport = 9090\n");
  check_one_line(message);
  CHECK(message ==
        "config error: /etc/superapp/node.toml: admin.operator_token: required in node mode; set "
        "it in the file or in SUPERAPP_ADMIN_OPERATOR_TOKEN");
  CHECK(error_of("[admin]\noperator_token = \"short\"\n")
            .find("admin.operator_token: expected a secret of at least 16 characters") !=
        std::string::npos);
}

TEST_CASE("postgres without a conninfo and kafka without brokers stop start-up") {
  CHECK(error_of(minimal_file + "[persistence]\nengine = \"postgres\"\n")
            .starts_with("config error: /etc/superapp/node.toml: persistence.postgres_conninfo: "
                         "required when persistence.engine is \"postgres\""));
  CHECK(error_of(minimal_file + "[bus]\nkind = \"kafka\"\n") ==
        "config error: /etc/superapp/node.toml: bus.kafka_brokers: required when bus.kind is "
        "\"kafka\"");
}

TEST_CASE("a backoff maximum below its initial delay is refused") {
  CHECK(error_of(minimal_file + "[supervision]\nbackoff_initial_ms = 100\nbackoff_max_ms = 50\n") ==
        "config error: /etc/superapp/node.toml: supervision.backoff_max_ms: expected an integer "
        "from 100 (backoff_initial_ms) to 86400000, got 50");
}

TEST_CASE("a TOML syntax error is one line with the file, line and column") {
  const std::string message = error_of("[admin]\nport = 9090\nbind = \"127.0.0.1\n");
  check_one_line(message);
  CHECK(message.starts_with("config error: /etc/superapp/node.toml:3:"));
  CHECK(error_of("[node]\nname = \"a\"\nname = \"b\"\n")
            .starts_with("config error: /etc/superapp/node.toml:3:"));
}

TEST_CASE("a file that cannot be read is one line naming it") {
  const node::config_result result = node::load_node_config("/nonexistent/node.toml", {});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message ==
        "config error: /nonexistent/node.toml: cannot read the file: No such file or directory");
}

TEST_CASE("an environment override wins over the file") {
  const node::environment env{
      {"SUPERAPP_ADMIN_PORT", "0"},
      {"SUPERAPP_NODE_ROLES", "banking, kyc"},
      {"SUPERAPP_PERSISTENCE_ENGINE", "postgres"},
      {"SUPERAPP_PERSISTENCE_POSTGRES_CONNINFO", "host=pg password=s3cret"},
      {"SUPERAPP_LOG_FORMAT", "text"},
  };
  const node::config_result result = parse(minimal_file + "port = 9999\n", env);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  const node::node_config& c = result.value();
  CHECK(c.admin.port == 0);
  CHECK(c.node.roles == std::vector{node::role::banking, node::role::kyc});
  CHECK(c.persistence.engine == superapp::persistence::engine::postgres);
  CHECK(c.persistence.postgres_conninfo.reveal() == "host=pg password=s3cret");
  CHECK(c.log.format == node::log_format::text);
}

TEST_CASE("a bad environment override is one line naming the variable") {
  CHECK(error_of(minimal_file, {{"SUPERAPP_ADMIN_PORT", "abc"}}) ==
        "config error: environment variable SUPERAPP_ADMIN_PORT: admin.port: expected an integer "
        "from 0 to 65535, got \"abc\"");
  CHECK(error_of(minimal_file, {{"SUPERAPP_ADMIN_PORT", "65536"}}) ==
        "config error: environment variable SUPERAPP_ADMIN_PORT: admin.port: expected an integer "
        "from 0 to 65535, got 65536");
  CHECK(error_of(minimal_file, {{"SUPERAPP_ADMIN_PORT", "80x"}}).find("got \"80x\"") !=
        std::string::npos);
  CHECK(error_of(minimal_file, {{"SUPERAPP_NODE_ROLES", "banking,loans"}}) ==
        fmt::format("config error: environment variable SUPERAPP_NODE_ROLES: node.roles: expected "
                    "a list of roles from \"identity\", \"kyc\", \"banking\", \"billers\", "
                    "\"rewards\", \"ecommerce\", \"notifications\", \"events\", got \"loans\""));
  const std::string unknown = error_of(minimal_file, {{"SUPERAPP_ADMIN_PROT", "1"}});
  check_one_line(unknown);
  CHECK(unknown.starts_with(
      "config error: environment variable SUPERAPP_ADMIN_PROT: admin.prot: unknown key"));
}

TEST_CASE("environment variables outside the config sections are left alone") {
  const node::environment env{{"SUPERAPP_TEST_ENGINE", "postgres"}, {"HOME", "/root"}};
  CHECK(parse(minimal_file, env).ok());
}

TEST_CASE("the environment can supply the operator token the file leaves out") {
  const node::environment env{{"SUPERAPP_ADMIN_OPERATOR_TOKEN", std::string{token}}};
  const node::config_result result = parse("[admin]\nport = 1\n", env);
  REQUIRE(result.ok());
  CHECK(result.value().admin.operator_token.reveal() == token);
}

TEST_CASE("embedded defaults host every role on sqlite under the data directory with a token") {
  const node::node_config c = node::embedded_defaults("./data");
  CHECK(c.node.roles.size() == node::all_roles.size());
  CHECK(c.persistence.engine == superapp::persistence::engine::sqlite);
  CHECK(c.persistence.sqlite_directory == "./data/db");
  CHECK(c.bus.kind == node::bus_kind::local);
  CHECK(c.admin.operator_token.reveal().size() == 64);
  CHECK(node::embedded_defaults().admin.operator_token != c.admin.operator_token);
  CHECK(node::to_database_config(c).sqlite_directory == "./data/db");

  const node::config_result moved =
      node::apply_environment(c, {{"SUPERAPP_NODE_DATA_DIR", "/tmp/x"}});
  REQUIRE(moved.ok());
  CHECK(moved.value().persistence.sqlite_directory == "/tmp/x/db");

  const node::config_result no_conninfo =
      node::apply_environment(c, {{"SUPERAPP_PERSISTENCE_ENGINE", "postgres"}});
  REQUIRE_FALSE(no_conninfo.ok());
  CHECK(no_conninfo.error().message.starts_with(
      "config error: embedded defaults: persistence.postgres_conninfo: required"));
}

TEST_CASE("a secret never appears in fmt or ostream output") {
  const superapp::secret value{"hunter2-hunter2-hunter2"};
  CHECK(fmt::format("{}", value) == "***");
  CHECK(fmt::format("token={:>5}", value) == "token=  ***");
  std::ostringstream out;
  out << value;
  CHECK(out.str() == "***");
  CHECK(value.reveal() == "hunter2-hunter2-hunter2");
}

TEST_CASE("an error about a secret key never echoes its value") {
  const std::string message = error_of(minimal_file + "[persistence]\npostgres_conninfo = 12345\n");
  CHECK(message ==
        "config error: /etc/superapp/node.toml: persistence.postgres_conninfo: expected "
        "a string, got an integer");
  const std::string short_token =
      error_of(minimal_file, {{"SUPERAPP_ADMIN_OPERATOR_TOKEN", "tiny-secret"}});
  CHECK(short_token.find("tiny-secret") == std::string::npos);
}

TEST_CASE("control characters in a bad value stay escaped on the one error line") {
  const std::string message = error_of(minimal_file, {{"SUPERAPP_LOG_LEVEL", "info\nforged"}});
  check_one_line(message);
  CHECK(message.find("got \"info\\x0aforged\"") != std::string::npos);
}

TEST_CASE("cluster peers are host:port pairs; anything else is one line naming the entry") {
  const auto result = parse(minimal_file +
                            "[cluster]\npublish = true\nport = 7101\npeers = [\"127.0.0.1:7102\", \"core.internal:7103\"]\n");
  REQUIRE(result.ok());
  const auto& c = result.value().cluster;
  CHECK(c.publish);
  CHECK(c.port == 7101);
  REQUIRE(c.peers.size() == 2);
  CHECK(c.peers[0].host == "127.0.0.1");
  CHECK(c.peers[0].port == 7102);
  CHECK(c.peers[1].host == "core.internal");
  CHECK(c.peers[1].port == 7103);
  for (const char* bad : {"127.0.0.1", ":7102", "h:0", "h:70000", "h:12x"}) {
    const auto message = error_of(minimal_file + "[cluster]\npeers = [\"" + bad + "\"]\n");
    check_one_line(message);
    CHECK(message.find("cluster.peers: expected a list of \"host:port\" peers") != std::string::npos);
    CHECK(message.find(std::string{"got \""} + bad + "\"") != std::string::npos);
  }
  const auto env = parse(minimal_file, {{"SUPERAPP_CLUSTER_PEERS", "a:1, b:2"}});
  REQUIRE(env.ok());
  CHECK(env.value().cluster.peers.size() == 2);
}

TEST_CASE("identity's hashing CPUs and the kyc keys are read from the file and the environment") {
  auto from_file = parse(minimal_file +
                         "[identity]\nhashing_cpus = [1, 3]\n[kyc]\nprovider_url = \"http://kyc:80\"\n"
                         "webhook_secret_file = \"/run/secrets/kyc\"\nlevels_file = \"/etc/levels.toml\"\n");
  REQUIRE_MESSAGE(from_file.ok(), (from_file.ok() ? "" : from_file.error().message));
  CHECK(from_file.value().identity.hashing_cpus == std::vector<int>{1, 3});
  CHECK(from_file.value().kyc.provider_url == "http://kyc:80");
  CHECK(from_file.value().kyc.webhook_secret_file == "/run/secrets/kyc");
  CHECK(from_file.value().kyc.levels_file == "/etc/levels.toml");
  auto from_env = parse(minimal_file, {{"SUPERAPP_IDENTITY_HASHING_CPUS", "0, 2"}});
  REQUIRE(from_env.ok());
  CHECK(from_env.value().identity.hashing_cpus == std::vector<int>{0, 2});
  CHECK(parse(minimal_file).value().identity.hashing_cpus.empty());
  CHECK(error_of(minimal_file + "[identity]\nhashing_cpus = [1, 1]\n").find("CPU 1 is listed twice") !=
        std::string::npos);
  CHECK(error_of(minimal_file + "[identity]\nhashing_cpus = [\"one\"]\n")
            .find("identity.hashing_cpus: expected a list of CPU numbers") != std::string::npos);
  CHECK(error_of(minimal_file, {{"SUPERAPP_IDENTITY_HASHING_CPUS", "1,5000"}})
            .find("got 5000") != std::string::npos);
}
