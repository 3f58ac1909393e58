#!/usr/bin/env bash
# The container recipes with podman and runc (test/system/container.ts): a base image imported from the Debian 12
# rootfs of scripts/debian-rootfs.sh (no registry is reachable), the standalone image (container/Containerfile) and
# the sdv-runtime drop-in (container/sdv-runtime/) in a stand-in of that image; checks /health, python apps, the
# inherited PYTHONPATH, orphans reaped, `podman stop` exit 0 within 3 s, state across restarts, the image's package
# and binary folders, external-mode generate_vehicle_model, and the one-line error on a noexec /tmp. Installs
# podman and runc itself. Ends with tap's summary line "# { total: N, pass: N, fail: N }", which .ci/run counts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib/system-checks.sh"
need_root test-container
bash "$root/scripts/test-peers.sh" >&2   # the Velocitas SDK the sdv-runtime stand-in image carries
apt_need podman:podman runc:runc
run_checks container test/system/container.ts
