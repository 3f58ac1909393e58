# Shared by scripts/test-systemd.sh and scripts/test-container.sh (sourced; $root is the repository).

# The checks boot systems and run containers: root only.
need_root() { [ "$(id -u)" = 0 ] || { echo "$1: must run as root" >&2; exit 1; }; }

# apt_need cmd:package… — installs from Debian the packages whose command is missing (CI starts from a clean machine).
apt_need() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "apt-get install ${missing[*]}" >&2
  apt-get update -qq >&2
  # with Recommends: podman as Debian installs it by default (conmon, catatonit, …)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# dist/sdv-agent-linux-x64, built again unless it is newer than everything it is made from: what ships is what is checked.
fresh_binary() {
  local bin="$root/dist/sdv-agent-linux-x64"
  if [ ! -x "$bin" ] || [ -n "$(find "$root/src" "$root/proto" "$root/resources" "$root/package-lock.json" \
      "$root/scripts/build-binary.sh" "$root/scripts/build-sea.mjs" "$root/scripts/heap-flags.json" -newer "$bin" -print -quit)" ]; then
    "$root/scripts/build-binary.sh" --arch x64 2> >(grep -v "Can't find string offset" >&2) >&2
  fi
  echo "$bin"
}

# run_checks NAME TAPFILE: the rootfs, a fresh binary, then the tap file against them; last line "test-NAME: N s"
# (since the script started: bash's $SECONDS). Returns tap's status.
run_checks() {
  local rootfs status=0
  rootfs="$("$root/scripts/debian-rootfs.sh")"
  fresh_binary >/dev/null
  (cd "$root" && SDV_ROOTFS="$rootfs" npx tap --timeout 900 --jobs 1 --disable-coverage "$2") || status=$?
  echo "test-$1: ${SECONDS} s"
  return "$status"
}
