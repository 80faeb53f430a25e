#!/bin/sh
# `make check`: the test suite in the normal build and again under ASan+UBSan,
# then one line with the totals.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
make --no-print-directory test 2>&1 | tee -a "$log"
[ "$(tail -n 1 "$log" | grep -c ' 0 failed')" = 1 ] || status=1
echo "== the same tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
make --no-print-directory asan 2>&1 | grep -v '^cc \|^ar ' | tee -a "$log.asan"
[ "$(tail -n 1 "$log.asan" | grep -c ' 0 failed')" = 1 ] || status=1
normal=$(tail -n 1 "$log")
asan=$(tail -n 1 "$log.asan")
rm -f "$log.asan"
echo "normal build: $normal"
echo "asan build:   $asan"
echo "$normal
$asan" | awk '{ p += $1; f += $3; s += $5 } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
exit $status
