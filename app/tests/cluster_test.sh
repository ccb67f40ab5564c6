#!/usr/bin/env bash
# End to end, three processes: the sample layout (scripts/three-nodes) on loopback. The edge's
# gateway reaches core's and commerce's domains; commerce is killed with SIGKILL; banking keeps
# answering, rewards answers `unavailable` at once (no hang), and comes back after a restart.
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/lib.sh"
cluster_cleanup() {
  kill_three
  cleanup
}
trap cluster_cleanup EXIT

three start "$work/three" --any-ports >"$work/out" || fail "three-nodes start"
client() { "$bin" client --data-dir "$work/three/edge" --dev-token "$@"; }
# A burst of pings through the edge: N lines of each domain's ping, answers one per line.
burst() {
  for _ in $(seq 1 "$1"); do printf 'banking.ping {}\nrewards.ping {}\n'; done | client
}

for domain in identity kyc banking billers rewards ecommerce notifications events; do
  client op "$domain.ping" | grep -q "\"domain\":\"$domain\"" || fail "$domain.ping through the edge"
done
# Core has banking but no gateway: it keeps identity's keys itself, to verify approvals with.
wait_for 15 grep -q "verification keys updated from the identity domain" "$work/three/core.log" \
  || fail "core's banking has no approval keys"
replies=$(burst 50)
[[ $(grep -c '"domain":"banking"' <<<"$replies") -eq 50 ]] || fail "banking under load"
[[ $(grep -c '"domain":"rewards"' <<<"$replies") -eq 50 ]] || fail "rewards under load"

# The edge's dashboard shows all three nodes and acts on another node's tree.
printf 'operator-password-1\n' | "$bin" admin operator add ops --role operator --password-stdin \
  --data-dir "$work/three/edge" >/dev/null || fail "operator add"
dashboard=$(sed -n 's/.*"dashboard_url":"\([^"]*\)".*/\1/p' "$work/three/edge/node.json")
login=$(curl -s -c "$work/jar" -d '{"name":"ops","password":"operator-password-1"}' "${dashboard}api/login")
csrf=$(sed -n 's/.*"csrf":"\([^"]*\)".*/\1/p' <<<"$login")
[[ -n "$csrf" ]] || fail "dashboard log-in: $login"
first_snapshot() { curl -s -N -b "$work/jar" --max-time 3 "${dashboard}api/stream" | grep -m1 '^data:' || true; }
all_reachable() { [[ $(first_snapshot | grep -o '"reachable":true' | wc -l) -eq 3 ]]; }
wait_for 15 all_reachable || fail "the dashboard does not show three nodes: $(first_snapshot | head -c 300)"
crash=$(curl -s -b "$work/jar" -H "X-CSRF-Token: $csrf" \
  -d '{"action":"crash","node":"commerce","path":"root/rewards/front_door"}' "${dashboard}api/action")
grep -q '"ok":true' <<<"$crash" || fail "crash on commerce through the edge's dashboard: $crash"
grep -q '"action":"crash"' "$work/three/commerce/audit.log" || fail "commerce did not audit the crash"
wait_for 15 sh -c "\"$bin\" client --data-dir \"$work/three/edge\" --dev-token op rewards.ping | grep -q '\"domain\":\"rewards\"'" \
  || fail "rewards did not come back after the crash"
# A reversal asked on the edge reaches banking's front door on core (sealed, in the operator's
# name) and comes back with banking's own refusal for a transfer it does not have.
reverse=$(curl -s -b "$work/jar" -H "X-CSRF-Token: $csrf" \
  -d '{"action":"reverse","transfer_id":"tr_none","reason":"cluster test"}' "${dashboard}api/action")
grep -q '"code":"transfer_not_found"' <<<"$reverse" || fail "reverse through the edge: $reverse"
grep -q '"action":"reverse"' "$work/three/edge/audit.log" || fail "the edge did not audit the reversal"

three kill "$work/three" commerce
wait_for 10 grep -q "peer unreachable" "$work/three/edge.log" || fail "the edge did not notice"
commerce_down() { first_snapshot | grep -q '"reachable":false'; }
wait_for 10 commerce_down || fail "the dashboard still shows commerce as reachable"
start=$(date +%s%N)
replies=$(burst 50)
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $(grep -c '"domain":"banking"' <<<"$replies") -eq 50 ]] || fail "banking stopped answering"
[[ $(grep -c '"code":"unavailable"' <<<"$replies") -eq 50 ]] || fail "rewards: $(grep -v banking <<<"$replies" | head -3)"
# 100 requests, half to a dead node: each must fail at once, not after a 5 s timeout.
[[ $elapsed_ms -lt 5000 ]] || fail "the burst took $elapsed_ms ms with commerce down"

three start-node "$work/three" commerce || fail "commerce restart"
wait_for 15 sh -c "\"$bin\" client --data-dir \"$work/three/edge\" --dev-token op rewards.ping | grep -q '\"domain\":\"rewards\"'" \
  || fail "rewards did not come back"

stop_three
echo "1 passed, 0 failed (the burst with commerce down took $elapsed_ms ms)"
