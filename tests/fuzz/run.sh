#!/bin/sh
# `make fuzz`: run every fuzz target for SECONDS each (libFuzzer, ASan + UBSan)
# from its committed seeds (tests/fuzz/corpus/NAME) and kept crashers
# (tests/fuzz/regress/NAME); new inputs go to BUILD/corpus/NAME, crashes to
# BUILD/crashes/. Prints one line per target and exits 1 on any crash.
#   tests/fuzz/run.sh BUILD SECONDS NAME...
build=$1 seconds=$2
shift 2
mkdir -p "$build/crashes"
status=0
for name in "$@"; do
    mkdir -p "$build/corpus/$name"
    log="$build/fuzz_$name.log"
    # -rss_limit_mb / -malloc_limit_mb: an input that makes the parser take
    # more than 2 GiB is a finding (the resource limits are far below it).
    # -timeout 30 s: every input runs in milliseconds, but a loaded (shared, CI)
    # machine can stall a process for seconds; a real hang still trips it.
    dirs="$build/corpus/$name"
    for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do [ -d "$d" ] && dirs="$dirs $d"; done
    # -seed: FUZZ_SEED (default 1) makes a pass repeatable for the same
    # commit and run length; FUZZ_SEED=0 draws a random one.
    "$build/fuzz_$name" -max_total_time="$seconds" -seed="${FUZZ_SEED:-1}" -timeout=30 -rss_limit_mb=2560 -malloc_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/crashes/$name-" $dirs >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    crashes=$(ls "$build/crashes" | grep -c "^$name-")
    if [ "$rc" != 0 ]; then
        status=1
        echo "FAIL fuzz $name: exit $rc after ${runs:-?} runs, $cov; see $log and $build/crashes/"
        grep -m 3 -e "ERROR:" -e "SUMMARY:" "$log"
    else
        echo "fuzz $name: ${runs:-?} runs in ${seconds} s, $cov, $crashes crashes"
    fi
done
exit $status
