#!/usr/bin/env bash
# Make the DMTF Redfish Service Validator and the Redfish CSDL schemas
# available offline, for the test that checks the iDRAC simulator against
# an independent implementation of the standard.
#
# - the validator (`redfish-service-validator` from PyPI) goes into the
#   venv given as $1 (created when missing);
# - the schemas come from the DMTF CSDL files that the crates.io package
#   `nv-redfish-schema` ships (the validator would otherwise fetch them from
#   redfish.dmtf.org, which this machine cannot reach), with the Dell OEM
#   schemas it also ships (DellJob, DellManager); the archive is checked
#   against its crates.io checksum and its CSDL files are gathered into one
#   folder under the project's git-ignored `.tools/`.
#
# Prints two lines: the validator's path, then the schema directory.
set -euo pipefail

venv=${1:?usage: ensure-redfish-validator.sh VENV}
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/redfish-schemas"
version=0.22.1
sha256=12b683cd72e1962b4ae64a03641ac846f981db4a97bb082fa9340b23a2b983b1
schemas="$tools/csdl-$version"

if [ ! -x "$venv/bin/rf_service_validator" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'redfish-service-validator==3.1.8' >&2
fi

if [ ! -f "$schemas/ServiceRoot_v1.xml" ]; then
  mkdir -p "$tools"
  crate="$tools/nv-redfish-schema-$version.crate"
  curl -fsSL --retry 3 -o "$crate.part" \
    "https://static.crates.io/crates/nv-redfish-schema/nv-redfish-schema-$version.crate"
  echo "$sha256  $crate.part" | sha256sum -c --quiet - >&2
  mv "$crate.part" "$crate"
  tar -xzf "$crate" -C "$tools" "nv-redfish-schema-$version/redfish-csdl" \
    "nv-redfish-schema-$version/oem/dell"
  mkdir -p "$schemas.part"
  cp "$tools/nv-redfish-schema-$version"/redfish-csdl/csdl/*.xml \
    "$tools/nv-redfish-schema-$version"/oem/dell/*.xml "$schemas.part/"
  rm -rf "$schemas" "$tools/nv-redfish-schema-$version"
  mv "$schemas.part" "$schemas"
fi

echo "$venv/bin/rf_service_validator"
echo "$schemas"
