#!/usr/bin/env bash
# Sets everything up and runs the cluster: `ferrokube server` with its data in ./ferrokube-data.
# Extra arguments go to `ferrokube server`, e.g. `hack/run.sh --datastore-endpoint http://127.0.0.1:2379`.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
# The local registry with the images `--image=nginx` and `--image=busybox` resolve to offline
# (it keeps running; `hack/registry.sh stop` stops it).
hack/registry.sh start
cargo build --release -p ferrokube
exec "${CARGO_TARGET_DIR:-target}/release/ferrokube" server "$@"
