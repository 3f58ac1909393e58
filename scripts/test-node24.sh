#!/usr/bin/env bash
# The suite's unit tier and a smoke run of the bundle on Node 24 — the Node the single binary embeds and the newest
# supported line — beside the machine's own Node, on which npm test runs everything. Uses what scripts/build-binary.sh
# leaves in .cache/ (run it first; .ci/run's binary smoke does): the official Node 24 from the npm registry and
# node-pty compiled against it. The bundle runs from a scratch layout whose node_modules has that node-pty, so nothing
# of the checkout's node_modules (built for the machine's Node) changes. Ends with tap's summary line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(sed -n 's/^NODE_VERSION=//p' "$root/scripts/build-binary.sh")"
arch="$(node -p process.arch)"
node24="$root/.cache/node/$arch-$version/package/bin"
pty="$root/.cache/build-$arch/node_modules"
[ -x "$node24/node" ] && [ -f "$pty/node-pty/build/Release/pty.node" ] \
  || { echo "test-node24: Node $version or its node-pty build is missing: run scripts/build-binary.sh first" >&2; exit 1; }

# the bundle under test: the binary's build bundles into its own folder, so a clean clone has no dist/sdv-agent.js yet
node "$root/scripts/build.mjs" --if-stale
work="$(mktemp -d /tmp/sdv-node24-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/dist"
cp "$root/dist/sdv-agent.js" "$work/dist/"
ln -s "$root/resources" "$work/resources"
ln -s "$root/proto" "$work/proto"
ln -s "$pty" "$work/node_modules"
cd "$root"
status=0
PATH="$node24:$PATH" SDV_AGENT_TEST_BUNDLE="$work/dist/sdv-agent.js" \
  "$node24/node" node_modules/.bin/tap --disable-coverage test/unit.test.ts test/foundation-smoke.test.ts test/local-adhoc.test.ts \
  || status=$?
echo "test-node24: $("$node24/node" --version), ${SECONDS} s"
exit "$status"
