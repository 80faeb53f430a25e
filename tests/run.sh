#!/bin/sh
# The test command: unit tests, then the fixture harness, then one summary line.
#   tests/run.sh BUILD_DIR FIXTURE_DIR
build=${1:-build}
fixtures=${2:-../shared/fixtures}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$build/test_unit" | tee -a "$log" || status=1
if [ -d "$fixtures" ]; then
    "$build/test_fixtures" "$fixtures" | tee -a "$log" || status=1
else
    echo "note: fixture tree $fixtures is absent; only the in-project cases under tests/data run"
fi
if [ -d tests/data/fixtures ]; then
    "$build/test_fixtures" tests/data/fixtures | tee -a "$log" || status=1
fi
# Sum the per-runner "N passed, N failed" lines into one.
awk '/[0-9]+ passed, [0-9]+ failed/ {
        for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^skipped/) s += $i }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
