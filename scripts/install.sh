#!/usr/bin/env bash
# Installs the sdv-agent single binary as a systemd service, or removes it again. Idempotent both ways.
#
#   scripts/install.sh [--binary FILE] [--prefix P] [--destdir D] [--no-start]
#   scripts/install.sh --uninstall [--prefix P] [--destdir D]
#
# Installs  $D$P/bin/sdv-agent                      (default FILE: dist/sdv-agent-linux-<this machine's arch>)
#           $D/etc/systemd/system/sdv-agent.service (ExecStart's binary rewritten to $P/bin/sdv-agent)
#           $D/etc/sdv-agent/config.yaml            (from config.example.yaml; an existing one is never overwritten)
#           the system user and group sdv-agent     (skipped under --destdir: that is a staging tree, not this host)
# Default prefix /usr/local. Without --destdir, as root and with systemd running it also runs daemon-reload, enable
# and restart (restart unless --no-start). --uninstall stops and disables the service and removes binary and unit;
# it keeps the config, the data (/var/lib/sdv-agent) and the user, so a reinstall picks up where it left off.
#
#   --sdk SRC   also provision the Velocitas SDK (velocitas-sdk==$SDK_VERSION) into the agent's packages folder
#               ($D/var/lib/sdv-agent/python-packages, or --packages-dir DIR; what packages.dir names), with
#               `--python PY -m pip install --target` (default python3): SRC is a folder of wheels (offline: pip
#               --no-index --find-links SRC, the SDK and its dependencies must be there), a source folder of the SDK
#               (one with pyproject.toml or setup.py), or `pypi` (the index, where reachable). Alone with --sdk-only.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/usr/local
destdir=""
binary=""
uninstall=0
start=1
sdk=""
sdk_only=0
packages_dir=/var/lib/sdv-agent/python-packages
python=python3
SDK_VERSION="${SDK_VERSION:-0.14.1}"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a path}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --destdir) destdir="${2:?--destdir needs a path}"; shift 2 ;;
    --destdir=*) destdir="${1#--destdir=}"; shift ;;
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    --uninstall) uninstall=1; shift ;;
    --no-start) start=0; shift ;;
    --sdk) sdk="${2:?--sdk needs a folder of wheels, a source folder or pypi}"; shift 2 ;;
    --sdk-only) sdk_only=1; shift ;;
    --packages-dir) packages_dir="${2:?--packages-dir needs a path}"; shift 2 ;;
    --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute, got '$prefix'" >&2; exit 2 ;; esac
[ -z "$destdir" ] || destdir="$(mkdir -p "$destdir" && cd "$destdir" && pwd)"

