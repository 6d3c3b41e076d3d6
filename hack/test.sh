#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, then every crate's unit, conformance and
# end-to-end tests. Tests start the services they use (etcd on free loopback ports) and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
cargo test --workspace --all-targets
