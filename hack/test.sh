#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, then every crate's unit, conformance and
# end-to-end tests. Tests start the services they use (etcd on free loopback ports, containerd)
# and stop them; this script runs the image registry around them.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
# The local registry with the test images, for the tests that run real containers; stopped at
# the end whatever happens.
hack/registry.sh start
trap 'hack/registry.sh stop' EXIT
# One clean run gains nothing from incremental state, which would double what the build writes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "hack/test.sh: free disk for the build: $(df -h --output=avail . | tail -1 | tr -d ' ') (a clean build writes about 2 GiB)"
cargo test --workspace --all-targets
