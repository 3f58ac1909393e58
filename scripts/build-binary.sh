#!/usr/bin/env bash
# Builds the single binary dist/sdv-agent-linux-<arch>: the bundled agent as a Node single-executable application
# injected into an official Node 24 LTS build taken from the npm registry (node-linux-<arch> packages carry official
# builds and their headers, so node-pty's addon is compiled for exactly that Node without any other download).
#
#   scripts/build-binary.sh [--arch x64|arm64]
#
# Needs: node + npm (any version >= 20 on the build host), g++/make/python3 for node-gyp; for arm64 also Debian's
# g++-aarch64-linux-gnu and binutils-aarch64-linux-gnu. Downloads go to .cache/ (gitignored) and are reused.
set -euo pipefail

# One Node version published for BOTH arches in the npm registry (not every patch exists for both).
NODE_VERSION=24.21.0
POSTJECT=postject@1.0.0-alpha.6
SEA_FUSE=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

arch=x64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:-}"; shift 2 ;;
    --arch=*) arch="${1#--arch=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build-binary: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$arch" in x64|arm64) ;; *) echo "build-binary: --arch must be x64 or arm64, got '$arch'" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache"
host_arch="$(node -p process.arch)"
t0=$(date +%s)

# 1. official Node for the target arch, and one for the host (it writes the SEA blob: same version, so same format)
fetch_node() { # $1 = arch → prints the unpacked package dir
  local a="$1" dir="$cache/node/$1-$NODE_VERSION"
  if [ ! -x "$dir/package/bin/node" ]; then
    mkdir -p "$cache/node"
    (cd "$cache/node" && npm pack --silent "node-linux-$a@$NODE_VERSION" >/dev/null)
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$cache/node/node-linux-$a-$NODE_VERSION.tgz" -C "$dir"
  fi
  echo "$dir/package"
}
target_node="$(fetch_node "$arch")"
host_node="$(fetch_node "$host_arch")"

# 2. node-pty's addon, compiled against the target Node's headers in a scratch copy (node_modules stays as is)
work="$cache/build-$arch"
rm -rf "$work" && mkdir -p "$work/node_modules"
cp -r "$root/node_modules/node-pty" "$root/node_modules/node-addon-api" "$work/node_modules/"
rm -rf "$work/node_modules/node-pty/build"
# node-gyp arrives with the dev dependencies (through tap's npm tooling); if a future lockfile drops it, take a pinned
# one from the npm registry.
if [ -f "$root/node_modules/node-gyp/bin/node-gyp.js" ]; then gyp=(node "$root/node_modules/node-gyp/bin/node-gyp.js")
else gyp=(npx --yes node-gyp@12.4.0); fi
gyp+=(rebuild "--nodedir=$target_node")
strip_cmd=strip
if [ "$arch" != "$host_arch" ]; then
  [ "$arch" = arm64 ] || { echo "build-binary: cross-building for $arch is not supported" >&2; exit 2; }
  command -v aarch64-linux-gnu-g++ >/dev/null || { echo "build-binary: arm64 needs g++-aarch64-linux-gnu (apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)" >&2; exit 1; }
  export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
  gyp+=(--arch=arm64)
  strip_cmd=aarch64-linux-gnu-strip
fi
(cd "$work/node_modules/node-pty" && "${gyp[@]}" >"$work/node-gyp.log" 2>&1) || { tail -30 "$work/node-gyp.log" >&2; exit 1; }
addon="$work/node_modules/node-pty/build/Release/pty.node"
"$strip_cmd" "$addon"

# 3. the SEA bundle, manifest and config, then the blob (code cache only when the blob's Node is the target's Node)
sea="$cache/sea-$arch"
cc=(); [ "$arch" = "$host_arch" ] && cc=(--code-cache)
node "$root/scripts/build-sea.mjs" --addon "$addon" --out "$sea" --arch "$arch" "${cc[@]}"
"$host_node/bin/node" --experimental-sea-config "$sea/sea-config.json" >/dev/null

# 4. inject into a stripped copy of the official binary (strip first: postject's note lands in a file without symbols)
out="$root/dist/sdv-agent-linux-$arch"
mkdir -p "$root/dist"
rm -f "$out" "$out.tmp"
cp "$target_node/bin/node" "$out.tmp"
"$strip_cmd" "$out.tmp"
# postject warns "Can't find string offset for section name '.note…'" on a stripped binary: harmless, filtered
npx --yes "$POSTJECT" "$out.tmp" NODE_SEA_BLOB "$sea/sea-prep.blob" --sentinel-fuse "$SEA_FUSE" 2>&1 >/dev/null | { grep -v "Can't find string offset" || true; } >&2
chmod 755 "$out.tmp"
mv "$out.tmp" "$out"
size=$(stat -c %s "$out")
echo "built dist/sdv-agent-linux-$arch ($((size / 1024 / 1024)) MiB, Node $NODE_VERSION) in $(( $(date +%s) - t0 )) s"
