#!/usr/bin/env bash
# Outpost quickstart: on a fresh machine, installs what is missing
# (nats-server >= 2.10, OpenSSL's build files), builds Outpost, starts a local NATS server with
# JetStream, a coordinator and workers in two zones, runs sample jobs and
# shows their progress.
#
#   deploy/quickstart.sh          run the demo, then stop everything
#   deploy/quickstart.sh --keep   leave NATS, coordinator and workers running
#
# Everything listens on loopback only; state lives in .quickstart/. NATS
# runs as deployed: TLS required, one identity per zone with its
# permissions (`outpost nats setup`), the coordinator's own.
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

say "OpenSSL (libssl-dev, pkg-config)"
bash deploy/ensure-openssl.sh

say "building Outpost ($PROFILE)"
cargo build --profile "$PROFILE" --bin outpost-coordinator --bin outpost-worker --bin outpost --bin outpost-sim
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

cp deploy/quickstart/coordinator.toml "$state/coordinator.toml"
say "NATS identities, TLS and permissions (outpost nats setup)"
"$bin/outpost" nats setup --config "$state/coordinator.toml" --out "$state/nats" \
  --listen "127.0.0.1:$NATS_PORT" --store-dir "$state/jetstream"

say "starting NATS on tls://127.0.0.1:$NATS_PORT"
"$NATS_SERVER_BIN" -c "$state/nats/nats-server.conf" >"$state/nats.log" 2>&1 &
pids+=($!)
wait_for "$state/nats.log" "Server is ready" 30

say "simulated network devices: 8 in zone alpha (127.1.1.x), 4 in zone beta (127.2.1.x)"
export OUTPOST_SIM_PASSWORD=quickstart-device-pass
"$bin/outpost-sim" ssh --count 8 --first-addr 127.1.1.1 --port 2222 --platform mixed \
  --username netops --enable-secret quickstart-enable --latency-ms 50 --name-prefix alpha-sw \
  --write-inventory "$state/inventory-alpha.csv" >"$state/sim-alpha.out" 2>"$state/sim-alpha.log" &
pids+=($!)
"$bin/outpost-sim" ssh --count 4 --first-addr 127.2.1.1 --port 2222 --platform mixed \
  --username netops --enable-secret quickstart-enable --latency-ms 50 --name-prefix beta-sw \
  --write-inventory "$state/inventory-beta.csv" >"$state/sim-beta.out" 2>"$state/sim-beta.log" &
pids+=($!)
say "simulated Dell iDRACs: 4 in zone alpha (127.1.2.1-4, HTTPS on 8443, device time 100x faster)"
OUTPOST_SIM_PASSWORD=quickstart-idrac-pass "$bin/outpost-sim" redfish --count 4 --first-addr 127.1.2.1 \
  --port 8443 --username root --scale 0.01 >"$state/sim-idrac.out" 2>"$state/sim-idrac.log" &
pids+=($!)
wait_for "$state/sim-alpha.out" "ready" 60
wait_for "$state/sim-beta.out" "ready" 60
wait_for "$state/sim-idrac.out" "ready" 60

sed -i "s|^nats_url = .*|nats_url = \"tls://127.0.0.1:$NATS_PORT\"|" "$state/coordinator.toml"
sed -i "s|^capture_dir = .*|capture_dir = \"$state/captures\"|" "$state/coordinator.toml"
cat >>"$state/coordinator.toml" <<EOT
[nats]
creds = "$state/nats/coordinator.creds"
ca = "$state/nats/ca.pem"
[[inventory]]
type = "csv"
path = "$state/inventory-alpha.csv"
[[inventory]]
type = "csv"
path = "$state/inventory-beta.csv"
EOT

say "a credential vault for the zones (one file here; each site would keep its own)"
export OUTPOST_VAULT_PASS=quickstart-vault-pass
"$bin/outpost" vault --vault "$state/vault.json" init
printf 'quickstart-device-pass\nquickstart-enable\n' | "$bin/outpost" vault --vault "$state/vault.json" \
  add lab --username netops --default --password-stdin --enable-secret-stdin
printf 'quickstart-idrac-pass\n' | "$bin/outpost" vault --vault "$state/vault.json" \
  add idrac --username root --password-stdin
"$bin/outpost" vault --vault "$state/vault.json" list

say "starting the coordinator on http://$API_ADDR"
"$bin/outpost-coordinator" --config "$state/coordinator.toml" --listen "$API_ADDR" \
  >"$state/coordinator.out" 2>"$state/coordinator.log" &
pids+=($!)
wait_for "$state/coordinator.out" "listening on" 60

say "starting workers: two in zone alpha, one in zone beta"
for w in alpha:alpha-1 alpha:alpha-2 beta:beta-1; do
  zone=${w%%:*}; id=${w#*:}
  "$bin/outpost-worker" --zone "$zone" --worker-id "$id" --concurrency 8 --vault "$state/vault.json" \
    --nats "tls://127.0.0.1:$NATS_PORT" --nats-creds "$state/nats/zone-$zone.creds" \
    --nats-ca "$state/nats/ca.pem" >"$state/$id.out" 2>"$state/$id.log" &
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

say "job 3: the VelocityCollector job file deploy/quickstart/collect.json on the simulated Cisco devices of both zones"
# Captures go where the job file's storage.base_path says (here, into .quickstart/).
sed "s|\"storage\": { |\"storage\": { \"base_path\": \"$state/collections\", |" \
  deploy/quickstart/collect.json >"$state/collect.json"
"$outpost" run-job --job "$state/collect.json" -y
ls -l "$state/collections/configs" | head -5

say "job 4: redfish.discover of 127.1.2.0/28 (4 simulated iDRACs, the rest closed); found iDRACs go to the inventory"
"$outpost" submit deploy/quickstart/discover.json
if command -v curl >/dev/null; then curl -s "$OUTPOST_API/api/v1/inventory/redfish" | head -c 600; echo; fi

say "job 5: redfish.power GracefulRestart of 127.1.2.1, waiting until the host is back on"
"$outpost" submit deploy/quickstart/power.json

say "jobs"
"$outpost" jobs

if $keep; then
  echo
  echo "Still running (pids ${pids[*]}). API: $OUTPOST_API  NATS: tls://127.0.0.1:$NATS_PORT (creds and CA in $state/nats)"
  echo "Try: OUTPOST_API=$OUTPOST_API $outpost submit deploy/quickstart/sleep.json"
  echo "Stop: kill ${pids[*]}"
fi
