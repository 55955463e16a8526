#!/usr/bin/env bash
# The README's test command: prepares everything the test suite needs on a
# fresh Debian machine (nats-server >= 2.10, OpenSSL, OpenSSH's sshd, a
# Python venv with `cryptography` and `aiosmtpd`, the DMTF Redfish validator and schemas,
# govmomi's vCenter simulator, PostgreSQL, iproute2, Debian's
# docker-compose, Chromium and chromedriver, cargo-nextest), then runs
#   cargo nextest run --workspace --locked [ARGS...]
# Arguments go to nextest (e.g. a test filter). What is already there is
# used as it is; what is missing is installed (apt, as root or via sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/outpost-target}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# apt_install PKG...: Debian packages, non-interactively (the variable
# passes through sudo, which resets the environment), updating the package
# lists only when the first try fails.
apt_install() {
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  }
}

# nats-server >= 2.10 (Debian trixie's static build, fetched into .tools/ when missing).
NATS_SERVER_BIN="$(bash deploy/ensure-nats-server.sh)"
export NATS_SERVER_BIN
"$NATS_SERVER_BIN" --version

# OpenSSL: the worker's legacy TLS (old iDRACs) links libssl; the tests
# also run `openssl s_server -tls1` as an independent TLS 1.0 endpoint.
bash deploy/ensure-openssl.sh

# OpenSSH's sshd: the SSH collector is tested against it as well as the simulator.
if [ ! -x /usr/sbin/sshd ]; then
  apt_install openssh-server
fi
export OUTPOST_SSHD_BIN=/usr/sbin/sshd

# iproute2: deploy/local-sites.sh (and its test) builds sites in network namespaces.
if ! command -v ip >/dev/null 2>&1; then
  apt_install iproute2
fi

# Debian's docker-compose: docker-compose.yml is validated with it (no
# Docker engine is needed for `docker-compose config`).
if ! command -v docker-compose >/dev/null 2>&1; then
  apt_install docker-compose
fi
OUTPOST_DOCKER_COMPOSE="$(command -v docker-compose)"
export OUTPOST_DOCKER_COMPOSE

# systemd-analyze: the service units in deploy/systemd are checked with it.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt_install systemd
fi
OUTPOST_SYSTEMD_ANALYZE="$(command -v systemd-analyze)"
export OUTPOST_SYSTEMD_ANALYZE

# Debian's Chromium and its WebDriver: the web console is tested in a
# real headless browser.
if [ ! -x "${OUTPOST_CHROMIUM:-/usr/bin/chromium}" ] || [ ! -x "${OUTPOST_CHROMEDRIVER:-/usr/bin/chromedriver}" ]; then
  apt_install chromium chromium-driver
fi

# Python with `cryptography` (tests build a VelocityCollector vault with
# it) and `aiosmtpd` (the SMTP server email notifications are tested against).
VENV="${OUTPOST_VENV:-$HOME/.cache/outpost-venv}"
if ! "$VENV/bin/python" -c 'import cryptography, aiosmtpd' >/dev/null 2>&1; then
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q cryptography aiosmtpd
fi
export OUTPOST_PYTHON="$VENV/bin/python"

# The DMTF Redfish Service Validator and the Redfish schemas, offline: the
# iDRAC simulator is checked against them.
{ read -r OUTPOST_RF_VALIDATOR; read -r OUTPOST_REDFISH_SCHEMAS; } \
  < <(bash deploy/ensure-redfish-validator.sh "$VENV")
export OUTPOST_RF_VALIDATOR OUTPOST_REDFISH_SCHEMAS

# govmomi's vCenter simulator (Debian's Go and govmomi packages, GOPATH
# mode) with Outpost's additions: the vCenter tests run against it.
OUTPOST_VCSIM_BIN="$(bash sim/vcsim/build.sh "$HOME/.cache/outpost-vcsim")"
export OUTPOST_VCSIM_BIN

# PostgreSQL: the DSM bridge is tested against a real one (each test makes
# its own database). This machine kind runs one on 127.0.0.1:5432 with trust
# authentication; elsewhere install and start Debian's, with a password.
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export OUTPOST_PG_URL="${OUTPOST_PG_URL:-host=127.0.0.1 port=5432 user=postgres}"
else
  apt_install postgresql
  $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  $sudo su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'outpost-ci'\"" >/dev/null
  export OUTPOST_PG_URL="host=127.0.0.1 port=5432 user=postgres password=outpost-ci"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo nextest run --workspace --locked "$@"
