#!/usr/bin/env bash
# Makes (once) a minimal Debian bookworm root file system for the systemd and container checks, and prints its path.
#
#   scripts/debian-rootfs.sh            → .cache/rootfs/bookworm-<key>   (key: a hash of what goes in)
#
# debootstrap --variant=minbase with systemd (a real PID 1 for systemd-nspawn --boot), dbus (systemd-analyze
# security asks the manager over the bus), python3 and pip (what vehicle apps and `install_python_packages` use),
# procps (ps, for the zombie checks) and mosquitto (the sdv-runtime image starts one). The mirror is the one this
# machine's apt uses for bookworm, so the rootfs comes from wherever the box's own packages come from. Kept under .cache/ (gitignored): a second run returns at once.
# The tree is never booted or changed itself: the checks boot copies of it, and `podman import` reads it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
suite=bookworm
packages=systemd,systemd-sysv,dbus,python3,python3-pip,procps,mosquitto
key="$(printf '%s\n' "$suite" minbase "$packages" 1 | sha256sum | cut -c1-12)"
dest="$root/.cache/rootfs/$suite-$key"
if [ -f "$dest.complete" ]; then echo "$dest"; exit 0; fi

[ "$(id -u)" = 0 ] || { echo "debian-rootfs: must run as root (debootstrap)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "debian-rootfs: apt-get install debootstrap" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi
# The mirror apt resolves bookworm/main from ("500 http://deb.debian.org/debian bookworm/main amd64 Packages").
mirror="$(apt-cache policy 2>/dev/null | awk -v s="$suite/main" '$3 == s && $5 == "Packages" { print $2; exit }')"
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
echo "debian-rootfs: debootstrap $suite from $mirror into $dest" >&2
mkdir -p "$root/.cache/rootfs"
tmp="$(mktemp -d "$root/.cache/rootfs/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log="$tmp.log"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp/rootfs" "$mirror" > "$log" 2>&1; then
  tail -30 "$log" >&2; echo "debian-rootfs: debootstrap failed (full log: $log)" >&2; exit 1
fi
rm -f "$log"
# Image hygiene: no package lists or caches in what gets copied and imported.
rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
rm -rf "$dest"
mv "$tmp/rootfs" "$dest"
touch "$dest.complete"
# Trees made from another package list are not used any more.
for old in "$root/.cache/rootfs/$suite-"*; do
  case "$old" in "$dest"|"$dest.complete") ;; *) rm -rf "$old" ;; esac
done
echo "$dest"
