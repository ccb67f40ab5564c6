#!/usr/bin/env bash
# End to end: `superapp run` on a fresh data dir, queried with `superapp admin`, stopped by
# SIGTERM; and `superapp node` refusing a bad config with one line and status 2.
set -euo pipefail
bin=$1
source "$(dirname "$0")/lib.sh"

data="$work/data"
SUPERAPP_ADMIN_PORT=0 "$bin" run --data-dir "$data" >"$work/out" 2>"$work/log" &
pid=$!
wait_for 60 test -s "$data/node.json" || fail "node.json did not appear"
grep -q "operator URL:  http://127.0.0.1:" "$work/out" || fail "no operator URL printed"

"$bin" admin health --data-dir "$data" | grep -q '"ok"' || fail "healthz"
"$bin" admin ready --data-dir "$data" | grep -q '"status":"ready"' || fail "readyz"
tree=$("$bin" admin tree --data-dir "$data") || fail "admin tree"
for domain in identity kyc banking billers rewards ecommerce notifications events; do
  grep -q "$domain  \[supervisor rest_for_one\] running" <<<"$tree" || fail "tree lacks $domain"
done
grep -q "front_door  \[worker\] running" <<<"$tree" || fail "tree lacks front doors"
json=$("$bin" admin tree --json --data-dir "$data")
grep -q '"name":"root"' <<<"$json" || fail "tree JSON"
metrics=$("$bin" admin metrics --data-dir "$data")
grep -q 'superapp_actor_restarts_total{path="root/banking/front_door"} 0' <<<"$metrics" || fail "metrics lack restarts"
grep -q 'superapp_actor_mailbox_depth' <<<"$metrics" || fail "metrics lack mailbox depth"
if "$bin" admin tree --data-dir "$data" --token wrong 2>"$work/err"; then fail "wrong token accepted"; fi
grep -q "401" "$work/err" || fail "wrong token not reported as 401"

# Every log line is one JSON object, and the operator token never appears in the log.
token=$(cat "$data/operator-token")
grep -v '^{"ts":"' "$work/log" && fail "a log line is not JSON"
grep -q -- "$token" "$work/log" && fail "the operator token was logged"

stop_node
[[ ! -e "$data/node.json" ]] || fail "node.json left behind"
grep -q '"msg":"stopped"' "$work/log" || fail "no orderly stop logged"
for domain in identity events; do test -f "$data/db/$domain.db" || fail "no $domain.db"; done

# A bad config: one line naming the key and the file, status 2.
printf '[admin]\nport = "abc"\n' >"$work/bad.toml"
status=0
"$bin" node --config "$work/bad.toml" >"$work/out" 2>"$work/err" || status=$?
[[ $status -eq 2 ]] || fail "bad config gave status $status"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "bad config gave more than one line"
grep -q "bad.toml" "$work/err" && grep -q "admin.port" "$work/err" || fail "bad config line: $(cat "$work/err")"

echo "1 passed, 0 failed"
