#!/bin/sh
# bench/gpu.sh — the GPU check in one command (needs an NVIDIA GPU and nvcc):
#   1. build with CUDA=1 (build-cuda/),
#   2. run the CPU-vs-CUDA op parity tests (build-cuda/test_cuda),
#   3. time on the GPU (build-cuda/bench_gpu_bench): the cuBLAS bf16 GEMM peak
#      (8192³), flash attention at 32,760 tokens × 12 heads × 128, and a
#      DiT-1.3B-shaped forward (dim 1536, ffn 8960, 12 heads, 30 layers,
#      latent 16×21×60×104 = 32,760 tokens, bf16 weights), each with ms,
#      TFLOP/s and the ratio to the measured GEMM peak.
# The whole run stays inside BUDGET seconds (default 470, under 8 minutes):
# the DiT runs fewer layers when the attention timing says 30 would not fit,
# and says so. Exit status: non-zero when a parity test or a timing failed.
# Usage: bench/gpu.sh [extra bench_gpu_bench options, e.g. --layers 10]
set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
budget=${BUDGET:-470}
left() { echo $((budget - ($(date +%s) - start))); }
status=0

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
jobs=$(nproc 2>/dev/null || echo 4)
echo "== build (make CUDA=1)"
make -s CUDA=1 -j"$jobs" build-cuda/libwanc.a build-cuda/test_unit build-cuda/test_cuda build-cuda/bench_gpu_bench \
    || { echo "gpu.sh: build failed"; exit 1; }

echo "== parity (build-cuda/test_cuda)"
if ! timeout "$(left)" build-cuda/test_cuda; then
    echo "gpu.sh: parity tests FAILED (timings follow anyway)"
    status=1
fi
build-cuda/test_unit backend_get || status=1

echo "== GEMM peak and attention"
out=$(timeout "$(left)" build-cuda/bench_gpu_bench --no-dit "$@" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then echo "gpu.sh: timing failed (rc $rc)"; exit 1; fi
case "$out" in *SKIP*) exit $status ;; esac

# Fit the DiT into what is left: a layer costs about one self-attention
# (the cross-attention over 512 keys and the GEMMs are small next to it at
# this size) plus a margin; the DiT uses the bf16 attention kernel; the run does a
# one-layer warm-up, the timed layers and one profiled layer.
attn_ms=$(echo "$out" | sed -n 's/^attention kernel=bf16 .* ms=\([0-9.]*\) .*/\1/p')
layers=30
remaining=$(left)
if [ -n "$attn_ms" ]; then
    fit=$(awk -v a="$attn_ms" -v r="$remaining" 'BEGIN { per = a * 1.3 + 150; n = int((r - 60) * 1000 / per) - 2; print (n < 1 ? 1 : n) }')
    if [ "$fit" -lt "$layers" ]; then
        echo "gpu.sh: only $fit of 30 layers fit in the remaining ${remaining}s (attention ${attn_ms} ms); timing $fit"
        layers=$fit
    fi
fi
echo "== DiT-1.3B-shaped forward ($layers layers)"
timeout "$(left)" build-cuda/bench_gpu_bench --no-attn --gemm 8192 --layers "$layers" "$@" || {
    echo "gpu.sh: DiT timing failed or ran out of time"
    status=1
}
echo "gpu.sh: done in $(( $(date +%s) - start ))s"
exit $status
