#!/usr/bin/env bash
# End to end: `superapp run` on a fresh data dir, queried with `superapp admin`, stopped by
# SIGTERM; and `superapp node` refusing a bad config with one line and status 2.
set -euo pipefail
bin=$1
source "$(dirname "$0")/lib.sh"

# A partner (client credentials) made with `superapp partner-secret`, quota 3 requests a day.
"$bin" partner-secret shop-42 --scopes ecommerce.orders --quota 3 --name "Acme" \
  >"$work/partners.toml" 2>"$work/partner-secret" || fail "partner-secret: $(cat "$work/partner-secret")"
partner_secret=$(sed -n 's/.*: //p' "$work/partner-secret")
export SUPERAPP_IDENTITY_PARTNERS_FILE="$work/partners.toml"

start_embedded_node
grep -q "operator URL:  http://127.0.0.1:" "$work/out" || fail "no operator URL printed"
grep -q "WebSocket URL: ws://127.0.0.1:" "$work/out" || fail "no WebSocket URL printed"

# Through the gateway: the WebSocket client, a development token, the domains' front doors.
client() { "$bin" client --data-dir "$data" "$@"; }
client --dev-token op system.ping | grep -q '"ok":true,"body":{"pong":true,"node":"node-1"}' \
  || fail "system.ping"
client --dev-token op banking.ping | grep -q '"domain":"banking"' || fail "banking.ping"
if client op banking.ping >"$work/reply"; then fail "no token accepted"; fi
grep -q '"code":"unauthorized"' "$work/reply" || fail "no token: $(cat "$work/reply")"
if client --token not.a.jwt op banking.ping >"$work/reply"; then fail "bad token accepted"; fi
grep -q '"code":"unauthorized"' "$work/reply" || fail "bad token: $(cat "$work/reply")"
if client --dev-token op banking.nothing >"$work/reply"; then fail "unknown op accepted"; fi
grep -q '"code":"unknown_op"' "$work/reply" || fail "unknown op: $(cat "$work/reply")"
if client --dev-token op system.echo '{"txt":1}' >"$work/reply"; then fail "bad body accepted"; fi
grep -q '"code":"bad_request".*body.txt' "$work/reply" || fail "bad body: $(cat "$work/reply")"
replies=$(printf 'system.echo {"text":"hi"}\nkyc.ping {}\n' | client --dev-token)
grep -q '"text":"hi"' <<<"$replies" && grep -q '"domain":"kyc"' <<<"$replies" || fail "line mode"

# Sign-up and login from the command line; `run` started the SMS simulator and the client reads
# the code from it. The device key and tokens stay in the data dir, never in the node's log.
client identity register +447700900321 >"$work/reply" || fail "register: $(cat "$work/reply")"
client identity verify --mpin 579135 >"$work/reply" || fail "verify: $(cat "$work/reply")"
client identity login --mpin 579135 >"$work/reply" || fail "login: $(cat "$work/reply")"
if client identity login --mpin 000000 >"$work/reply"; then fail "a wrong mPIN logged in"; fi
grep -q '"code":"wrong_credential"' "$work/reply" || fail "wrong mPIN: $(cat "$work/reply")"
# A token identity issued is good at the gateway for ops that need one: the gateway took the
# identity domain's signing key (key_refresher, identity.jwks) without a restart.
wait_for 40 sh -c "\"$bin\" client --data-dir \"$data\" op identity.devices >\"$work/reply\"" \
  || fail "identity.devices with identity's token: $(cat "$work/reply")"
grep -q '"current":true' "$work/reply" || fail "identity.devices: $(cat "$work/reply")"
# The partner: its token carries its scopes and quota; app users' ops are forbidden to it, and
# after 3 requests today (refusals do not count) the gateway answers quota_exceeded.
client op identity.partner_token "{\"client_id\":\"shop-42\",\"client_secret\":\"$partner_secret\"}" \
  >"$work/reply" || fail "partner token: $(cat "$work/reply")"
