# jetmail — the two commands: `make dev` runs everything, `make test` tests everything.
SHELL := /bin/bash
GO ?= go
PKGS := github.com/jetmail/jetmail/...
BIN := bin/jetmail
# Test timeout per package; the whole suite runs in a few minutes on 2 cores.
TEST_TIMEOUT ?= 20m

.PHONY: dev build test test-race lint bench fuzz soak tools clean

## dev: build jetmail and run every service in one process on an embedded NATS (data in ./data); ARGS="--nats-listen ADDR --http ADDR ..." passes flags on
dev: build
	$(BIN) dev $(ARGS)

# VERSION is the build's version (jetmail --version, the nodes' records, every NATS micro service):
# git describe, or "dev" where git or the history is missing.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/jetmail/jetmail/cmd/internal/cli.Version=$(VERSION)

## build: build bin/jetmail, its version from git describe (VERSION=... overrides)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jetmail

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Tools installed by scripts/install-test-deps come first on the PATH, and the
# e2e tests insist on them rather than skip.
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export JETMAIL_REQUIRE_TOOLS := 1

## test: install what the tests need, check formatting and lint, then run every test of every module
test: tools lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-race: the tests under the race detector
test-race:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## lint: gofmt, go vet and staticcheck
lint:
	@unformatted="$$(gofmt -l shared services cmd e2e)"; if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## tools: what the tests need on this machine (see scripts/install-test-deps)
tools:
	@scripts/install-test-deps

## bench: the benchmarks, each figure printed beside its peer measured in the same run (raw JetStream,
## river on PostgreSQL, Postfix, maddy, bogofilter); the peers are installed by scripts/install-bench-peers.
## The scale benchmarks (memory per item, lateness with items waiting, restart, fail-over) run the NATS
## server and the node as processes of their own and hold BENCH_ITEMS items (default 100000; the 1M
## rows need `make bench BENCH_ITEMS=1000000`, about half an hour more). BENCH_PROFILE=<dir> writes a
## CPU profile of the restarted node there. BENCH=<regexp> picks benchmarks (default all).
BENCH ?= .
BENCH_ITEMS ?= $(or $(JETMAIL_BENCH_ITEMS),100000)
BENCH_PROFILE ?= $(JETMAIL_BENCH_PROFILE)
BENCH_TIMEOUT ?= 120m
bench: tools
	@scripts/install-bench-peers
	JETMAIL_BENCH_ITEMS=$(BENCH_ITEMS) JETMAIL_BENCH_PROFILE=$(BENCH_PROFILE) \
		$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout $(BENCH_TIMEOUT) ./e2e/bench/
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout $(BENCH_TIMEOUT) ./services/calendar/

## soak: the fault tests, SOAK_COUNT times each (default 5): the R3 queue stream's leader killed mid-load,
## NATS down 10 s under load, a delivery node killed mid-batch; each counts accepted, delivered, left and
## duplicated, and asserts no loss, no false DSN, duplicates within what was in flight and recovery within
## 15 s. They run once in `make test`; run this before each release.
SOAK_COUNT ?= 5
soak: tools
	$(GO) test -count=$(SOAK_COUNT) -timeout 60m -run 'TestQueueStreamLeaderKilledMidLoad|TestNATSOutageUnderLoad' ./services/delivery/
	$(GO) test -count=$(SOAK_COUNT) -timeout 60m -run 'TestKillDeliveryMidBatch' ./e2e/

## fuzz: run each fuzz target for FUZZTIME (default 30s): the SMTP session, the JMAP request decoder,
## the strategy expression compiler, the config loader and the spam tokenizer; their seeds run with
## `make test` too
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzSession:./services/smtp/ FuzzProcess:./shared/jmap/ FuzzCompile:./shared/queueexpr/ FuzzParse:./shared/config/ \
	FuzzAnalyze:./shared/spam/
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t%%:*}"; $(GO) test -run '^$$' -fuzz "^$${t%%:*}\$$" -fuzztime $(FUZZTIME) $${t#*:}; \
	done

clean:
	rm -rf bin
