#!/usr/bin/env bash
# Builds sim/vcsim (govmomi's vCenter simulator with Outpost's additions)
# against Debian's golang-github-vmware-govmomi-dev, in GOPATH mode, and
# prints the binary's path. Installs golang-go and the library when missing.
# Usage: build.sh OUT_DIR
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
gocode=/usr/share/gocode
if ! command -v go >/dev/null 2>&1 || [ ! -d "$gocode/src/github.com/vmware/govmomi/simulator" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q golang-go golang-github-vmware-govmomi-dev >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && apt-get install -y -q golang-go golang-github-vmware-govmomi-dev >/dev/null
  }
fi
mkdir -p "$out"
bin="$out/outpost-vcsim"
if [ ! -x "$bin" ] || [ "$src/main.go" -nt "$bin" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src/outpost-vcsim"
  cp "$src/main.go" "$work/src/outpost-vcsim/"
  (cd "$work/src/outpost-vcsim" && GO111MODULE=off GOPATH="$work:$gocode" GOCACHE="$out/.gocache" \
    go build -o "$bin.part" . >&2)
  mv "$bin.part" "$bin"
fi
echo "$bin"
