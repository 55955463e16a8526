#!/usr/bin/env bash
# Outpost's multi-site topology on one Linux machine, with network
# namespaces (run as root; needs iproute2):
#
#   hub namespace     3 nats-server nodes (one cluster, JetStream domain
#                     "hub"), 2 coordinators (one leads, one stands by)
#   site-a, site-b    each a leaf nats-server (JetStream domain = the site),
#                     a worker of the site's zone, simulated switches (SSH)
#                     and a simulated iDRAC on addresses that exist only
#                     inside that namespace
#
# Each site reaches the hub over its own veth link (only the leaf's TLS
# connection crosses it); the sites cannot reach each other. The host
# reaches the hub's API through one more link.
#
#   deploy/local-sites.sh up              build what is missing, start it all
#   deploy/local-sites.sh down            stop everything, remove the namespaces
#   deploy/local-sites.sh partition SITE  cut SITE's link to the hub (site-a, site-b)
#   deploy/local-sites.sh heal SITE       restore it
#   deploy/local-sites.sh status          links, processes, `outpost site list`
#
# Environment: OUTPOST_BIN_DIR (the built binaries; default: build them
# with cargo), NATS_SERVER_BIN, OUTPOST_SITES_DIR (state and logs; default
# /tmp/outpost-local-sites), OUTPOST_SITES_PREFIX (namespace and link
# names, default "op"), OUTPOST_SITES_NET (second octet of the addresses,
# default 77: the hub is 10.77.9.1-3, site LANs 10.78.1.0/24 and
# 10.78.2.0/24).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
P=${OUTPOST_SITES_PREFIX:-op}
N=${OUTPOST_SITES_NET:-77}
L=$((N + 1))
S=${OUTPOST_SITES_DIR:-/tmp/outpost-local-sites}
HUB_NS="$P-hub"
SITES=(site-a site-b)

die() { echo "local-sites: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces need it)"
command -v ip >/dev/null || die "iproute2 (ip) is missing"

site_index() {
  case "$1" in
    site-a) echo 1 ;;
    site-b) echo 2 ;;
    *) die "unknown site '$1' (site-a or site-b)" ;;
  esac
}
site_ns() { echo "$P-$1"; }
hub_ip() { echo "10.$N.9.$1"; }

bins() {
  if [ -n "${OUTPOST_BIN_DIR:-}" ]; then
    BIN=$OUTPOST_BIN_DIR
  else
    (cd "$root" && cargo build --release --locked --bin outpost-coordinator --bin outpost-worker \
      --bin outpost --bin outpost-sim)
    BIN="${CARGO_TARGET_DIR:-$root/target}/release"
  fi
  for b in outpost-coordinator outpost-worker outpost outpost-sim; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing"
  done
  NATS=${NATS_SERVER_BIN:-$(bash "$root/deploy/ensure-nats-server.sh")}
}

# start NAME NS CMD...: runs CMD in namespace NS in the background, logs in
# $S/NAME.log, pid in $S/NAME.pid.
start() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" setsid "$@" >"$S/$name.log" 2>&1 </dev/null &
  echo $! >"$S/$name.pid"
}

# wait_for NAME PATTERN SECONDS: until NAME's log says PATTERN.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$S/$1.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$S/$1.pid")" 2>/dev/null; then
      tail -20 "$S/$1.log" >&2
      die "$1 exited before saying '$2'"
    fi
    [ $SECONDS -lt $deadline ] || { tail -20 "$S/$1.log" >&2; die "$1 did not say '$2' within $3 s"; }
    sleep 0.2
  done
}

net_up() {
  ip netns add "$HUB_NS"
  ip -n "$HUB_NS" link set lo up
  # The hub's service addresses (one per NATS node and coordinator), on
  # the namespace's own loopback device (no dummy module needed).
  for i in 1 2 3; do ip -n "$HUB_NS" addr add "$(hub_ip $i)/32" dev lo; done
  # The host's way in (the API, the CLI).
  ip link add "$P-h0" type veth peer name "$P-h1" netns "$HUB_NS"
  ip addr add "10.$N.0.1/30" dev "$P-h0"
  ip link set "$P-h0" up
  ip -n "$HUB_NS" addr add "10.$N.0.2/30" dev "$P-h1"
  ip -n "$HUB_NS" link set "$P-h1" up
  ip route replace "10.$N.9.0/24" via "10.$N.0.2"
  for site in "${SITES[@]}"; do
    local i ns
    i=$(site_index "$site")
    ns=$(site_ns "$site")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "$P-w$i" netns "$HUB_NS" type veth peer name "$P-w$i-s" netns "$ns"
    ip -n "$HUB_NS" addr add "10.$N.$i.1/30" dev "$P-w$i"
    ip -n "$HUB_NS" link set "$P-w$i" up
    ip -n "$ns" addr add "10.$N.$i.2/30" dev "$P-w$i-s"
    ip -n "$ns" link set "$P-w$i-s" up
    ip -n "$ns" route replace "10.$N.9.0/24" via "10.$N.$i.1"
    # The site's LAN: its leaf and its devices, on the namespace's own
    # loopback device: nowhere else has these addresses.
    for h in 1 10 11 20; do ip -n "$ns" addr add "10.$L.$i.$h/32" dev lo; done
  done
}

