#!/bin/sh
# The test command: unit tests, the fixture harness on the shared tree and on
# the in-project copy (tests/data/fixtures), the CLI tests, then one summary line.
#   tests/run.sh BUILD_DIR FIXTURE_DIR
build=${1:-build}
fixtures=${2:-../shared/fixtures}
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
status=0

# run CMD...: show its output, keep it for the totals, remember a failure
run() {
    "$@" >"$out" 2>&1 || status=1
    cat "$out"
    cat "$out" >>"$log"
}

run "$build/test_unit"
if [ -d "$fixtures" ]; then
    run "$build/test_fixtures" "$fixtures"
else
    echo "note: the fixture tree $fixtures is absent: only the in-project copy of the small cases"
    echo "      (tests/data/fixtures) runs; the full set checks every component"
fi
run "$build/test_fixtures" tests/data/fixtures
# The other instruction-set paths this CPU has (WANC_CPU; the default run
# above took the best one): the in-project fixture copy (bf16 cases
# included) on each. The unit tests run every path in-process. Skipped
# where WANC_TEST_PATHS=default (the sanitizer build).
if [ "${WANC_TEST_PATHS:-all}" = all ]; then
    supported=""
    for path in avx2 avx512 avx512bf16; do
        WANC_CPU=$path "$build/wanc" --help >/dev/null 2>&1 && supported="$supported $path"
    done
    default=${WANC_CPU:-${supported##* }}
    for path in $supported; do
        [ "$path" = "$default" ] && continue
        echo "== fixtures (in-project copy) on WANC_CPU=$path =="
        WANC_CPU=$path run "$build/test_fixtures" tests/data/fixtures
    done
fi
run sh tests/harness.sh "$build"
run sh tests/fuzz/replay.sh "$build"
run sh tests/cli.sh "$build" "$fixtures"
run sh tests/kill.sh "$build"
# One line with the totals of every "N passed, N failed[, N skipped]" line.
awk '/[0-9]+ passed, [0-9]+ failed/ {
        for (i = 1; i < NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^skipped/) s += $i
        }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
