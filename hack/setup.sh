#!/usr/bin/env bash
# Installs what building, running and testing ferrokube needs on a fresh Debian machine:
# protoc with the well-known .proto files it imports (libprotobuf-dev; without them the etcd
# client's build fails on google/protobuf/descriptor.proto), etcd (the tests and benchmarks
# start their own etcd), and the container stack: containerd, runc and the CNI plugins (ferrokube starts its own containerd),
# with docker-registry, skopeo, umoci, busybox-static and nginx to build the test images
# (hack/images.sh, run by hack/registry.sh start). ca-certificates lets cargo reach crates.io
# over HTTPS: a minimal Debian (debootstrap's minbase, hack/fresh-check.sh) has no CA roots.
# Safe to run again: it installs only what is missing, and starts no service.
set -euo pipefail

packages=(protobuf-compiler libprotobuf-dev etcd-server pkg-config build-essential curl ca-certificates
  containerd runc containernetworking-plugins docker-registry skopeo umoci busybox-static nginx)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Keep Debian from starting etcd, containerd, the registry or nginx as services: ferrokube
  # and the tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  echo "hack/setup.sh: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "hack/setup.sh: cargo not found; install a Rust toolchain (1.89 or newer) first" >&2
  exit 1
fi