partner_token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/reply")
if client op identity.partner_token "{\"client_id\":\"shop-42\",\"client_secret\":\"$partner_secret\",\"scope\":\"user\"}" >"$work/reply"; then
  fail "a partner was granted the user scope"
fi
grep -q '"code":"scope_not_granted"' "$work/reply" || fail "scope escalation: $(cat "$work/reply")"
if client --token "$partner_token" op identity.devices >"$work/reply"; then fail "a partner listed devices"; fi
grep -q '"code":"forbidden"' "$work/reply" || fail "partner on a user op: $(cat "$work/reply")"
client --token "$partner_token" op system.ping >/dev/null || fail "partner ping 1"
client --token "$partner_token" op rewards.ping >/dev/null || fail "partner ping 2"
client --token "$partner_token" op system.ping >/dev/null || fail "partner ping 3"
if client --token "$partner_token" op system.ping >"$work/reply"; then fail "the quota did not hold"; fi
grep -q '"code":"quota_exceeded"' "$work/reply" || fail "quota: $(cat "$work/reply")"
# Step-up and approvals: a first transfer to a payee needs a step-up (the built-in policy);
# by SMS code (read from the simulator), then by the device key; each earns a signed approval.
if client identity authorise banking.transfer 60000 GBP acct-1 --mpin 579135 >"$work/reply"; then
  fail "a new payee was approved without a step-up"
fi
grep -q '"code":"step_up_required"' "$work/reply" || fail "no step-up asked: $(cat "$work/reply")"
client identity authorise banking.transfer 60000 GBP acct-1 --mpin 579135 --step-up otp >"$work/reply" \
  || fail "authorise with an SMS code: $(cat "$work/reply")"
grep -q '"tier":"mpin+otp"' "$work/reply" || fail "otp tier: $(cat "$work/reply")"
client identity authorise banking.transfer 70000 GBP acct-1 --mpin 579135 --step-up biometric >"$work/reply" \
  || fail "authorise with the device key: $(cat "$work/reply")"
grep -q '"tier":"mpin+biometric"' "$work/reply" || fail "biometric tier: $(cat "$work/reply")"
client identity authorise banking.transfer 100 GBP acct-1 --mpin 579135 >"$work/reply" \
  || fail "a small transfer to a known payee: $(cat "$work/reply")"
grep -q '"tier":"mpin"' "$work/reply" || fail "mpin tier: $(cat "$work/reply")"

# Banking: a wallet, then a payment approved by identity and checked by banking (the approval
# verified with the keys the gateway took from identity): acct-1 has no wallet, so the ledger
# refuses it, after the approval was accepted; an empty wallet cannot pay.
client banking open GBP >"$work/reply" || fail "banking open: $(cat "$work/reply")"
grep -q '"currency":"GBP"' "$work/reply" || fail "wallet: $(cat "$work/reply")"
client banking accounts >"$work/reply" || fail "banking accounts: $(cat "$work/reply")"
grep -q '"available_minor":0' "$work/reply" || fail "accounts: $(cat "$work/reply")"
if client banking pay acct-1 100 GBP --mpin 579135 >"$work/reply"; then fail "paid a user with no wallet"; fi
grep -q '"code":"payee_account_not_found"' "$work/reply" || fail "pay to no wallet: $(cat "$work/reply")"
if client op banking.transfer '{"to_user":"acct-1","amount":{"minor":100,"currency":"GBP"},"approval":"forged"}' \
  --idempotency-key forged-1 >"$work/reply"; then fail "a forged approval paid"; fi
