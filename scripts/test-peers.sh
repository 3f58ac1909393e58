#!/usr/bin/env bash
# Installs the real third-party peers the tests drive, once; a second run finds them and returns at once. Everything
# it makes is under .peers/ (git-ignored); tests find their peers there and nowhere else.
#   .peers/velocitas-python  the Velocitas Python SDK 0.14.1 and its pure-Python dependencies (put on PYTHONPATH),
#                 copied from the first of: $SDV_TEST_VELOCITAS_DIR (a folder laid out as site-packages, with
#                 velocitas_sdk/ in it), ../shared/peers/velocitas-python beside the clone, or
#                 `pip install velocitas-sdk==0.14.1` from pip's configured index. A copy, so that Python's
#                 __pycache__ never lands in the source folder.
#   .peers/venv   a Python venv with grpcio (the SDK's one compiled dependency) and paho-mqtt, from pip's index.
#   mosquitto, mosquitto-clients, prlimit (util-linux), systemd-analyze (systemd), g++, cmake, rustc, cargo, openssl
#                 Debian packages the tests drive (peers of the embedded MQTT broker, the resource-limit and unit
#                 checks, the C++ and Rust builds), installed with apt-get when missing and this runs as root.
# Tests never skip when a peer is missing: this script stops the run before any test, naming what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=.peers
SDK="$PEERS/velocitas-python"
SDK_VERSION=0.14.1
VENV="$PEERS/venv"
mkdir -p "$PEERS"

fail() { printf 'test-peers: %s\n' "$@" >&2; exit 1; }

# --- the Velocitas SDK -------------------------------------------------------------------------------------------
sdk_ok() { [ -f "$1/velocitas_sdk/__init__.py" ] && [ -d "$1/velocitas_sdk-$SDK_VERSION.dist-info" ]; }
copy_sdk() { # copy_sdk FROM WHAT
  rm -rf "$SDK.new" && mkdir -p "$SDK.new"
  cp -a "$1/." "$SDK.new/"
  find "$SDK.new" -name __pycache__ -type d -prune -exec rm -rf {} +
  printf '%s\n' "$2" > "$SDK.new/.source"
  rm -rf "$SDK" && mv "$SDK.new" "$SDK"
  echo "test-peers: Velocitas SDK $SDK_VERSION from $2"
}
want_source=""
if [ -n "${SDV_TEST_VELOCITAS_DIR:-}" ]; then
  sdk_ok "$SDV_TEST_VELOCITAS_DIR" || fail "SDV_TEST_VELOCITAS_DIR=$SDV_TEST_VELOCITAS_DIR holds no velocitas_sdk $SDK_VERSION (velocitas_sdk/ and velocitas_sdk-$SDK_VERSION.dist-info/ expected, as in site-packages)"
  want_source="$(cd "$SDV_TEST_VELOCITAS_DIR" && pwd)"
elif sdk_ok ../shared/peers/velocitas-python; then
  want_source="$(cd ../shared/peers/velocitas-python && pwd)"
fi
have_source="$(cat "$SDK/.source" 2>/dev/null || true)"
if [ -n "$want_source" ]; then
  { sdk_ok "$SDK" && [ "$have_source" = "$want_source" ]; } || copy_sdk "$want_source" "$want_source"
elif ! sdk_ok "$SDK"; then
  log=$(mktemp)
  echo "test-peers: pip install velocitas-sdk==$SDK_VERSION into $SDK"
  rm -rf "$SDK.pip"
  if python3 -m pip install --disable-pip-version-check --no-warn-script-location --retries 1 --timeout 15 \
       --target "$SDK.pip" "velocitas-sdk==$SDK_VERSION" >"$log" 2>&1 && sdk_ok "$SDK.pip"; then
    # grpcio is compiled for one Python: the tests' venv brings its own.
    rm -rf "$SDK.pip"/grpc "$SDK.pip"/grpcio-*.dist-info "$SDK.pip/bin"
    copy_sdk "$SDK.pip" "pip (velocitas-sdk==$SDK_VERSION)"
    rm -rf "$SDK.pip" "$log"
  else
    tail -3 "$log" >&2; rm -rf "$SDK.pip" "$log"
    fail "the Velocitas Python SDK $SDK_VERSION was not found. The tests run real Velocitas apps against the agent; give them the SDK in one of three ways:" \
      "  1. SDV_TEST_VELOCITAS_DIR=<folder>  a folder laid out as site-packages with velocitas_sdk $SDK_VERSION and its pure-Python dependencies" \
      "  2. ../shared/peers/velocitas-python beside this clone (the same layout)" \
      "  3. a pip index that has velocitas-sdk==$SDK_VERSION (pip install reached none here)"
  fi
fi

# --- the peer Python venv ----------------------------------------------------------------------------------------
want_py() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import grpc, paho.mqtt' 2>/dev/null; }
if ! want_py; then
  echo "test-peers: creating $VENV (grpcio, paho-mqtt)"
  python3 -m venv "$VENV"
  # --retries/--timeout: an unreachable default index must not cost minutes before the configured extra index answers.
  log=$(mktemp)
  if ! "$VENV/bin/pip" install --disable-pip-version-check --retries 1 --timeout 10 grpcio paho-mqtt >"$log" 2>&1 || ! want_py; then
    cat "$log" >&2; rm -f "$log"; fail "grpcio / paho-mqtt did not install into $VENV (pip's configured index must have them)"
  fi
  rm -f "$log"
fi

# --- Debian tools ------------------------------------------------------------------------------------------------
missing=()
for cmd in mosquitto:mosquitto mosquitto_pub:mosquitto-clients mosquitto_sub:mosquitto-clients prlimit:util-linux \
    systemd-analyze:systemd g++:g++ cmake:cmake rustc:rustc cargo:cargo openssl:openssl promtool:prometheus; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${cmd%%:*}" ] || [ -x "/usr/bin/${cmd%%:*}" ] || missing+=("${cmd##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "install as root: apt-get install ${missing[*]}"
  echo "test-peers: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