bin_path="$prefix/bin/sdv-agent"
unit_path="/etc/systemd/system/sdv-agent.service"
conf_dir="/etc/sdv-agent"
conf_path="$conf_dir/config.yaml"
# systemctl only for the live system, and only where systemd is PID 1
live=0
if [ -z "$destdir" ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then live=1; fi
say() { echo "install.sh: $*"; }

if [ "$uninstall" = 1 ]; then
  if [ "$live" = 1 ]; then
    systemctl disable --now sdv-agent.service 2>/dev/null || true
  fi
  for f in "$destdir$unit_path" "$destdir$bin_path"; do
    if [ -e "$f" ] || [ -L "$f" ]; then rm -f "$f"; say "removed $f"; fi
  done
  [ "$live" = 1 ] && systemctl daemon-reload
  say "kept $destdir$conf_path, /var/lib/sdv-agent and the sdv-agent user"
  exit 0
fi

# The Velocitas SDK into the packages folder, from wheels, a source folder or the index.
provision_sdk() {
  local target="$destdir$packages_dir"
  local args=(-m pip install --target "$target" --upgrade --disable-pip-version-check --no-input --no-color)
  if [ "$sdk" = pypi ]; then
    args+=(-- "velocitas-sdk==$SDK_VERSION"); from="the package index"
  elif [ -d "$sdk" ] && { [ -f "$sdk/pyproject.toml" ] || [ -f "$sdk/setup.py" ]; }; then
    args+=(-- "$(cd "$sdk" && pwd)"); from="the source folder $sdk"
  elif [ -d "$sdk" ] && compgen -G "$sdk/*.whl" >/dev/null; then
    args+=(--no-index --find-links "$(cd "$sdk" && pwd)" -- "velocitas-sdk==$SDK_VERSION"); from="the wheels in $sdk"
  else
    echo "install.sh: --sdk $sdk: not a folder of wheels (*.whl), a source folder (pyproject.toml or setup.py) or pypi" >&2; exit 2
  fi
  install -d -m 0755 "$target"
  say "installing the Velocitas SDK from $from into $target"
  PIP_ROOT_USER_ACTION=ignore "$python" "${args[@]}" || { echo "install.sh: the Velocitas SDK was not installed (pip failed; see above)" >&2; exit 1; }
  if [ -z "$destdir" ] && [ "$(id -u)" = 0 ] && getent group sdv-agent >/dev/null; then chown -R sdv-agent:sdv-agent "$target"; fi
  say "installed the Velocitas SDK into $target"
}
if [ -n "$sdk" ] && [ "$sdk_only" = 1 ]; then provision_sdk; exit 0; fi

if [ -z "$binary" ]; then
  case "$(uname -m)" in x86_64) a=x64 ;; aarch64|arm64) a=arm64 ;; *) a="$(uname -m)" ;; esac
  binary="$root/dist/sdv-agent-linux-$a"
fi
[ -f "$binary" ] || { echo "install.sh: no binary at $binary (run scripts/build-binary.sh first, or pass --binary)" >&2; exit 1; }

# binary: copy to a temp name and rename, so a running service never sees a half-written file
install -d -m 0755 "$destdir$prefix/bin"
install -m 0755 "$binary" "$destdir$bin_path.new"
mv -f "$destdir$bin_path.new" "$destdir$bin_path"
say "installed $destdir$bin_path"

# unit, pointing at the chosen prefix
install -d -m 0755 "$destdir/etc/systemd/system"
sed "/^ExecStart=/s| /usr/local/bin/sdv-agent --config | $bin_path --config |" "$root/systemd/sdv-agent.service" > "$destdir$unit_path.new"
chmod 0644 "$destdir$unit_path.new"
mv -f "$destdir$unit_path.new" "$destdir$unit_path"
say "installed $destdir$unit_path"

# service user (system account, no login, no home)
if [ -z "$destdir" ]; then
  if ! getent group sdv-agent >/dev/null; then groupadd --system sdv-agent; say "created group sdv-agent"; fi
  if ! id -u sdv-agent >/dev/null 2>&1; then
    useradd --system --gid sdv-agent --no-create-home --home-dir /var/lib/sdv-agent --shell /usr/sbin/nologin sdv-agent
    say "created user sdv-agent"
  fi
fi

# config: never overwrite; readable by the service group only (it may hold tokens)
install -d -m 0750 "$destdir$conf_dir"
if [ -e "$destdir$conf_path" ]; then
  say "kept existing $destdir$conf_path"
else
  install -m 0640 "$root/config.example.yaml" "$destdir$conf_path"
  say "installed $destdir$conf_path"
fi
if [ -z "$destdir" ] && [ "$(id -u)" = 0 ]; then chgrp sdv-agent "$destdir$conf_dir" "$destdir$conf_path"; fi

[ -z "$sdk" ] || provision_sdk

if [ "$live" = 1 ]; then
  systemctl daemon-reload
  systemctl enable sdv-agent.service
  # restart, not start: a reinstall must replace the running binary
  if [ "$start" = 1 ]; then systemctl restart sdv-agent.service; say "sdv-agent.service enabled and (re)started"; fi
fi
