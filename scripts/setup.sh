#!/usr/bin/env bash
# setup.sh makes sure a Docker engine is installed and running, and that
# gVisor's runsc is installed and registered with it as the runtime "runsc"
# (for apps with `isolation: gvisor`). It is idempotent and fast when all is
# done: called by `make demo` and `make test` (and so by CI) on every run.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

DAEMON_JSON=${DAEMON_JSON:-/etc/docker/daemon.json}
DOCKERD_LOG=/var/log/berth-dockerd.log

# runsc_registered reports whether the running engine knows the runtime.
runsc_registered() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

if docker info >/dev/null 2>&1 && runsc_registered && command -v runsc >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "docker is not reachable or runsc is not registered, and this is not root; see scripts/setup.sh"
  exit 1
fi

pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
command -v runsc >/dev/null 2>&1 || pkgs+=(runsc)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing Debian's ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# Register runsc in daemon.json, keeping whatever else is there. runsc's own
# network stack does not work on every kernel, so it uses the host's
# (--network=host: the container's network namespace, as with runc).
mkdir -p "$(dirname "$DAEMON_JSON")"
changed=$(python3 - "$DAEMON_JSON" "$(command -v runsc)" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        text = f.read()
    cfg = json.loads(text) if text.strip() else {}
except FileNotFoundError:
    cfg = {}
except json.JSONDecodeError as e:
    sys.exit(f"setup: {path} is not valid JSON ({e}); fix it, then run scripts/setup.sh again")
if not isinstance(cfg, dict) or not isinstance(cfg.get("runtimes", {}), dict):
    sys.exit(f'setup: {path} must be a JSON object whose "runtimes" is an object')
want = {"path": runsc, "runtimeArgs": ["--network=host"]}
runtimes = cfg.setdefault("runtimes", {})
if runtimes.get("runsc") == want:
    print("no")
else:
    runtimes["runsc"] = want
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print("yes")
PY
)
[ "$changed" = yes ] && log "registered runsc in $DAEMON_JSON"

wait_docker() {
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "dockerd did not become ready in 60s; see $DOCKERD_LOG"
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  return 1
}

start_dockerd() {
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  nohup dockerd >>"$DOCKERD_LOG" 2>&1 &
}

if ! pgrep -x dockerd >/dev/null 2>&1; then
  start_dockerd
fi
wait_docker

if ! runsc_registered; then
  # The runtimes are among the options dockerd reloads on SIGHUP, which keeps
  # running containers (other users of the engine) undisturbed. If the
  # reload does not take, restart dockerd.
  pid=$(pgrep -xo dockerd)
  log "reloading dockerd (pid $pid) to pick up $DAEMON_JSON"
  kill -HUP "$pid"
  for _ in $(seq 1 20); do
    runsc_registered && break
    sleep 0.25
  done
  if ! runsc_registered; then
    log "reload did not register runsc; restarting dockerd (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd (pid $pid) did not exit in 60s"
      exit 1
    fi
    start_dockerd
    wait_docker
  fi
  runsc_registered || { log "dockerd does not list the runsc runtime; see $DAEMON_JSON and $DOCKERD_LOG"; exit 1; }
fi
log "docker is ready (runtimes: $(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'))"
