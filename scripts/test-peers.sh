#!/usr/bin/env bash
# Installs the real third-party peers the tests drive, once; a second run finds them and returns at once.
#   .peers/venv   a Python venv with grpcio (the Velocitas SDK's one compiled dependency) and paho-mqtt, from pip's
#                 configured package index. The SDK itself is ../shared/peers/velocitas-python (put on PYTHONPATH).
#   mosquitto, mosquitto-clients   Debian's MQTT broker and clients (peers of the embedded broker, and its benchmark
#                 baseline).
# Tests never skip when a peer is missing: they fail and name this script.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.peers/venv
want_py() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import grpc, paho.mqtt' 2>/dev/null; }
if ! want_py; then
  echo "test-peers: creating $VENV (grpcio, paho-mqtt)"
  python3 -m venv "$VENV"
  # --retries/--timeout: an unreachable default index must not cost minutes before the configured extra index answers.
  log=$(mktemp)
  if ! "$VENV/bin/pip" install --disable-pip-version-check --retries 1 --timeout 10 grpcio paho-mqtt >"$log" 2>&1 || ! want_py; then
    cat "$log" >&2; echo "test-peers: grpcio / paho-mqtt did not install into $VENV" >&2; exit 1
  fi
  rm -f "$log"
fi
missing=()
for cmd in mosquitto:mosquitto mosquitto_pub:mosquitto-clients mosquitto_sub:mosquitto-clients; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${cmd%%:*}" ] || missing+=("${cmd##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "test-peers: install as root: apt-get install ${missing[*]}" >&2; exit 1; fi
  echo "test-peers: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
