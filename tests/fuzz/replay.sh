#!/bin/sh
# Every fuzz target over its committed seeds and kept crashers, in the build
# under test (normal and ASan): none may crash, hang or trip a sanitizer.
#   tests/fuzz/replay.sh BUILD
build=${1:-build}
passed=0 failed=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    if out=$(timeout 120 "$build/replay_$name" tests/fuzz/corpus/$name tests/fuzz/regress/$name 2>&1); then
        echo "PASS $out"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz-replay $name"
        echo "$out" | tail -n 20
        failed=$((failed + 1))
    fi
done
echo "fuzz-replay: $passed passed, $failed failed"
[ "$failed" = 0 ]
