# Shared by the end-to-end test scripts: a scratch dir, a node pid to clean up, bounded waits.
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- node stdout:" >&2; cat "$work/out" >&2 2>/dev/null || true
  echo "--- node log:" >&2; tail -20 "$work/log" >&2 2>/dev/null || true
  exit 1
}
# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds or SECONDS pass.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [[ $(date +%s) -lt $deadline ]] || return 1
    sleep 0.1
  done
}
# stop_node: SIGTERM, then the exit status must be 0 (an orderly stop).
stop_node() {
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=""
  [[ $status -eq 0 ]] || fail "exit status $status after SIGTERM"
}
# start_embedded_node: `superapp run` ($bin) on a fresh $work/data with any free ports; waits
# for its node.json.
start_embedded_node() {
  data="$work/data"
  SUPERAPP_ADMIN_PORT=0 SUPERAPP_GATEWAY_PORT=0 "$bin" run --data-dir "$data" >"$work/out" 2>"$work/log" &
  pid=$!
  wait_for 60 test -s "$data/node.json" || fail "node.json did not appear"
}
# The three-node sample (scripts/three-nodes) under $work/three, for the multi-node tests ($bin
# and $root are the caller's).
three() { SUPERAPP_BIN=$bin "$root/scripts/three-nodes" "$@"; }
# kill_three: SIGKILL whatever the sample still runs (a failed test's cleanup).
kill_three() {
  local node
  for node in edge commerce core sms; do
    [[ -s "$work/three/$node.pid" ]] && kill -KILL "$(cat "$work/three/$node.pid")" 2>/dev/null
  done
  return 0
}
# stop_three: the orderly stop; every node must be gone and have logged that it stopped.
stop_three() {
  three stop "$work/three"
  local node
  for node in edge commerce core; do
    [[ ! -e "$work/three/$node.pid" ]] || fail "$node did not stop"
    grep -q '"msg":"stopped"' "$work/three/$node.log" || fail "$node did not stop in order"
  done
}
