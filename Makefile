# quadrature — build, test and demo. Every target does its own set-up
# (Debian packages and Go modules via deploy/deps.sh) so it works on a fresh
# Debian machine as root.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 5s
# Package timeout for the integration suite (namespaces, real peers).
TEST_TIMEOUT ?= 20m

.PHONY: all build deps lint unit test fuzz vmtest vmbench demo bench bench-compare bench-long deb clean

all: build

deps:
	@bash deploy/deps.sh

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/quadrature ./cmd/quadrature

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Fast tests only (no root needed; root-only tests skip outside CI).
unit:
	$(GO) test -count=1 ./...

# The full suite: lint, unit + netns integration tests with the race
# detector (one package at a time: the VRRP and cluster tests measure
# timing in namespaces), short fuzzing of every decoder, IPVS in the VM.
test: deps lint build
	$(GO) test -race -count=1 -p 1 -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz
	bash lvs/vmtest/run.sh -tests

fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz

vmtest: deps
	bash lvs/vmtest/run.sh -tests

# IPVS at keepalived scale (2,277 services, 37,205 real servers) against
# ipvsadm -R, in one VM boot.
vmbench: deps
	bash lvs/vmtest/run.sh -bench

# Benchmarks that print figures (a few minutes): checkers, nftables data
# path and apply, raft commit/detection/failover, the agent group.
bench: deps build
	$(GO) test -run '^$$' -bench BenchmarkTCPCheckers -benchtime 1x -cpu 1 ./checks
	$(GO) test -run '^$$' -bench 'ThroughVIP|Apply1000x10' ./lvs/nftables
	QUADRATURE_BENCH=1 $(GO) test -run TestClusterBench -v -timeout 20m ./cluster
	QUADRATURE_BENCH=1 $(GO) test -run TestAgentBench -v -timeout 20m ./agent

# Checkers against keepalived 2.2.7 on the same keepalived.conf, in one run
# (bench/README.md): N = 1,000, 5,000, 10,000 TCP_CHECK and 1,000 HTTP_GET,
# each side pinned to one core for BENCH_DURATION; prints one table.
# BENCH_FLAGS passes more flags (e.g. -n 1000 -http '' -pprof DIR).
BENCH_DURATION ?= 60s
bench-compare: deps build
	CGO_ENABLED=0 $(GO) build -o bin/bench-compare ./bench/compare
	./bin/bench-compare -quadrature bin/quadrature -duration $(BENCH_DURATION) $(BENCH_FLAGS)

# Long benchmarks: VIP takeover against keepalived (~11 min), IPVS in the VM.
bench-long: deps build vmbench
	QUADRATURE_BENCH=1 $(GO) test -run TestTakeoverBench -v -timeout 40m ./vrrp

# The Debian package (dpkg-deb): bin/quadrature_VERSION_ARCH.deb with the
# binary, the systemd unit, man pages, completion and an example config.
deb:
	bash deploy/debian/build.sh bin

demo: deps build
	bash deploy/demo.sh

clean:
	rm -rf bin
