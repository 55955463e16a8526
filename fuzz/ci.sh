#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time (CI's fuzz
# step; also the way to run them all by hand). A crash fails the script
# and leaves the input under $OUTPOST_FUZZ_WORK/artifacts/<target>/.
#
#   OUTPOST_FUZZ_SECONDS     seconds per target (default 20)
#   OUTPOST_FUZZ_TARGET_DIR  cargo target dir of the fuzz build, outside
#                            the clone so it is reused (default
#                            $HOME/.cache/outpost-fuzz-target)
#   OUTPOST_FUZZ_WORK        where new corpus entries and crashes go
#                            (default: a fresh temporary directory)
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_EACH="${OUTPOST_FUZZ_SECONDS:-20}"
export CARGO_TARGET_DIR="${OUTPOST_FUZZ_TARGET_DIR:-$HOME/.cache/outpost-fuzz-target}"
WORK="${OUTPOST_FUZZ_WORK:-$(mktemp -d)}"
# cargo-fuzz passes -Z flags (sanitizer, coverage options) to rustc: let
# the stable compiler accept them.
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

cargo fuzz build -O
for t in $(cargo fuzz list); do
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  # New inputs go to the work corpus; the committed seeds are only read.
  status=0
  cargo fuzz run -O "$t" "$WORK/corpus/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -artifact_prefix="$WORK/artifacts/$t/" -print_final_stats=1 >"$WORK/$t.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' "$WORK/$t.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$WORK/$t.log"
    echo "fuzz: $t failed (status $status); the input is in $WORK/artifacts/$t/"
    exit 1
  fi
done
echo "fuzz: every target ran ${SECONDS_EACH}s without a crash"