config() {
  cat >"$S/coordinator.toml" <<EOF
nats_url = "tls://$(hub_ip 1):4222,tls://$(hub_ip 2):4222,tls://$(hub_ip 3):4222"
capture_dir = "$S/captures"
[nats]
creds = "$S/nats/coordinator.creds"
ca = "$S/nats/ca.pem"
[jetstream]
replicas = 3
domain = "hub"
[[zone]]
name = "site-a-mgmt"
cidrs = ["10.$L.1.0/24"]
[[zone]]
name = "site-b-mgmt"
cidrs = ["10.$L.2.0/24"]
[[site]]
name = "site-a"
zones = ["site-a-mgmt"]
[[site]]
name = "site-b"
zones = ["site-b-mgmt"]
EOF
}

bundles() {
  "$BIN/outpost" nats setup --config "$S/coordinator.toml" --out "$S/nats" \
    --server-name "$(hub_ip 1)" --server-name "$(hub_ip 2)" --server-name "$(hub_ip 3)" \
    --listen "$(hub_ip 1):4222" --store-dir "$S/hub-store" \
    --domain hub --leaf-listen "$(hub_ip 1):7422" >"$S/setup.log"
  for site in "${SITES[@]}"; do
    local i
    i=$(site_index "$site")
    "$BIN/outpost" site init "$site" --zones "$site-mgmt" --bundle "$S/nats" \
      --hub "$(hub_ip 1):7422" --hub "$(hub_ip 2):7422" --hub "$(hub_ip 3):7422" \
      --server-name "10.$L.$i.1" --listen "10.$L.$i.1:4222" --store-dir "$S/leaf-$site" \
      >>"$S/setup.log"
  done
  # One conf per hub node: the bundle's, on the node's own address and
  # store, with the cluster's routes (inside the hub namespace only).
  local routes
  routes="\"nats-route://$(hub_ip 1):6222\", \"nats-route://$(hub_ip 2):6222\", \"nats-route://$(hub_ip 3):6222\""
  for n in 1 2 3; do
    sed -e "s|\"$(hub_ip 1):4222\"|\"$(hub_ip $n):4222\"|" \
        -e "s|\"$(hub_ip 1):7422\"|\"$(hub_ip $n):7422\"|" \
        -e "s|\"$S/hub-store\"|\"$S/hub-store-$n\"|" \
        "$S/nats/nats-server.conf" >"$S/hub-$n.conf"
    cat >>"$S/hub-$n.conf" <<EOF

server_name: "hub-$n"
cluster {
  name: "hub"
  listen: "$(hub_ip $n):6222"
  routes: [$routes]
}
EOF
  done
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$S/api-token"
  chmod 600 "$S/api-token"
}

vaults() {
  export OUTPOST_VAULT_PASS=local-sites-vault-pass
  for site in "${SITES[@]}"; do
    local v="$S/vault-$site.json"
    "$BIN/outpost" vault --vault "$v" init >/dev/null
    printf 'local-sites-device-pass\nlocal-sites-enable\n' | "$BIN/outpost" vault --vault "$v" \
      add lab --username netops --default --password-stdin --enable-secret-stdin >/dev/null
    printf 'local-sites-idrac-pass\n' | "$BIN/outpost" vault --vault "$v" \
      add idrac --username root --password-stdin >/dev/null
  done
}

