#!/usr/bin/env bash
# demo.sh starts a Berth server in the background (unless one already answers
# on this data directory), deploys examples/hello and prints its URL.
#   scripts/demo.sh        start and deploy
#   scripts/demo.sh stop   stop the background server
set -euo pipefail
cd "$(dirname "$0")/.."

BERTH=${BERTH:-bin/berth}
export BERTH_DATA=${BERTH_DATA:-/var/lib/berth}
LOG=${BERTH_LOG:-$BERTH_DATA/server.log}

if [ "${1:-}" = stop ]; then
  if [ -f "$BERTH_DATA/server.json" ]; then
    pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$BERTH_DATA/server.json")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && echo "stopped berth server (pid $pid)"
  fi
  exit 0
fi

echo "building the demo app (a static Go binary in a FROM scratch image)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o examples/hello/hello ./examples/hello

if ! "$BERTH" apps >/dev/null 2>&1; then
  mkdir -p "$BERTH_DATA"
  echo "starting berth server in the background (data $BERTH_DATA, log $LOG)"
  nohup "$BERTH" server >>"$LOG" 2>&1 &
  for _ in $(seq 1 100); do
    "$BERTH" apps >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! "$BERTH" apps >/dev/null 2>&1; then
    echo "berth server did not come up; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
fi

"$BERTH" deploy examples/hello
url=$("$BERTH" status hello -o json | grep -o '"url": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
echo
echo "first request (cold start):"
curl -sS -D - "$url" | grep -Ei '^(HTTP|berth-cold-start)|hello' || true
echo
echo "Demo app is up: $url"
echo "Try: curl $url    |  bin/berth status hello  |  bin/berth logs hello  |  make demo-stop"
