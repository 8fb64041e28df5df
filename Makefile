# Berth's two front doors: `make demo` and `make test`. Both run
# scripts/setup.sh first, which installs and starts Docker if needed.
GO ?= go
BIN := bin/berth
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all setup build test demo demo-stop unit vet bench-wake bench-gateway bench-controlplane

all: build

setup:
	@bash scripts/setup.sh

# Static (CGO_ENABLED=0): the binary doubles as the network holder image.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/berth

vet:
	$(GO) vet ./...

# The whole suite: unit tests, the driver conformance suite on the real
# engine, and the end-to-end tests that drive the berth binary.
test: setup vet
	$(GO) test -count=1 -timeout 40m ./...

unit:
	$(GO) test -count=1 -short ./...

# Start a server in the background (if none answers) and deploy examples/hello.
demo: setup build
	@bash scripts/demo.sh

demo-stop:
	@bash scripts/demo.sh stop

# Wake latency: Berth's stopped/paused wakes against docker start/unpause by
# hand, alternated in one run (docs/benchmarks.md).
bench-wake: setup
	$(GO) test -run '^$$' -bench Wake -benchtime 1x -v ./bench/wake

# Gateway throughput and latency against nginx and going direct, alternated in
# one run on one warm container (docs/benchmarks.md). Installs wrk, nginx and
# nghttp2-client from Debian if missing.
bench-gateway: setup
	bash bench/gateway.sh

# Control plane at 10,000 apps with the fake driver: route lookup, one
# autoscaler tick over 100,000 instances, store load, heap per idle app.
bench-controlplane:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/controlplane
	$(GO) test -run '^$$' -bench Tick10kApps -benchmem -count 5 ./internal/activator