grep -q '"code":"approval_invalid"' "$work/reply" || fail "forged approval: $(cat "$work/reply")"
client banking statement GBP >"$work/reply" || fail "statement: $(cat "$work/reply")"
grep -q '"lines":\[\]' "$work/reply" || fail "statement: $(cat "$work/reply")"
# Open Banking: link the bank of `run` (its simulator), top the wallet up from it (a payment
# actor initiates it, polls and takes the bank's signed callback, then credits the wallet).
grep -q "Bank (Open Banking): http://127.0.0.1:" "$work/out" || fail "no bank printed"
client banking link cust-alice >"$work/reply" || fail "link: $(cat "$work/reply")"
link_id=$(sed -n 's/.*"link_id":"\([^"]*\)".*/\1/p' "$work/reply")
client banking bank-accounts "$link_id" >"$work/reply" || fail "bank accounts: $(cat "$work/reply")"
bank_account=$(sed -n 's/.*"account_id":"\([^"]*\)".*/\1/p' "$work/reply")
[[ -n $bank_account ]] || fail "no bank account: $(cat "$work/reply")"
client banking topup "$link_id" "$bank_account" 5000 GBP --wait >"$work/reply" 2>/dev/null \
  || fail "topup: $(cat "$work/reply")"
grep -q '"state":"posted"' "$work/reply" || fail "topup not posted: $(cat "$work/reply")"
client banking accounts | grep -q '"available_minor":5000' || fail "the top-up was not credited"
# A second user with a wallet; alice pays bob (a new payee: the device key steps up), then
# holds money for him and captures part of it.
bob_dir="$work/bob"
mkdir -p "$bob_dir" && cp "$data/node.json" "$bob_dir/"
bob() { "$bin" client --data-dir "$bob_dir" "$@"; }
bob identity register +447700900456 >"$work/reply" || fail "bob register: $(cat "$work/reply")"
bob identity verify --mpin 246813 >"$work/reply" || fail "bob verify: $(cat "$work/reply")"
bob identity login --mpin 246813 >"$work/reply" || fail "bob login: $(cat "$work/reply")"
bob banking open GBP >/dev/null || fail "bob's wallet"
bob_id=$(sed -n 's/.*"user_id":"\([^"]*\)".*/\1/p' "$bob_dir/client-identity.json")
client banking pay "$bob_id" 1500 GBP --mpin 579135 --step-up biometric >"$work/reply" 2>/dev/null \
  || fail "pay bob: $(cat "$work/reply")"
grep -q '"state":"posted"' "$work/reply" || fail "payment: $(cat "$work/reply")"
bob banking accounts | grep -q '"available_minor":1500' || fail "bob was not paid"
client banking pay "$bob_id" 1000 GBP --hold --mpin 579135 --step-up biometric >"$work/reply" 2>/dev/null \
  || fail "hold: $(cat "$work/reply")"
hold_id=$(sed -n 's/.*"hold_id":"\([^"]*\)".*/\1/p' "$work/reply")
client banking accounts | grep -q '"held_minor":1000' || fail "the hold is not held"
client banking capture "$hold_id" 600 >"$work/reply" || fail "capture: $(cat "$work/reply")"
grep -q '"state":"captured"' "$work/reply" || fail "capture: $(cat "$work/reply")"
client banking accounts | grep -q '"available_minor":2900' || fail "alice after the capture"
bob banking accounts | grep -q '"available_minor":2100' || fail "bob after the capture"
bob banking statement GBP | grep -q '"counterparty":"user:' || fail "bob's statement"
# Alice is at KYC level minimum (GBP 250.00 a payment): above it is refused whatever she holds;
# within it, more than she holds is insufficient funds.
if client banking pay "$bob_id" 30000 GBP --mpin 579135 --step-up biometric >"$work/reply" 2>/dev/null; then
  fail "paid above the level's limit"
fi
grep -q '"code":"limit_per_transaction"' "$work/reply" || fail "limit: $(cat "$work/reply")"
if client banking pay "$bob_id" 20000 GBP --mpin 579135 --step-up biometric >"$work/reply" 2>/dev/null; then
  fail "paid more than the wallet holds"
