# VytalWatch build, test and benchmark targets. Every target installs what
# it needs, so a fresh clone on Debian with Go runs them directly.

GO ?= go
BIN := bin/vytalwatch
STATICCHECK_VERSION := v0.8.2
# Arguments for `make run`, for example RUN_ARGS="--once --summary s.json".
RUN_ARGS ?=

.PHONY: all deps build run test test-short lint bench chaos clean

all: build

# Go modules, and the PostgreSQL server binaries from which the demo and
# the tests start a private cluster (installed with apt-get when missing).
deps:
	$(GO) mod download
	bash .ci/install-postgres.sh

build:
	$(GO) build -o $(BIN) ./cmd/vytalwatch

# The main job: the demo on the bundled MIMIC-III data. It prints the
# summary once the input is processed, then serves the API on
# 127.0.0.1:8080 and keeps running until Ctrl-C.
run: deps build
	$(BIN) demo $(RUN_ARGS)

test: deps
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: deps
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Benchmarks: throughput end to end through the embedded broker and of
# the engine alone, with peak memory. Results go to bench/RESULTS.md.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...
	$(BIN) bench --out bench/RESULTS.md

# Two engine instances killed with SIGKILL at random points (10 kills) and
# the broker restarted once during a replay of the MIMIC data, compared
# with an uninterrupted run. Pass SEED=N to repeat a schedule.
chaos: build
	$(BIN) chaos --kills 10 $(if $(SEED),--seed $(SEED))

clean:
	rm -rf bin
