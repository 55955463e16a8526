#!/usr/bin/env bash
# Make a nats-server >= 2.10 available and print its path.
#
# Uses a nats-server already on the PATH when it is new enough; otherwise
# downloads Debian trixie's static `nats-server` package with a private apt
# state (the system's apt sources are not touched), unpacks it with `dpkg -x`
# into the project's git-ignored `.tools/` folder and prints that path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
local_bin="$tools/nats/root/usr/sbin/nats-server"

version_ok() {
  # $1: path to a nats-server binary; true when its version is >= 2.10
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -n "${NATS_SERVER_BIN:-}" ] && version_ok "$NATS_SERVER_BIN"; then
  echo "$NATS_SERVER_BIN"; exit 0
fi
if [ -x "$local_bin" ] && version_ok "$local_bin"; then
  echo "$local_bin"; exit 0
fi
if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi

T="$tools/nats"
rm -rf "$T"
mkdir -p "$T/lists/partial" "$T/cache/archives/partial" "$T/root"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ ! -f "$keyring" ]; then
  apt-get update >&2 && apt-get install -y debian-archive-keyring >&2
fi
echo "deb [signed-by=$keyring] http://deb.debian.org/debian trixie main" > "$T/sources.list"
o=(-o "Dir::Etc::SourceList=$T/sources.list" -o Dir::Etc::SourceParts=/dev/null
   -o "Dir::State::Lists=$T/lists" -o "Dir::Cache=$T/cache")
apt-get "${o[@]}" update >&2
(cd "$T" && apt-get "${o[@]}" download nats-server >&2)
dpkg -x "$T"/nats-server_*.deb "$T/root"
rm -rf "$T/lists" "$T/cache"
version_ok "$local_bin" || { echo "downloaded nats-server is older than 2.10" >&2; exit 1; }
echo "$local_bin"
