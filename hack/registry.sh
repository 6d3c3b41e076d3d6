#!/usr/bin/env bash
# Starts or stops the local image registry (Debian's docker-registry) on 127.0.0.1:5000, with
# its storage in /var/lib/ferrokube-registry, and fills it with the test images.
# Usage: hack/registry.sh start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
address=127.0.0.1:5000
state=/var/lib/ferrokube-registry
pidfile=/run/ferrokube-registry.pid

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
start)
  if ! running; then
    mkdir -p "$state"
    cat >"$state/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/data
http:
  addr: $address
CONFIG
    docker-registry serve "$state/config.yml" >"$state/registry.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 50); do
      curl -sf "http://$address/v2/" >/dev/null && break
      sleep 0.1
    done
    curl -sf "http://$address/v2/" >/dev/null || { echo "registry did not start: $(cat "$state/registry.log")" >&2; exit 1; }
  fi
  hack/images.sh "$address"
  ;;
stop)
  if running; then
    kill "$(cat "$pidfile")"
  fi
  rm -f "$pidfile"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
