#!/usr/bin/env bash
# Proves the README's run command on a fresh machine. It makes a minimal Debian bookworm root
# (debootstrap, variant minbase), lends it only the Rust toolchain (read-only), the crates this
# host has downloaded and the certificate authorities this host adds to Debian's, copies HEAD
# into it (git archive), and there runs `hack/run.sh --disable-agent` (setup, build, `ferrokube
# server`) until the server's /readyz answers ok. Then it stops the server and checks the
# release binary it built (hack/check-binary.sh). Whatever happens, it ends what still runs in
# the root, unmounts everything and removes the root. A package missing from hack/setup.sh
# fails the run, and the end of the run's output (the build's error) is printed.
# Needs root and the Debian mirror (the base system and hack/setup.sh's packages are downloaded
# on every run). Usage: hack/fresh-check.sh
# Environment: FRESH_CHECK_MIRROR (default http://deb.debian.org/debian), FRESH_CHECK_TIMEOUT
# (seconds the run may take until /readyz answers, default 3600), FRESH_CHECK_KEEP=1 (keep the
# unmounted root for a look afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

mirror=${FRESH_CHECK_MIRROR:-http://deb.debian.org/debian}
timeout=${FRESH_CHECK_TIMEOUT:-3600}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Paths inside the root: the copy of the repository, cargo's target directory, the server's data.
src=/src/ferrokube
target=/var/tmp/ferrokube-target
data=/tmp/ferrokube-data

work=""   # scratch directory on the host: the root, the logs, the crates' overlay
root=""   # $work/root
mounts=() # mount points, in the order they were mounted
server="" # pid of the chroot that runs hack/run.sh, and then the server it execs
port=""
run_log=""

log() { echo "hack/fresh-check.sh: $*"; }
fail() {
  echo "hack/fresh-check.sh: FAILED: $*" >&2
  exit 1
}

# Installs what this script uses on the host: Debian's debootstrap, and curl.
install_host_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} on this host"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Makes the bare root with debootstrap: no cache of an earlier root, so that nothing a former
# run installed can hide a package that hack/setup.sh lacks.
make_root() {
  local started=$SECONDS
  log "debootstrap --variant=minbase bookworm $root $mirror"
  if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    fail "debootstrap failed"
  fi
  log "bare root made in $((SECONDS - started)) s ($(du -sh "$root" | cut -f1))"
}

# Mounts at $1 in the root (the mount's arguments follow) and records it for unmounting.
mount_in_root() {
  local point=$root$1
  shift
  mkdir -p "$point"
  mount "$@" "$point"
  mounts+=("$point")
}

# Bind-mounts host directory $1 read-only at $2 in the root.
bind_read_only() {
  mount_in_root "$2" --bind "$1"
  mount -o remount,bind,ro "$root$2"
}

# What the root gets from the host: the kernel's file systems, the toolchain read-only, and the
# crates this host downloaded, as an overlay: the root reads them, what it downloads besides
# stays in the root, and the host's cache is never written. Cargo's home in the root,
# /root/.cargo, is the root's own writable directory (index, sources, locks).
mount_host_parts() {
  mount_in_root /proc -t proc proc
  mount_in_root /sys -t sysfs -o ro sysfs
  mount_in_root /dev --bind /dev
  mount_in_root /dev/pts --bind /dev/pts
  bind_read_only "$rustup_home" /root/.rustup
  bind_read_only "$cargo_home/bin" /root/.cargo/bin
  local cache=$cargo_home/registry/cache
  if [ -d "$cache" ]; then
    mkdir -p "$work/crates/upper" "$work/crates/work"
    mount_in_root /root/.cargo/registry/cache -t overlay overlay \
      -o "lowerdir=$cache,upperdir=$work/crates/upper,workdir=$work/crates/work"
  fi
}

