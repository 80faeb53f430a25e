#!/bin/sh
# make bench: run every benchmark in turn. Usage: bench/run.sh BUILD_DIR
# One command per line; each prints its own lines and a last `<name> key=value ...` line.
build=${1:-build}
set -e
"$build/bench_ops"
"$build/bench_vae"
# bf16 compute (the pipeline's default): on AVX-512 BF16 CPUs the convs run on the bf16 kernels (isa=)
"$build/bench_vae" --dtype bf16
"$build/bench_clip"
# sliding windows: the DiT stage's RSS as the frame count doubles (flat with windows)
"$build/bench_sliding_window"
# DiT forward: 1.3B-size layers (fp32 weights), then 14B-size layers with bf16 weights (peak RSS)
"$build/bench_dit" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --dtype f32
# the same in bf16 weights and bf16 compute (DiffSynth's default precision; isa= names the kernels)
"$build/bench_dit" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --dtype bf16 --compute bf16
"$build/bench_dit" --arch wan2.1-t2v-14b --layers 2 --latent 16x5x32x32 --context 512 --dtype bf16
# GGUF Q8_0 weights (the same 1.3B-size layers quantized as `wanc quantize --type Q8_0`): the int8
# dot-product kernels (the default; isa= and int8= name them) against decoding for the float GEMM
"$build/bench_q8"
"$build/bench_dit" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --dtype q8_0 --q8 int8
"$build/bench_dit" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --dtype q8_0 --q8 fp
# Training: one LoRA step (rank 32, checkpointed backward, AdamW) on the same 1.3B-size layers, with
# the same DiT's inference forward timed in the same run (step_over_forward)
"$build/bench_train" --arch wan2.1-t2v-1.3b --layers 2 --latent 16x5x32x32 --context 512 --mode lora --dtype f32 --threads 2
# Wan2.2 A14B: peak RSS of a two-expert run within 1.15x of a one-expert run (random experts
# of the real 14B widths, 2 layers each, bf16; ~2.2 GB of temporary files)
"$build/bench_experts" --layers 2
# UMT5 (bf16 weights and compute; isa= names the kernels): the real UMT5-XXL when $WANC_BENCH_UMT5 names it (e.g. a file made once with
# `wanc random-model --arch umt5-xxl`, 11 GB, or the released .pth), else the real widths
# (dim 4096, ffn 10240, 64 heads) with 2 of the 24 layers and a small vocabulary.
if [ -n "${WANC_BENCH_UMT5:-}" ]; then
    "$build/bench_umt5" --model "$WANC_BENCH_UMT5"
else
    t5=$(mktemp "${TMPDIR:-/tmp}/wanc_bench_umt5_XXXXXX.safetensors")
    "$build/wanc" random-model --arch umt5-xxl --layers 2 --vocab 32128 --out "$t5"
    "$build/bench_umt5" --model "$t5" || { rm -f "$t5"; exit 1; }
    rm -f "$t5"
fi
