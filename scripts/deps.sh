#!/usr/bin/env bash
# Installs what offsite needs to build and test on a fresh Debian machine, skipping what is
# already there. The Swift toolchain itself (swift 6.x) must be on PATH.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "swift is not on PATH: install the Swift 6 toolchain (https://www.swift.org/install/linux/) first" >&2
    exit 1
fi

# Debian packages the build and the tests use: libzstd-dev (compression), restic (the
# compatibility oracle the tests run against), time (peak-memory figures in benchmarks),
# unzip and python3 (dump's archives are read back by other tools), util-linux and mount (a
# small tmpfs in a private mount namespace plays a full disk).
packages=(libzstd-dev restic time unzip python3 util-linux mount)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
