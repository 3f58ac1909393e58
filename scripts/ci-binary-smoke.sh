#!/usr/bin/env bash
# CI smoke test of the single binary: builds dist/sdv-agent-linux-x64 (unless --no-build), copies it ALONE into an
# empty temp directory and runs it there with an environment whose PATH has no node (and no node_modules anywhere
# near): it must start, answer GET /health with 200, run with the V8 heap limit of scripts/heap-flags.json, deploy and
# run a shell app and a python app through the local API (scripts/binary-app-check.cjs, which runs on the host's
# node), and exit 0 on SIGTERM. Prints the time to the first
# /health 200.
#
#   scripts/ci-binary-smoke.sh [--arch x64|arm64] [--no-build] [--binary FILE] [--no-apps]
#
# --arch arm64 runs the arm64 binary under qemu-aarch64-static (Debian qemu-user-static) with the arm64 loader and
# libc from /usr/aarch64-linux-gnu (Debian libc6-arm64-cross); the apps it starts are host binaries and run natively.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build=1
apps=1
arch=x64
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --no-apps) apps=0; shift ;;
    --arch) arch="${2:?}"; shift 2 ;;
    --binary) binary="${2:?}"; build=0; shift 2 ;;
    *) echo "ci-binary-smoke: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$arch" in x64|arm64) ;; *) echo "ci-binary-smoke: --arch must be x64 or arm64" >&2; exit 2 ;; esac
[ -n "$binary" ] || binary="$root/dist/sdv-agent-linux-$arch"
# postject's "Can't find string offset" warnings are harmless (it adds a note section to a stripped binary)
if [ "$build" = 1 ]; then "$root/scripts/build-binary.sh" --arch "$arch" 2> >(grep -v "Can't find string offset" >&2); fi
runner=()
if [ "$arch" != "$(node -p process.arch)" ]; then
  [ "$arch" = arm64 ] || { echo "ci-binary-smoke: cannot run $arch here" >&2; exit 2; }
  runner=("$(command -v qemu-aarch64-static)" -L /usr/aarch64-linux-gnu)
fi

work="$(mktemp -d /tmp/sdv-smoke-XXXXXX)"
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -KILL "$agent_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cp "$binary" "$work/sdv-agent"
mkdir "$work/bin"   # PATH: the basic tools a box has (mkfifo: app stderr FIFOs), but never node
for tool in sh cat env mkfifo; do ln -s "$(command -v $tool)" "$work/bin/$tool"; done
# the real interpreter, not a pyenv-style shim that needs more of PATH
py="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)"
[ -n "$py" ] && ln -s "$py" "$work/bin/python3" 
kuksa_port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
cat > "$work/config.yaml" <<EOF
runtime:
  name: SmokeBox
  dataDir: ./data
api:
  port: 0
health:
  port: 0
kuksa:
  mode: embedded
  serve: true
  address: 127.0.0.1:$kuksa_port
EOF

cd "$work"
t0=$(date +%s%N)
mkdir -m 0700 "$work/run"   # XDG_RUNTIME_DIR: the binary extracts its assets there, so nothing lands in /tmp
env -i HOME="$work" PATH="$work/bin" XDG_RUNTIME_DIR="$work/run" "${runner[@]}" ./sdv-agent --config "$work/config.yaml" > "$work/agent.log" 2> "$work/agent.err" &
agent_pid=$!

fail() { echo "ci-binary-smoke: FAIL: $*" >&2; echo "--- stdout" >&2; tail -20 "$work/agent.log" >&2; echo "--- stderr" >&2; tail -20 "$work/agent.err" >&2; exit 1; }

# the health port is in the "ready" log line (port 0 = any free port)
port=""
for _ in $(seq 1 1200); do
  ready="$(grep -m1 '"msg":"ready"' "$work/agent.log" || true)"
  port="$(echo "$ready" | sed -n 's/.*"healthPort":\([0-9]*\).*/\1/p')"
  api_port="$(echo "$ready" | sed -n 's/.*"apiPort":\([0-9]*\).*/\1/p')"
  [ -n "$port" ] && break
  kill -0 "$agent_pid" 2>/dev/null || fail "agent exited before ready"
  sleep 0.05
done
[ -n "$port" ] || fail "no ready line within 60 s"

status=""
for _ in $(seq 1 200); do
  # bash's /dev/tcp: no curl needed on the CI image
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    status="$(head -1 <&3 | tr -d '\r')"
    exec 3>&-
    case "$status" in *" 200"*) break ;; esac
  fi
  sleep 0.05
done
t1=$(date +%s%N)
case "$status" in *" 200"*) ;; *) fail "/health answered '$status'" ;; esac
# the name ps, top and systemd show (the SEA's main thread is "MainThread" until the agent sets its title)
comm="$(cat "/proc/$agent_pid/comm" 2>/dev/null || true)"
[ -n "${runner[*]}" ] || [ "$comm" = sdv-agent ] || fail "process name is '$comm', not sdv-agent"
echo "ci-binary-smoke: $arch: /health 200 after $(( (t1 - t0) / 1000000 )) ms${runner:+ under qemu} (binary $(( $(stat -c %s "$work/sdv-agent") / 1024 / 1024 )) MiB, PATH without node)"

# the V8 heap limit the binary carries for a box (scripts/heap-flags.json, the SEA's execArgv), not the build host's
node "$root/scripts/binary-app-check.cjs" "ws://127.0.0.1:$api_port/runtime" heap 60000 || fail "heap limit"
if [ "$apps" = 1 ]; then
  node "$root/scripts/binary-app-check.cjs" "ws://127.0.0.1:$api_port/runtime" shell 60000 || fail "shell app"
  if [ -n "$py" ]; then node "$root/scripts/binary-app-check.cjs" "ws://127.0.0.1:$api_port/runtime" python 60000 || fail "python app"; fi
fi
# kuksa gRPC: checked whenever the build serves it (the signals part opens the port before "ready")
if { exec 4<>"/dev/tcp/127.0.0.1/$kuksa_port"; } 2>/dev/null; then
  exec 4>&-
  node "$root/scripts/binary-app-check.cjs" "127.0.0.1:$kuksa_port" kuksa 30000 || fail "kuksa gRPC"
else
  echo "ci-binary-smoke: kuksa gRPC: nothing listens on 127.0.0.1:$kuksa_port in this build (signals part not wired) - not checked"
fi

kill -TERM "$agent_pid"
code=0; wait "$agent_pid" || code=$?
agent_pid=""
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
grep -q '"msg":"stopped"' "$work/agent.log" || fail "no 'stopped' log line"
# a tampered extracted addon is replaced from the binary on the next start, never loaded
addon="$(ls "$work"/run/sdv-agent-*/native/pty.node)" || fail "no extracted addon under XDG_RUNTIME_DIR"
good="$(sha256sum < "$addon")"
echo tampered > "$addon"
env -i HOME="$work" PATH="$work/bin" XDG_RUNTIME_DIR="$work/run" "${runner[@]}" ./sdv-agent --version >/dev/null || fail "--version after tampering"
[ "$(sha256sum < "$addon")" = "$good" ] || fail "tampered addon was not restored"
echo "ci-binary-smoke: $arch OK"
