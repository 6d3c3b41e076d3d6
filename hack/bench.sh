#!/usr/bin/env bash
# Runs the benchmarks and rewrites their tables in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
cargo bench -p ferrokube-store --bench store
cargo bench -p ferrokube-apiserver --bench http
cargo bench -p ferrokube --bench deployment
cargo bench -p ferrokube --bench scheduler
# The kubelet benchmark runs real containers: images from the local registry.
hack/registry.sh start
trap 'hack/registry.sh stop' EXIT
cargo bench -p ferrokube --bench kubelet
