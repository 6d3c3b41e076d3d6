#!/usr/bin/env bash
# Checks the shipped binary, what `cargo build --release -p ferrokube` and hack/run.sh make: it
# is at most 30 MB, its hidden `panic` subcommand stays out of --help, and a panic prints where
# it happened (`panicked at FILE:LINE:COLUMN`, compiled in) and, with RUST_BACKTRACE=1, a
# backtrace whose frames are named (ferrokube::panic_on_purpose among them).
# Usage: hack/check-binary.sh [BINARY] (default: the release binary under CARGO_TARGET_DIR or target/)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-${CARGO_TARGET_DIR:-target}/release/ferrokube}
limit=30000000

fail() {
  echo "hack/check-binary.sh: FAILED: $*" >&2
  exit 1
}

[ -x "$binary" ] || fail "no binary at $binary"

size=$(stat -c %s "$binary")
((size <= limit)) || fail "$binary is $size bytes, over the $limit-byte limit"
echo "hack/check-binary.sh: $binary is $size bytes (limit $limit)"

if "$binary" --help | grep -qw panic; then
  fail "ferrokube --help lists the hidden panic subcommand"
fi

status=0
output=$(RUST_BACKTRACE=1 "$binary" panic 2>&1) || status=$?
((status == 101)) || fail "ferrokube panic exited $status, not 101 (a panic): $output"
location=$(grep -o 'panicked at crates/ferrokube/src/main.rs:[0-9]*:[0-9]*' <<<"$output") ||
  fail "the panic does not say where it happened: $output"
grep -q '^ *[0-9]*: ferrokube::panic_on_purpose$' <<<"$output" ||
  fail "the backtrace does not name ferrokube::panic_on_purpose: $output"
echo "hack/check-binary.sh: a panic prints '$location' and a backtrace with named frames"
