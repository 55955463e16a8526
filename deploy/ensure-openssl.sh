#!/usr/bin/env bash
# Installs what building Outpost needs of OpenSSL when it is missing: the
# worker's legacy TLS (old iDRACs that speak only TLS 1.0/1.1) links the
# system's libssl through pkg-config, and the tests run `openssl s_server`.
# Debian/Ubuntu (apt); elsewhere it says what to install and fails.
set -euo pipefail
if pkg-config --exists openssl 2>/dev/null && command -v openssl >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install OpenSSL's development files, pkg-config and the openssl command, then run this again" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libssl-dev pkg-config openssl >/dev/null 2>&1 || {
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libssl-dev pkg-config openssl >/dev/null
}
