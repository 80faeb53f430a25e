#!/bin/sh
# Install wanc's build dependencies from Debian packages (idempotent).
#   OpenBLAS      the float32 GEMM every model's heavy lifting goes through
#   cJSON         safetensors headers, index.json, tokenizer.json, fixture case.json
#   FFmpeg + x264 mp4 output and video/image input (libavcodec/libavformat/libswscale)
#   libpng, zlib  PNG frame output
#   ffmpeg        ffprobe, used by the tests to check the mp4s we write
#   clang-14, libFuzzer, compiler-rt   `make fuzz` (libFuzzer + ASan + UBSan)
set -eu
pkgs="build-essential pkg-config libopenblas-dev libcjson-dev libavcodec-dev libavformat-dev
      libswscale-dev libavutil-dev libx264-dev libpng-dev zlib1g-dev ffmpeg
      clang-14 libfuzzer-14-dev libclang-rt-14-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
echo "dependencies installed"
