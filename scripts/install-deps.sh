#!/bin/sh
# Install the build dependencies of wanc on Debian/Ubuntu (idempotent).
#
#   scripts/install-deps.sh          (run as root, or with sudo available)
#
# Packages already present are left alone; apt-get is only called when at
# least one is missing, so a second run is a quick no-op (useful in CI).
set -eu

PACKAGES="build-essential pkg-config libopenblas-dev libcjson-dev \
libavcodec-dev libavformat-dev libswscale-dev libavutil-dev libx264-dev \
libpng-dev zlib1g-dev ffmpeg"

missing=""
for p in $PACKAGES; do
    # dpkg-query prints "install ok installed" for a package that is fully installed.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: missing:$missing (run as root or install sudo)" >&2
        exit 1
    fi
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO apt-get install -y --no-install-recommends $missing
