#!/usr/bin/env bash
# One simulated device per container, on the container's own address:
#
#   device.sh ssh|redfish PORT [outpost-sim flags...]
#
# outpost-sim serves devices on loopback addresses only, so it listens on
# 127.0.0.1:PORT+10000 and socat forwards PORT on the container's addresses
# to it. The container stops when either of the two does.
set -euo pipefail

kind=${1:?usage: device.sh ssh|redfish PORT [outpost-sim flags...]}
port=${2:?usage: device.sh ssh|redfish PORT [outpost-sim flags...]}
shift 2
inner=$((port + 10000))

outpost-sim "$kind" --count 1 --first-addr 127.0.0.1 --port "$inner" "$@" &
sim=$!
socat "TCP-LISTEN:$port,fork,reuseaddr" "TCP:127.0.0.1:$inner" &
forward=$!

# shellcheck disable=SC2317 # called by the trap
stop() {
  kill -TERM "$sim" "$forward" 2>/dev/null || true
  wait "$sim" "$forward" 2>/dev/null || true
  exit 0
}
trap stop TERM INT

status=0
wait -n "$sim" "$forward" || status=$?
echo "device.sh: outpost-sim or socat exited ($status); stopping" >&2
kill -TERM "$sim" "$forward" 2>/dev/null || true
wait 2>/dev/null || true
exit "$(( status == 0 ? 1 : status ))"
