#!/usr/bin/env bash
# outpost-init of docker-compose.yml: everything the NATS servers, the
# coordinators, the workers and Prometheus read before they start.
#
#  1. `outpost nats setup`: the hub's bundle (CA, server certificate for
#     hub-1..3, coordinator and zone identities, nats-server.conf with
#     JetStream domain `hub` and the leaf port 7422) in $BUNDLE;
#  2. `outpost site init` per site: the leaf's bundle in $BUNDLE/sites/SITE
#     (a volume of its own, mounted there), and the hub admits the site;
#     plus the site's credential vault for its worker(s);
#  3. per hub node, hub-N.conf: its name, the cluster block (routes with a
#     shared route user), including the bundle's nats-server.conf; per site,
#     leaf.conf: the leaf's name, including the site's nats-server.conf;
#  4. the coordinators' identity and CA, the API token, and Prometheus' copy
#     of the token, each in the volume of whoever reads it.
#
# Idempotent: re-running keeps the CA, keys, passwords, vault passwords and
# the token (`outpost nats setup` and `site init` keep what exists); the
# vaults' two credentials are set again from the environment. Runs as root so it
# can hand every volume to the user that reads it, then exits. The paths
# inside the confs are absolute: the NATS containers mount the volumes at
# the same paths as here.
set -euo pipefail
shopt -s nullglob
umask 077

BUNDLE=${OUTPOST_INIT_BUNDLE:-/etc/outpost/nats}
CONFIG=${OUTPOST_CONFIG:-/etc/outpost/coordinator.toml}
# Where the coordinators', the API token's, Prometheus' and the NATS data
# volumes are mounted in this container.
OUT=${OUTPOST_INIT_OUT:-/run/outpost}
# The hub's nodes (service names; also the certificate's names).
HUB_NODES=${OUTPOST_INIT_HUB_NODES:-"hub-1 hub-2 hub-3"}
# SITE:ZONE[,ZONE...]:LEAF (the leaf's service name) per site.
SITES=${OUTPOST_INIT_SITES:-"site-a:site-a-mgmt:leaf-a site-b:site-b-mgmt:leaf-b"}
# JetStream store of every NATS container (its own data volume at /data).
STORE_DIR=${OUTPOST_INIT_STORE_DIR:-/data/jetstream}
# The Outpost image's user, and Prometheus' (nobody in prom/prometheus).
OWNER=${OUTPOST_INIT_OWNER:-10001:10001}
PROMETHEUS_OWNER=${OUTPOST_INIT_PROMETHEUS_OWNER:-65534:65534}

say() { printf 'outpost-init: %s\n' "$*"; }

# 32 random bytes as hex: safe in a URL and in a conf string.
random_hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# keep_secret FILE: FILE's content, made once.
keep_secret() {
  [ -s "$1" ] || random_hex >"$1"
  tr -d '\n' <"$1"
}

for cmd in outpost head od tr; do
  command -v "$cmd" >/dev/null || { say "$cmd is missing" >&2; exit 1; }
done
[ -r "$CONFIG" ] || { say "cannot read the coordinator configuration $CONFIG" >&2; exit 1; }
mkdir -p "$BUNDLE" "$OUT/coordinator" "$OUT/api" "$OUT/prometheus"
chmod 0700 "$BUNDLE"

hub_names=()
hub_leaf=()
for node in $HUB_NODES; do
  hub_names+=(--server-name "$node")
  hub_leaf+=(--hub "$node:7422")
done

say "the hub's bundle (outpost nats setup)"
outpost nats setup --config "$CONFIG" --out "$BUNDLE" "${hub_names[@]}" \
  --listen 0.0.0.0:4222 --store-dir "$STORE_DIR" --domain hub --leaf-listen 0.0.0.0:7422

