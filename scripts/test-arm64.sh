#!/usr/bin/env bash
# Builds the arm64 single binary on this x64 machine and proves it runs: under qemu-aarch64-static it starts from an
# empty directory with no node on PATH, answers /health, and runs a shell app and a python app deployed through the
# local API (scripts/ci-binary-smoke.sh --arch arm64 does the checks). Too slow for every CI run? See docs/operations.md for the
# measured time; it is a separate script for that reason.
#
#   scripts/test-arm64.sh [--no-build]
#
# Installs what is missing from Debian (needs root): qemu-user-static, g++-aarch64-linux-gnu,
# binutils-aarch64-linux-gnu (cross compiler and strip for node-pty's addon), libc6-arm64-cross (the arm64 loader
# and libc that qemu-user uses through -L /usr/aarch64-linux-gnu).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
t0=$(date +%s)

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v aarch64-linux-gnu-strip >/dev/null || missing+=(binutils-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-arm64: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "test-arm64: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

"$root/scripts/ci-binary-smoke.sh" --arch arm64 "$@"
echo "test-arm64: done in $(( $(date +%s) - t0 )) s"
