#!/usr/bin/env bash
# End to end: `superapp bench` against a real `superapp run`: a short scenario beside the echo
# baseline (result.json, summary.md, latency.svg), compare, Ctrl-C with a partial report,
# transfers with a funded data set and minted approvals, and the one-line failures: malformed
# scenario, unreachable target, unserved op, refused op, missing chaos.
set -euo pipefail
bin=$1
scenarios=$2
source "$(dirname "$0")/lib.sh"

start_embedded_node
bench() { "$bin" bench "$@"; }

cat >"$work/short.toml" <<'TOML'
[scenario]
name = "short"
description = "a few seconds of echo and ping through the gateway"
[load]
mode = "open"
rate_per_s = 400
ramp_s = 0.5
duration_s = 2
sessions = 24
source_addresses = 4
[users]
count = 24
[[op]]
name = "system.echo"
weight = 3
body = { text = "hello ${user}" }
[[op]]
name = "banking.ping"
[[dataset.per_user]]
op = "system.echo"
body = { text = "setting up ${user} on ${device}" }
[baseline]
kind = "ws_echo"
TOML

bench run "$work/short.toml" --data-dir "$data" --out "$work/results" >"$work/run.out" 2>"$work/run.err" \
  || fail "bench run: $(cat "$work/run.err")"
dir=$(ls -d "$work"/results/short-*)
for file in result.json summary.md latency.svg; do test -s "$dir/$file" || fail "no $file"; done
json=$(cat "$dir/result.json")
grep -q '"format":"superapp-bench-result/1"' <<<"$json" || fail "result format"
grep -q '"partial":false' <<<"$json" || fail "not marked complete"
grep -q '"name":"ws_echo","role":"baseline"' <<<"$json" || fail "no baseline run"
grep -q '"name":"target","role":"target"' <<<"$json" || fail "no target run"
grep -q '"connected":24' <<<"$json" || fail "sessions did not all connect"
grep -q '"errors":0' <<<"$json" || fail "errors in a clean run: $json"
grep -q '"ok_by_op":{"banking.ping":[1-9]' <<<"$json" || fail "banking.ping not answered"
grep -q '"scraped":true' <<<"$json" || fail "server figures not scraped"
grep -q '"loaded":{"restarts_total"' <<<"$json" || fail "no figures with the sessions open"
grep -Eq '"rss_bytes":[1-9][0-9]{6,}' <<<"$json" || fail "no node RSS"
grep -Eq '"load_cpu_cores":[0-9.eE+-]+,"load_cpu_us_per_ok":[0-9.eE+-]+' <<<"$json" || fail "no node CPU: $json"
grep -Eq 'CPU over the measured load: [0-9]+\.[0-9]{2} cores, [0-9]+ µs per answered request' "$dir/summary.md" ||
  fail "no CPU line: $(cat "$dir/summary.md")"
grep -Eq '"p99":[0-9.]+' <<<"$json" || fail "no p99"
grep -q '| target | open 400/s | 24 |' "$dir/summary.md" || fail "summary table: $(cat "$dir/summary.md")"
grep -q 'Target / ws_echo: throughput' "$dir/summary.md" || fail "no ratio to the baseline"
head -c 5 "$dir/latency.svg" | grep -q '<svg ' || fail "svg start"
tail -1 "$dir/latency.svg" | grep -q '</svg>' || fail "svg end"
[[ $(grep -c '<polyline' "$dir/latency.svg") -eq 6 ]] || fail "svg curves"
grep -q '\[target\]' "$work/run.err" || fail "no progress line"

bench compare "$dir/result.json" "$dir/result.json" >"$work/compare" || fail "compare"
grep -Eq '^target +p99 us .* 1\.00$' "$work/compare" || fail "compare table: $(cat "$work/compare")"