for entry in $SITES; do
  IFS=: read -r site zones leaf <<<"$entry"
  say "site $site (zones $zones, leaf $leaf): outpost site init"
  outpost site init "$site" --zones "$zones" --bundle "$BUNDLE" "${hub_leaf[@]}" \
    --server-name "$leaf" --listen 0.0.0.0:4222 --store-dir "$STORE_DIR"
  dir="$BUNDLE/sites/$site"
  cat >"$dir/leaf.conf" <<EOF
# Written by outpost-init (deploy/compose/init.sh): leaf node $leaf of site
# $site. nats-server.conf beside it is outpost site init's.
server_name: "$leaf"
# Monitoring on loopback only, for the container's health check.
http: "127.0.0.1:8222"
include "nats-server.conf"
EOF
  # Each zone's credential vault, with the simulated devices' credentials.
  IFS=, read -r -a zone_list <<<"$zones"
  for zone in "${zone_list[@]}"; do
    vault="$dir/vault-$zone.json"
    OUTPOST_VAULT_PASS=$(keep_secret "$dir/vault-$zone.pass")
    export OUTPOST_VAULT_PASS
    if [ ! -s "$vault" ]; then
      outpost vault --vault "$vault" init
    fi
    printf '%s\n%s\n' "${OUTPOST_SIM_SWITCH_PASSWORD:?}" "${OUTPOST_SIM_ENABLE_SECRET:?}" |
      outpost vault --vault "$vault" add lab --username "${OUTPOST_SIM_SWITCH_USER:-netops}" \
        --default --password-stdin --enable-secret-stdin --replace >/dev/null
    printf '%s\n' "${OUTPOST_SIM_IDRAC_PASSWORD:?}" |
      outpost vault --vault "$vault" add idrac --username "${OUTPOST_SIM_IDRAC_USER:-root}" \
        --password-stdin --replace >/dev/null
    unset OUTPOST_VAULT_PASS
  done
done

# The hub's cluster. Route connections carry no TLS: the bundle's server
# certificate is for servers only (no client-auth usage), and nats-server
# uses one certificate for both ends of a route. They stay on the `hub`
# network, and a node accepts a route only with the shared route user's
# password (plain text in hub-N.conf, 0600, like the leaf's conf).
route_pass=$(keep_secret "$BUNDLE/route.pass")
routes=""
for node in $HUB_NODES; do
  routes+="    \"nats-route://route:$route_pass@$node:6222\""$'\n'
done
for node in $HUB_NODES; do
  cat >"$BUNDLE/$node.conf" <<EOF
# Written by outpost-init (deploy/compose/init.sh): hub node $node of the
# 3-node cluster. nats-server.conf beside it is outpost nats setup's (and
# site init's); both run again at every start of the compose project.
server_name: "$node"
# What the cluster tells clients and other nodes: names the certificate has.
client_advertise: "$node:4222"
# Monitoring on loopback only, for the container's health check.
http: "127.0.0.1:8222"
include "nats-server.conf"
cluster {
  name: "hub"
  listen: "0.0.0.0:6222"
  advertise: "$node:6222"
  authorization {
    user: "route"
    password: "$route_pass"
    timeout: 2
  }
  routes: [
$routes  ]
}
EOF
done

say "the coordinators' NATS identity, the API token, Prometheus' copy"
install -m 0600 "$BUNDLE/coordinator.creds" "$OUT/coordinator/coordinator.creds"
install -m 0644 "$BUNDLE/ca.pem" "$OUT/coordinator/ca.pem"
keep_secret "$OUT/api/token" >/dev/null
install -m 0400 "$OUT/api/token" "$OUT/prometheus/api-token"

# Owners: the Outpost image's user reads the bundles and the token and
# runs the NATS servers (their data volumes are mounted in $OUT/data).
chown -R "$OWNER" "$BUNDLE" "$OUT/coordinator" "$OUT/api"
chmod 0700 "$OUT/coordinator" "$OUT/api"
for d in "$OUT"/data/*/; do
  chown "$OWNER" "$d"
  chmod 0700 "$d"
done
chown -R "$PROMETHEUS_OWNER" "$OUT/prometheus"
chmod 0500 "$OUT/prometheus"
say "done"
