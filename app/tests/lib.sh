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
