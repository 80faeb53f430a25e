#!/bin/sh
# make bench: run every benchmark in turn. Usage: bench/run.sh BUILD_DIR
# One command per line; each prints its own lines and a last `<name> key=value ...` line.
build=${1:-build}
set -e
"$build/bench_ops"
# DiT forward: 1.3B-size layers (fp32 weights), then 14B-size layers with bf16 weights (peak RSS)
"$build/bench_dit" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --dtype f32
"$build/bench_dit" --arch wan2.1-t2v-14b --layers 2 --latent 16x5x32x32 --context 512 --dtype bf16
