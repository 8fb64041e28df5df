#!/usr/bin/env bash
# Gateway throughput and latency against nginx and going direct, in one run
# (docs/benchmarks.md, "Gateway throughput and latency"). Installs wrk, nginx
# and h2load (nghttp2-client) from Debian if they are missing.
#
#   bash bench/gateway.sh                  # make bench-gateway
#   BENCH_ROUNDS=5 BENCH_DURATION=15s bash bench/gateway.sh
#   BENCH_PROFILE=/tmp/gw.pprof bash bench/gateway.sh   # + a CPU profile of the gateway
#   BENCH_HOLD=10m bash bench/gateway.sh                # set up, print the targets, wait
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if ((${#missing[@]})); then
	echo "installing ${missing[*]}" >&2
	sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
exec go test -run '^$' -bench '^BenchmarkGateway$' -benchtime 1x -timeout 60m -v ./bench/gateway
