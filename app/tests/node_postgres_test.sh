#!/usr/bin/env bash
# End to end in production mode: `superapp node --config` with every domain on a real
# PostgreSQL server (started by the ctest fixture), a schema per domain.
set -euo pipefail
bin=$1
conninfo=$(cat "$2")
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -20 "$work/log" >&2 || true; exit 1; }
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [[ $(date +%s) -lt $deadline ]] || return 1; sleep 0.1; done
}

cat >"$work/node.toml" <<TOML
[node]
name = "core-1"
roles = ["identity", "kyc", "banking"]
data_dir = "$work/data"
[admin]
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
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[[ $status -eq 0 ]] || fail "exit status $status after SIGTERM"
echo "1 passed, 0 failed"
