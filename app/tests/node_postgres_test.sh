#!/usr/bin/env bash
# End to end in production mode: `superapp node --config` with every domain on a real
# PostgreSQL server (started by the ctest fixture), a schema per domain.
set -euo pipefail
bin=$1
conninfo=$(cat "$2")
source "$(dirname "$0")/lib.sh"

cat >"$work/node.toml" <<TOML
[node]
name = "core-1"
roles = ["identity", "kyc", "banking"]
data_dir = "$work/data"
[admin]
port = 0
[gateway]
port = 0
[persistence]
engine = "postgres"
postgres_layout = "schema_per_domain"
TOML
token=operator-token-for-tests-0123456789
SUPERAPP_ADMIN_OPERATOR_TOKEN=$token SUPERAPP_PERSISTENCE_POSTGRES_CONNINFO="$conninfo" \
  "$bin" node --config "$work/node.toml" >"$work/out" 2>"$work/log" &
pid=$!
wait_for 60 test -s "$work/data/node.json" || fail "node.json did not appear"
tree=$("$bin" admin tree --data-dir "$work/data" --token "$token") || fail "admin tree"
for domain in identity kyc banking; do
  grep -q "$domain  \[supervisor rest_for_one\] running" <<<"$tree" || fail "tree lacks $domain"
done
grep -q "rewards" <<<"$tree" && fail "a role outside the config is running"
"$bin" admin ready --data-dir "$work/data" --token "$token" >/dev/null || fail "not ready"
grep -q -- "$token" "$work/log" && fail "the operator token was logged"
grep -q "password\|$conninfo" "$work/log" && fail "the conninfo was logged"
schemas=$(psql "$conninfo" -Atc "SELECT schema_name FROM information_schema.schemata") || fail "psql"
for domain in identity kyc banking; do
  grep -qx "$domain" <<<"$schemas" || fail "no schema $domain"
done
stop_node
echo "1 passed, 0 failed"