fi
grep -q '"code":"insufficient_funds"' "$work/reply" || fail "overdraft: $(cat "$work/reply")"

# KYC: the level and its limits, documents to the provider simulator, whose signed callback
# comes back through the gateway's webhook route and raises the level.
grep -q "KYC provider:  http://127.0.0.1:" "$work/out" || fail "no KYC provider printed"
client op kyc.status >"$work/reply" || fail "kyc.status: $(cat "$work/reply")"
grep -q '"level":"minimum"' "$work/reply" || fail "a new user's level: $(cat "$work/reply")"
client op kyc.submit '{"level":"standard","documents":[{"type":"passport","number":"P12345678"}]}' \
  --idempotency-key kyc-submit-0001 >"$work/reply" || fail "kyc.submit: $(cat "$work/reply")"
grep -q '"state":"pending"' "$work/reply" || fail "kyc.submit reply: $(cat "$work/reply")"
kyc_verified() { "$bin" client --data-dir "$data" op kyc.status | grep -q '"level":"standard"'; }
wait_for 40 kyc_verified || fail "the provider's callback did not verify the user"
# Banking learnt the new level's limits from kyc.check.verified on the bus: GBP 300.00 now goes.
client banking topup "$link_id" "$bank_account" 40000 GBP --wait >"$work/reply" 2>/dev/null \
  || fail "second topup: $(cat "$work/reply")"
paid_at_standard() {
  "$bin" client --data-dir "$data" banking pay "$bob_id" 30000 GBP --mpin 579135 --step-up biometric \
    --idempotency-key pay-at-standard >"$work/reply" 2>/dev/null
}
wait_for 20 paid_at_standard || fail "the standard level's limit did not reach banking: $(cat "$work/reply")"
bob banking accounts | grep -q '"available_minor":32100' || fail "bob after the standard payment"
# An operator reverses that payment: the money goes back from bob to alice, once, audited.
standard_id=$(sed -n 's/.*"transfer_id":"\([^"]*\)".*/\1/p' "$work/reply")
[[ -n $standard_id ]] || fail "no transfer id in: $(cat "$work/reply")"
"$bin" admin reverse "$standard_id" --reason "customer dispute 7" --as ops-test --data-dir "$data" \
  >"$work/reply" 2>&1 || fail "reverse: $(cat "$work/reply")"
grep -q "^reversed $standard_id: 30000 GBP back from user:$bob_id to user:" "$work/reply" \
  || fail "reverse said: $(cat "$work/reply")"
bob banking accounts | grep -q '"available_minor":2100' || fail "bob after the reversal"
"$bin" admin reverse "$standard_id" --reason "again" --data-dir "$data" >/dev/null 2>&1 \
  || fail "a second reverse is not the same reversal"
bob banking accounts | grep -q '"available_minor":2100' || fail "reversed twice"
if "$bin" admin reverse tr_nope --reason x --data-dir "$data" >"$work/reply" 2>&1; then
  fail "reversed an unknown transfer"
fi
grep -q "HTTP 404.*transfer_not_found" "$work/reply" || fail "unknown reverse said: $(cat "$work/reply")"
grep -q '"action":"reverse".*"operator":"ops-test"\|"operator":"ops-test".*"action":"reverse"' \
  "$data/audit.log" || fail "the reversal is not in the audit log"
# A batch: two payments to bob under one approval (a batch always steps up), all or nothing.
# Bob's app watches the transfers he receives and is told of each item. Only those: the
# reversal's event above may still be on its way to him when he subscribes.
"$bin" client --data-dir "$bob_dir" watch 'banking.transfer.received' --count 2 --timeout-s 60 \
  >"$work/bob-watch.out" 2>"$work/bob-watch.err" &
watch_pid=$!
wait_for 30 grep -q "subscribed to banking" "$work/bob-watch.err" \
  || fail "bob's watch did not subscribe: $(cat "$work/bob-watch.err")"
