# quadrature — build, test and demo. Every target does its own set-up
# (Debian packages and Go modules via deploy/deps.sh) so it works on a fresh
# Debian machine as root.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 10s
# Package timeout for the integration suite (namespaces, real peers).
TEST_TIMEOUT ?= 20m

.PHONY: all build deps lint unit test race fuzz vmtest vmbench demo bench clean

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
# detector, short fuzzing, IPVS in the VM.
test: deps lint build
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz
	bash lvs/vmtest/run.sh

fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz

vmtest: deps
	bash lvs/vmtest/run.sh

vmbench: deps
	bash lvs/vmtest/run.sh -bench

demo: deps build
	bash deploy/demo.sh

clean:
	rm -rf bin
