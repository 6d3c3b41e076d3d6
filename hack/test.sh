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
cargo test --workspace --all-targets
