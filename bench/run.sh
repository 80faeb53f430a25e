#!/bin/sh
# make bench: run every benchmark in turn. Usage: bench/run.sh BUILD_DIR
# One command per line; each prints its own lines and a last `<name> key=value ...` line.
build=${1:-build}
set -e
"$build/bench_ops"
"$build/bench_umt5"
