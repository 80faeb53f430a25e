#!/bin/sh
# The fixture harness survives a runner's error paths: cases whose model does not
# load or whose input file is corrupt must be reported as FAIL, and the harness
# must go on to print its summary (no crash, no sanitizer report).
#   tests/harness.sh BUILD_DIR
build=${1:-build}
src=tests/data/fixtures/dit_t2v
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# case NAME: a copy of the small DiT case (links to its files) in $tmp/NAME/c
case_copy() {
    mkdir -p "$tmp/$1/c"
    for f in "$src"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$tmp/$1/c/"; done
    rm "$tmp/$1/c/case.json"
}
# expect_fail NAME WHAT: the harness reports the one case as failed and ends normally
expect_fail() {
    "$build/test_fixtures" "$tmp/$1" >"$tmp/$1.log" 2>&1
    if grep -q "AddressSanitizer\|runtime error\|Segmentation" "$tmp/$1.log" ||
       ! grep -q "fixtures: 0 passed, 1 failed, 0 skipped" "$tmp/$1.log"; then
        echo "FAIL harness $2"; failed=$((failed + 1)); cat "$tmp/$1.log"
    else
        echo "PASS harness $2"; passed=$((passed + 1))
    fi
}

# 1. the DiT loader refuses the config (dim 64 with 3 heads): the runner's
#    cleanup once freed inputs it never loaded
case_copy heads
sed 's/"num_heads": 2/"num_heads": 3/' "$src/case.json" >"$tmp/heads/c/case.json"
expect_fail heads "survives a DiT the loader rejects"

# 2. the model_fn inputs are a truncated file: the error comes after the DiT loaded
case_copy inputs
cp "$src/case.json" "$tmp/inputs/c/case.json"
rm "$tmp/inputs/c/inputs.safetensors"
head -c 100 "$src/inputs.safetensors" >"$tmp/inputs/c/inputs.safetensors"
expect_fail inputs "survives a truncated input file"

echo "harness: $passed passed, $failed failed"
[ "$failed" = 0 ]