# The certificate authorities this host trusts beyond those Debian's ca-certificates ships (a
# proxy's, say, without which this machine reaches no HTTPS site), put where that package's
# update-ca-certificates takes them in: they count only once hack/setup.sh has installed
# ca-certificates, so a setup.sh that lacks it still fails.
lend_extra_authorities() {
  local bundle=/etc/ssl/certs/ca-certificates.crt dest=$root/usr/local/share/ca-certificates
  [ -f "$bundle" ] || return 0
  mkdir -p "$dest"
  find /usr/share/ca-certificates -name '*.crt' -exec cat {} + 2>/dev/null |
    awk -v out="$dest/host-" '
      /-----BEGIN CERTIFICATE-----/ { block = "" }
      { block = block $0 "\n" }
      /-----END CERTIFICATE-----/ {
        if (FILENAME == "-") known[block] = 1
        else if (!(block in known)) { file = out (++lent) ".crt"; printf "%s", block > file; close(file) }
      }
      END { printf "hack/fresh-check.sh: lent %d certificate authorities this host adds to Debian'"'"'s\n", lent }
    ' - "$bundle"
}

# A clean copy of the repository at HEAD, as a fresh clone has it.
copy_repository() {
  mkdir -p "$root$src"
  git archive --format=tar HEAD | tar -x -C "$root$src"
  log "copied HEAD ($(git rev-parse --short HEAD)) to $src in the root"
  git diff --quiet HEAD || log "note: the work tree's uncommitted changes are not in the copy"
}

# A loopback port that nothing listens on.
free_port() {
  local candidate
  for candidate in $(shuf -i 20000-40000 -n 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null || {
      echo "$candidate"
      return
    }
  done
  fail "no free loopback port found"
}

# Prefixes each line read with the seconds since it started reading.
stamp() {
  local started=$SECONDS line
  while IFS= read -r line; do
    printf '[%5ds] %s\n' $((SECONDS - started)) "$line"
  done
}

# Starts the README's run command in the root, in the background, with the environment of a
# fresh login as root; its output goes, stamped, to $run_log.
start_run() {
  if (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; then
    log "note: 127.0.0.1:5000 is taken on this host, so the root's image registry cannot listen there"
  fi
  log "running hack/run.sh --disable-agent --port $port --data-dir $data in the root (output: $run_log)"
  chroot "$root" /usr/bin/env -i HOME=/root USER=root LANG=C.UTF-8 TERM=dumb \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_TARGET_DIR="$target" \
    /bin/bash -c 'cd "$1" && exec hack/run.sh --disable-agent --port "$2" --data-dir "$3"' \
    run "$src" "$port" "$data" > >(stamp >"$run_log") 2>&1 &
  server=$!
}

# The end of the run's output, where a failed install or build says what went wrong.
show_run_log() {
  sleep 1
  echo "---- the last 80 lines of hack/run.sh's output in the root ----" >&2
  tail -n 80 "$run_log" >&2
  echo "----" >&2
}

# Waits until /readyz answers ok. Fails, showing the run's output, if the run ends first or
# takes longer than $timeout seconds.
wait_ready() {
  local started=$SECONDS status
  until [ "$(curl -s --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null)" = ok ]; do
    if ! kill -0 "$server" 2>/dev/null; then
      wait "$server" && status=0 || status=$?
      server=""
      show_run_log
      fail "hack/run.sh ended (exit $status) before /readyz answered ok"
    fi
    if ((SECONDS - started >= timeout)); then
      show_run_log
      fail "/readyz did not answer ok within $timeout s"
    fi
    sleep 2
  done
  log "/readyz answered ok $((SECONDS - started)) s after hack/run.sh started"
}

# Stops the server as a user would, with SIGTERM; it must exit, with status 0, within 30 s.
stop_server() {
  local status
  kill -TERM "$server"
  for _ in $(seq 60); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$server" 2>/dev/null; then
    fail "the server did not stop within 30 s of SIGTERM"
  fi
  wait "$server" && status=0 || status=$?
  server=""
  ((status == 0)) || fail "the server exited with status $status on SIGTERM"
  log "the server stopped on SIGTERM"
}

# How long the run's phases took, read from the stamps of its output: setup (apt) and the
# image registry until cargo's first line, then cargo until it finished.
report_timings() {
  awk '
    function at(line) { return substr(line, 2, 6) + 0 }
    !build && /(Updating crates.io index|Compiling |Downloading crates)/ { build = at($0) }
    /Finished `release` profile/ { done = at($0) }
    END { printf "hack/fresh-check.sh: setup and registry %d s, release build %d s\n", build, done - build }
  ' "$run_log"
}

# Checks, in the root, the release binary the run built: its size and what a panic prints.
check_binary() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    "$src/hack/check-binary.sh" "$target/release/ferrokube"
}

# Ends, by pid, every process still running in the root (the image registry that
# hack/run.sh leaves running, a server that did not stop): SIGTERM, then SIGKILL after 5 s.
end_root_processes() {
  local pids=() pid
  for pid in /proc/[0-9]*; do
    [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && pids+=("${pid#/proc/}")
  done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  sleep 0.5
}

# Unmounts in the reverse order of mounting; a busy mount is detached (lazily unmounted).
unmount_all() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}"
  done
  mounts=()
}

# Runs at exit, whatever happened: nothing keeps running in the root, nothing stays mounted,
# and the root is removed only once nothing is mounted in it (removing through a mount of /dev
# or of the toolchain would delete the host's files).
cleanup() {
  local status=$?
  set +e
  [ -n "$work" ] || exit "$status"
  end_root_processes
  unmount_all
  if awk '{ print $2 }' /proc/self/mounts | grep -q "^$work/"; then
    echo "hack/fresh-check.sh: FAILED: still mounted under $work; not removing it" >&2
    exit 1
  fi
  if [ "${FRESH_CHECK_KEEP:-}" = 1 ]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}

main() {
  [ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, chroot, mount)"
  local started=$SECONDS
  install_host_tools
  work=$(mktemp -d /var/tmp/ferrokube-fresh.XXXXXX)
  root=$work/root
  run_log=$work/run.log
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  make_root
  mount_host_parts
  lend_extra_authorities
  copy_repository
  port=$(free_port)
  start_run
  wait_ready
  stop_server
  report_timings
  check_binary
  log "passed in $((SECONDS - started)) s"
}

main "$@"