client banking batch GBP "$bob_id:100" "$bob_id:200" --mpin 579135 --step-up biometric \
  >"$work/reply" 2>/dev/null || fail "batch: $(cat "$work/reply")"
wait "$watch_pid" || fail "bob was not told of the batch: $(cat "$work/bob-watch.err" "$work/bob-watch.out")"
[[ $(grep -c '"banking.transfer.received"' "$work/bob-watch.out") -eq 2 ]] \
  || fail "bob's pushes: $(cat "$work/bob-watch.out")"
grep -q '"state":"posted"' "$work/reply" || fail "batch: $(cat "$work/reply")"
grep -q '"total":{"minor":300,"currency":"GBP"}' "$work/reply" || fail "batch total: $(cat "$work/reply")"
bob banking accounts | grep -q '"available_minor":2400' || fail "bob after the batch"
if client banking batch GBP "$bob_id:100" "$bob_id:999999" --mpin 579135 --step-up biometric \
  >"$work/reply" 2>/dev/null; then fail "a batch beyond the wallet was paid"; fi
grep -q '"code":"insufficient_funds"\|"code":"limit_per' "$work/reply" || fail "batch refusal: $(cat "$work/reply")"
bob banking accounts | grep -q '"available_minor":2400' || fail "a refused batch moved money"
if client op kyc.submit '{"level":"full","documents":[{"type":"passport","number":"P1"}]}' \
  --idempotency-key kyc-submit-0002 >"$work/reply"; then fail "one document was taken for full"; fi
