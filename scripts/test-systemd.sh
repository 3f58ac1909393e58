#!/usr/bin/env bash
# The unit under a real systemd (test/system/systemd.ts): a Debian 12 rootfs (scripts/debian-rootfs.sh, cached under
# .cache/) booted with systemd-nspawn, the single binary installed by scripts/install.sh, and checked: active only
# after READY=1, journal JSON with priorities by level, systemd-analyze security <= 2.0, no writes under /run, what an
# app can send to the notify socket, graceful app stop, restart, watchdog restart after kill -STOP, clean stop, and
# apps and state back after a reboot of the box. Installs what it needs (debootstrap, systemd-container) itself.
# Ends with tap's summary line "# { total: N, pass: N, fail: N }", which .ci/run counts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib/system-checks.sh"
need_root test-systemd
apt_need systemd-nspawn:systemd-container nsenter:util-linux
run_checks systemd test/system/systemd.ts