# Ctrl-C: a partial report, status 130.
sed -e 's/duration_s = 2/duration_s = 60/' -e 's/name = "short"/name = "long"/' -e '/^\[baseline\]/,$d' "$work/short.toml" >"$work/long.toml"
"$bin" bench run "$work/long.toml" --data-dir "$data" --out "$work/results" >"$work/long.out" 2>"$work/long.err" &
bench_pid=$!
wait_for 20 grep -q '\[target\]' "$work/long.err" || fail "long run did not start its target run"
kill -INT "$bench_pid"
status=0
wait "$bench_pid" || status=$?
[[ $status -eq 130 ]] || fail "Ctrl-C gave status $status: $(cat "$work/long.err")"
partial=$(ls -d "$work"/results/long-*-partial) || fail "no partial result dir"
grep -q '"partial":true' "$partial/result.json" || fail "partial not marked"
grep -q 'PARTIAL' "$partial/summary.md" || fail "summary not marked partial"

# One line, naming the key and the file; status 2.
printf '[scenario]\nname = "x"\n[load]\nmode = "open"\nrate_per_s = "fast"\nduration_s = 1\n[[op]]\nname = "system.ping"\n' >"$work/bad.toml"
status=0
bench run "$work/bad.toml" --data-dir "$data" >"$work/out2" 2>"$work/err" || status=$?
[[ $status -eq 2 ]] || fail "bad scenario gave status $status"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "bad scenario gave more than one line: $(cat "$work/err")"
grep -q 'bad.toml: load.rate_per_s: expected a number' "$work/err" || fail "bad scenario line: $(cat "$work/err")"

# An unreachable target fails fast.
start=$(date +%s)
status=0
bench run "$work/short.toml" --target ws://127.0.0.1:1/ws --data-dir "$data" 2>"$work/err" >/dev/null || status=$?
[[ $status -eq 1 ]] || fail "unreachable target gave status $status"
grep -q 'cannot reach ws://127.0.0.1:1/ws' "$work/err" || fail "unreachable: $(cat "$work/err")"
[[ $(( $(date +%s) - start )) -lt 15 ]] || fail "unreachable target took too long"

# Transfers through the whole node, shortened: the data set funds each wallet from the bank
# simulator (link, accounts, top-up, until posted), and every transfer to the next user carries
# an approval minted with the node's development key, from a device-bound token.
# (40/s over 4 users: under the node's default per-user and per-device rate limits.)
sed -e 's/duration_s = 10/duration_s = 2/' -e 's/count = 100/count = 4/' \
    -e 's/sessions = 100/sessions = 4/' -e 's/rate_per_s = [0-9]*/rate_per_s = 40/' \
    "$scenarios/transfers.toml" >"$work/transfers.toml"
bench run "$work/transfers.toml" --data-dir "$data" --out "$work/transfers-out" \
  >"$work/out" 2>"$work/err" || fail "transfers: $(cat "$work/err")"
grep -Eq '^\| target \| open 40/s \| 4 \| [1-9][0-9,]* \| 0 \|' "$work/out" \
  || fail "transfers: $(cat "$work/out")"

# A scenario whose op the node refuses stops at the preflight, naming the op and the code.
sed 's/approval = "${approval}"/approval = "none"/' "$work/transfers.toml" >"$work/refused.toml"
status=0
bench run "$work/refused.toml" --data-dir "$data" 2>"$work/err" >/dev/null || status=$?
[[ $status -eq 1 ]] || fail "refused transfers gave status $status"
grep -q 'preflight: op "banking.transfer" was refused with approval_invalid' "$work/err" \
  || fail "refused transfers: $(cat "$work/err")"
status=0
bench run "$scenarios/isolation.toml" --data-dir "$data" 2>"$work/err" >/dev/null || status=$?
[[ $status -eq 1 ]] || fail "isolation gave status $status"
grep -q 'needs a crash loop in domain "rewards".*no chaos control' "$work/err" || fail "isolation: $(cat "$work/err")"

stop_node
echo "1 passed, 0 failed"