grep -q '"code":"invalid_documents"' "$work/reply" || fail "kyc bad documents: $(cat "$work/reply")"
# A callback not signed with the node's secret is refused at the webhook route with 401.
ws_port=$(sed -n 's/.*"ws_url":"ws:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$data/node.json")
forged='{"provider_check_id":"pc-1","reference":"kyc-x","level":"full","outcome":"verified","reason":""}'
exec 3<>"/dev/tcp/127.0.0.1/$ws_port"
printf 'POST /webhooks/kyc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Kyc-Timestamp: %s\r\nX-Kyc-Signature: v1=%064d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "$(date +%s)" 0 "${#forged}" "$forged" >&3
read -r status_line <&3 || true
exec 3<&-
[[ $status_line == "HTTP/1.1 401"* ]] || fail "a forged KYC callback got: $status_line"
grep -q "P12345678" "$work/log" && fail "a document number was logged"

client identity refresh >"$work/reply" || fail "refresh: $(cat "$work/reply")"
client identity logout >"$work/reply" || fail "logout: $(cat "$work/reply")"
[[ $(stat -c %a "$data/client-identity.json") == 600 ]] || fail "client state is not 0600"
grep -q "579135" "$work/log" && fail "the mPIN was logged"
grep -q "BEGIN PRIVATE KEY" "$work/log" && fail "a private key was logged"

"$bin" admin health --data-dir "$data" | grep -q '"ok"' || fail "healthz"
"$bin" admin ready --data-dir "$data" | grep -q '"status":"ready"' || fail "readyz"
tree=$("$bin" admin tree --data-dir "$data") || fail "admin tree"
for domain in identity kyc banking billers rewards ecommerce notifications events; do
  grep -q "$domain  \[supervisor rest_for_one\] running" <<<"$tree" || fail "tree lacks $domain"
done
grep -q "front_door  \[worker\] running" <<<"$tree" || fail "tree lacks front doors"
grep -q "sessions_sup  \[supervisor simple_one_for_one\] running" <<<"$tree" || fail "tree lacks sessions"
grep -q "bridge_sup  \[supervisor one_for_one\] running" <<<"$tree" || fail "tree lacks bridge_sup"
grep -q "bus  \[worker\] running" <<<"$tree" || fail "tree lacks the event bus"
json=$("$bin" admin tree --json --data-dir "$data")
grep -q '"name":"root"' <<<"$json" || fail "tree JSON"
metrics=$("$bin" admin metrics --data-dir "$data")
grep -q 'superapp_actor_restarts_total{path="root/banking/front_door"} 0' <<<"$metrics" || fail "metrics lack restarts"
grep -q 'superapp_actor_mailbox_depth' <<<"$metrics" || fail "metrics lack mailbox depth"
grep -Eq 'superapp_actor_messages_total\{path="root/banking/front_door"\} [1-9]' <<<"$metrics" \
  || fail "metrics lack the front door's message count"
grep -q '^superapp_gateway_sessions_total [1-9]' <<<"$metrics" || fail "metrics lack the gateway's sessions"
grep -Eq '^process_resident_memory_bytes [1-9][0-9]{5,}$' <<<"$metrics" || fail "metrics lack RSS"
grep -Eq '^process_cpu_seconds_total [0-9]+(\.[0-9]+)?$' <<<"$metrics" || fail "metrics lack CPU time"
grep -Eq '^superapp_ledger_transfer_ids\{domain="banking",kept="memory"\} [1-9]' <<<"$metrics" \
  || fail "metrics lack the ledger's transfer ids"
grep -q '^superapp_ledger_older_id_lookups_total{domain="banking"} 0' <<<"$metrics" \
  || fail "metrics lack the ledger's id lookups"
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

# The node died after its bus delivered kyc's level and before banking recorded it: banking's
# record and inbox entry are gone, as a kill -9 at that moment leaves them. At the next start
# kyc's relay fills the new bus with what it published in the last hour (ADR 0019), and
# banking records the level from it.
sqlite3 "$data/db/banking.db" \
  "DELETE FROM user_limits; DELETE FROM user_levels; DELETE FROM event_inbox WHERE consumer = 'banking.kyc_limits';"
[[ -z $(sqlite3 "$data/db/banking.db" "SELECT level FROM user_limits") ]] || fail "limits not deleted"
SUPERAPP_ADMIN_PORT=0 SUPERAPP_GATEWAY_PORT=0 "$bin" run --data-dir "$data" >"$work/out" 2>"$work/log" &
pid=$!
wait_for 60 test -s "$data/node.json" || fail "node.json did not appear after the restart"
level_back() { [[ $(sqlite3 "$data/db/banking.db" "SELECT DISTINCT level FROM user_limits") == standard ]]; }
wait_for 30 level_back || fail "banking did not record the level again from kyc's refill: $(sqlite3 "$data/db/banking.db" "SELECT user_id, currency, level FROM user_limits" 2>&1)"
grep 'filled a new bus' "$work/log" | grep -q '"domain":"kyc"' || fail "kyc's relay did not refill"
grep -q 'missed before the restart is recorded now' "$work/log" || fail "banking did not say so"
stop_node

# A bad config: one line naming the key and the file, status 2.
printf '[admin]\nport = "abc"\n' >"$work/bad.toml"
status=0
"$bin" node --config "$work/bad.toml" >"$work/out" 2>"$work/err" || status=$?
[[ $status -eq 2 ]] || fail "bad config gave status $status"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "bad config gave more than one line"
grep -q "bad.toml" "$work/err" && grep -q "admin.port" "$work/err" || fail "bad config line: $(cat "$work/err")"
# A tier policy with a typo stops the node before it starts: a misspelt rule must not weaken it.
printf '[operations."banking.transfer"]\nknowlege = ["mpin"]\n' >"$work/tiers.toml"
status=0
SUPERAPP_IDENTITY_TIERS_FILE="$work/tiers.toml" "$bin" run --data-dir "$work/tiers-data" >"$work/out" 2>"$work/err" || status=$?
[[ $status -eq 2 ]] || fail "a bad tiers file gave status $status"
grep -q "identity.tiers_file.*knowlege" "$work/err" || fail "bad tiers file: $(cat "$work/err")"

echo "1 passed, 0 failed"
