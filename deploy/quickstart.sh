#!/usr/bin/env bash
# Outpost quickstart: on a fresh machine, installs what is missing
# (nats-server >= 2.10), builds Outpost, starts a local NATS server with
# JetStream, a coordinator and workers in two zones, runs sample jobs and
# shows their progress.
#
#   deploy/quickstart.sh          run the demo, then stop everything
#   deploy/quickstart.sh --keep   leave NATS, coordinator and workers running
#
# Everything listens on loopback only; state lives in .quickstart/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

NATS_PORT=${OUTPOST_QS_NATS_PORT:-14222}
API_ADDR=${OUTPOST_QS_API:-127.1.0.1:18080}
PROFILE=${OUTPOST_QS_PROFILE:-release}
state="$root/.quickstart"

say() { printf '\n== %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust 1.95 or newer (https://rustup.rs), then run this again" >&2
  exit 1
fi

say "nats-server (>= 2.10)"
NATS_SERVER_BIN=$(bash deploy/ensure-nats-server.sh)
"$NATS_SERVER_BIN" --version

say "building Outpost ($PROFILE)"
cargo build --profile "$PROFILE" --bin outpost-coordinator --bin outpost-worker --bin outpost
target="${CARGO_TARGET_DIR:-$root/target}"
dir=$PROFILE; [ "$PROFILE" = dev ] && dir=debug
bin="$target/$dir"

rm -rf "$state"
mkdir -p "$state/jetstream"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
if ! $keep; then trap stop_all EXIT; fi

# wait_for FILE PATTERN SECONDS: waits until a process prints PATTERN.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for '$2' in $1" >&2; tail -20 "$1" >&2; exit 1; fi
    sleep 0.1
  done
}

say "starting NATS on 127.0.0.1:$NATS_PORT"
"$NATS_SERVER_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$state/jetstream" >"$state/nats.log" 2>&1 &
pids+=($!)
wait_for "$state/nats.log" "Server is ready" 30

cp deploy/quickstart/coordinator.toml "$state/coordinator.toml"
sed -i "s|^nats_url = .*|nats_url = \"nats://127.0.0.1:$NATS_PORT\"|" "$state/coordinator.toml"

say "starting the coordinator on http://$API_ADDR"
"$bin/outpost-coordinator" --config "$state/coordinator.toml" --listen "$API_ADDR" \
  >"$state/coordinator.out" 2>"$state/coordinator.log" &
pids+=($!)
wait_for "$state/coordinator.out" "listening on" 60

say "starting workers: two in zone alpha, one in zone beta"
for w in alpha:alpha-1 alpha:alpha-2 beta:beta-1; do
  zone=${w%%:*}; id=${w#*:}
  "$bin/outpost-worker" --zone "$zone" --worker-id "$id" --concurrency 8 \
    --nats "nats://127.0.0.1:$NATS_PORT" >"$state/$id.out" 2>"$state/$id.log" &
  pids+=($!)
done
for id in alpha-1 alpha-2 beta-1; do wait_for "$state/$id.out" "ready" 60; done

export OUTPOST_API="http://$API_ADDR"
outpost="$bin/outpost"

say "workers"
"$outpost" workers

say "job 1: net.reach from inside each zone (the API's port answers; nothing listens in beta)"
# One target answers, one refuses: the job ends `failed` (exit code 1) on purpose.
rc=0; "$outpost" submit deploy/quickstart/reach.json || rc=$?
[ $rc -le 1 ] || exit $rc

say "job 2: 40 diag.sleep tasks of 250 ms in zone alpha, spread over both alpha workers"
"$outpost" submit deploy/quickstart/sleep.json

say "jobs"
"$outpost" jobs

if $keep; then
  echo
  echo "Still running (pids ${pids[*]}). API: $OUTPOST_API  NATS: nats://127.0.0.1:$NATS_PORT"
  echo "Try: OUTPOST_API=$OUTPOST_API $outpost submit deploy/quickstart/sleep.json"
  echo "Stop: kill ${pids[*]}"
fi
