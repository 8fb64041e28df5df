#!/usr/bin/env bash
# h2spec.sh runs h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance
# suite) against a locally started berth server's gateway: its plain listener
# (h2c, prior knowledge) and its TLS listener (h2 by ALPN, self-signed
# certificate). The app behind is the test app, so the gateway proxies every
# h2spec request to a real instance. Summaries go to stdout; full reports to
# $OUT (default bench/out/h2spec).
#   bench/h2spec.sh
set -euo pipefail
cd "$(dirname "$0")/.."

H2SPEC_VERSION=v2.2.1+incompatible
OUT=${OUT:-bench/out/h2spec}
mkdir -p "$OUT"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -n "${owner:-}" ]; then
    ids=$(docker ps -aq --filter "label=dev.berth.owner=$owner")
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh
GOBIN="$work/bin" GOFLAGS= go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION"
go build -o "$work/berth" ./cmd/berth
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/app/testapp" ./test/images/testapp
printf 'FROM scratch\nCOPY testapp /testapp\nENTRYPOINT ["/testapp"]\n' >"$work/app/Dockerfile"
# h2spec sends no Host other than the address it dials, so the app takes
# every path on every host.
printf 'name: h2spec\nroutes: [{path: /}]\n' >"$work/app/berth.yaml"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

export BERTH_DATA="$work/data"
mkdir -p "$BERTH_DATA"
"$work/berth" server --api 127.0.0.1:0 --http 127.0.0.1:0 --https 127.0.0.1:0 \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --log-level warn 2>"$OUT/server.log" &
pid=$!
for _ in $(seq 1 100); do [ -f "$BERTH_DATA/server.json" ] && break; sleep 0.1; done
info=$(cat "$BERTH_DATA/server.json")
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$info"; }
owner=$(field owner)
plain=$(field gateway); plain=${plain#http://}
tls=$(field gateway_tls); tls=${tls#https://}
"$work/berth" deploy "$work/app" >"$OUT/deploy.log"
curl -sf -o /dev/null "http://$plain/"   # wake the instance once

run() { # name, extra h2spec flags…
  local name=$1; shift
  echo "== h2spec $H2SPEC_VERSION against the $name listener"
  "$work/bin/h2spec" --timeout 5 --junit-report "$OUT/$name.xml" "$@" >"$OUT/$name.txt" 2>&1 || true
  grep -E '^[0-9]+ tests, [0-9]+ passed' "$OUT/$name.txt" || tail -n 5 "$OUT/$name.txt"
  sed -n '/^Failures:/,$p' "$OUT/$name.txt" | grep '×' | sed 's/^ */  failed: /' || true
}
run h2c -h 127.0.0.1 -p "${plain##*:}"
run tls -h 127.0.0.1 -p "${tls##*:}" -t -k