cmd_up() {
  if ip netns list | grep -qw "$HUB_NS"; then
    die "already up (namespace $HUB_NS exists): run '$0 down' first"
  fi
  bins
  rm -rf "$S"
  mkdir -p "$S"
  chmod 700 "$S"
  say "namespaces and links ($HUB_NS, $(site_ns site-a), $(site_ns site-b))"
  net_up
  say "NATS bundles: the hub's, and each site's (outpost nats setup, outpost site init)"
  config
  bundles
  vaults
  say "hub: 3 NATS nodes"
  for n in 1 2 3; do start "hub-$n" "$HUB_NS" "$NATS" -c "$S/hub-$n.conf"; done
  for n in 1 2 3; do wait_for "hub-$n" "Server is ready" 60; done
  for site in "${SITES[@]}"; do
    local i ns
    i=$(site_index "$site")
    ns=$(site_ns "$site")
    say "$site: leaf node, 2 simulated switches, 1 simulated iDRAC (10.$L.$i.0/24)"
    start "leaf-$site" "$ns" "$NATS" -c "$S/nats/sites/$site/nats-server.conf"
    start "sim-ssh-$site" "$ns" env OUTPOST_SIM_PASSWORD=local-sites-device-pass \
      "$BIN/outpost-sim" ssh --count 2 --first-addr "10.$L.$i.10" --port 22 --platform mixed \
      --username netops --enable-secret local-sites-enable --name-prefix "$site-sw" \
      --write-inventory "$S/inventory-$site.csv" --in-namespace
    start "sim-idrac-$site" "$ns" env OUTPOST_SIM_PASSWORD=local-sites-idrac-pass \
      "$BIN/outpost-sim" redfish --count 1 --first-addr "10.$L.$i.20" --port 443 --username root --scale 0.01 --in-namespace
  done
  for site in "${SITES[@]}"; do
    wait_for "leaf-$site" "Server is ready" 60
    wait_for "sim-ssh-$site" "ready" 60
    wait_for "sim-idrac-$site" "ready" 60
  done
  say "hub: 2 coordinators"
  for c in 1 2; do
    start "coordinator-$c" "$HUB_NS" "$BIN/outpost-coordinator" --config "$S/coordinator.toml" \
      --listen "$(hub_ip $c):8080" --advertise "http://$(hub_ip $c):8080" --api-token-file "$S/api-token"
  done
  wait_for coordinator-1 "outpost-coordinator" 90
  wait_for coordinator-2 "outpost-coordinator" 90
  say "workers (they start once the coordinator has made their site's consumers)"
  for site in "${SITES[@]}"; do
    local i ns zone
    i=$(site_index "$site")
    ns=$(site_ns "$site")
    zone="$site-mgmt"
    # The worker waits for its consumers, which the coordinator makes
    # once the site's leaf answers.
    start "worker-$site" "$ns" env OUTPOST_VAULT_PASS=local-sites-vault-pass "$BIN/outpost-worker" \
      --zone "$zone" --worker-id "$site-1" --concurrency 16 --vault "$S/vault-$site.json" \
      --nats "tls://10.$L.$i.1:4222" --nats-creds "$S/nats/sites/$site/zone-$zone.creds" \
      --nats-ca "$S/nats/sites/$site/ca.pem"
  done
  for site in "${SITES[@]}"; do wait_for "worker-$site" "outpost-worker ready" 180; done
  echo
  echo "API: http://$(hub_ip 1):8080 and http://$(hub_ip 2):8080 (one leads, the other forwards)"
  echo "token: $S/api-token"
  echo "zones: site-a-mgmt (site-a, 10.$L.1.0/24), site-b-mgmt (site-b, 10.$L.2.0/24)"
  echo "devices: switches 10.$L.N.10-11:22 (netops), iDRACs 10.$L.N.20:443 (root); N = 1 (site-a), 2 (site-b)"
  echo "try: OUTPOST_API=http://$(hub_ip 1):8080 $BIN/outpost --token-file $S/api-token site list"
  echo "local-sites up"
}

link_set() {
  local site=$1 state=$2 i ns
  i=$(site_index "$site")
  ns=$(site_ns "$site")
  ip -n "$HUB_NS" link set "$P-w$i" "$state"
  ip -n "$ns" link set "$P-w$i-s" "$state"
  if [ "$state" = up ]; then
    # Routes through a link go with it when it goes down.
    ip -n "$ns" route replace "10.$N.9.0/24" via "10.$N.$i.1"
  fi
}

cmd_down() {
  for f in "$S"/*.pid; do
    [ -e "$f" ] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  # Up to 10 s for them to drain, then whatever still runs is killed.
  local deadline=$((SECONDS + 10)) alive
  while [ $SECONDS -lt $deadline ]; do
    alive=0
    for f in "$S"/*.pid; do
      [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [ $alive -eq 1 ] || break
    sleep 0.1
  done
  for f in "$S"/*.pid; do
    [ -e "$f" ] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  for ns in "$HUB_NS" "$(site_ns site-a)" "$(site_ns site-b)"; do
    if ip netns list | grep -qw "$ns"; then
      # Anything still running in it goes with it.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns"
    fi
  done
  ip link del "$P-h0" 2>/dev/null || true
  ip route del "10.$N.9.0/24" 2>/dev/null || true
  echo "local-sites down"
}

cmd_status() {
  for site in "${SITES[@]}"; do
    local i state
    i=$(site_index "$site")
    state=$(ip -n "$HUB_NS" -o link show "$P-w$i" 2>/dev/null | grep -q "state UP\|,UP" && echo up || echo CUT)
    echo "$site: link $state"
  done
  for f in "$S"/*.pid; do
    [ -e "$f" ] || continue
    local name
    name=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$name: running"; else echo "$name: STOPPED"; fi
  done
  if [ -n "${OUTPOST_BIN_DIR:-}" ] || [ -x "${CARGO_TARGET_DIR:-$root/target}/release/outpost" ]; then
    local b=${OUTPOST_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
    OUTPOST_API="http://$(hub_ip 1):8080" "$b/outpost" --token-file "$S/api-token" site list || true
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  partition) [ -n "${2:-}" ] || die "partition SITE"; link_set "$2" down; echo "$2 cut off" ;;
  heal) [ -n "${2:-}" ] || die "heal SITE"; link_set "$2" up; echo "$2 healed" ;;
  status) cmd_status ;;
  *) sed -n '2,27p' "$0"; exit 2 ;;
esac
