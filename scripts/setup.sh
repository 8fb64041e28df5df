#!/usr/bin/env bash
# setup.sh makes sure a Docker engine is installed and running. It is idempotent:
# called by `make demo` and `make test` (and so by CI) on every run.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "docker is not reachable and this is not root; start dockerd yourself"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/berth-dockerd.log)"
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    log "docker is ready"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not become ready in 60s; see /var/log/berth-dockerd.log"
tail -n 20 /var/log/berth-dockerd.log >&2 || true
exit 1
