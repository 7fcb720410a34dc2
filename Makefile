# jetmail — the two commands: `make dev` runs everything, `make test` tests everything.
SHELL := /bin/bash
GO ?= go
PKGS := github.com/jetmail/jetmail/...
BIN := bin/jetmail
# Test timeout per package; the whole suite runs in a few minutes on 2 cores.
TEST_TIMEOUT ?= 20m

.PHONY: dev build test test-race lint bench tools clean

## dev: build jetmail and run every service in one process on an embedded NATS (data in ./data)
dev: build
	$(BIN) dev

## build: build bin/jetmail
build:
	$(GO) build -o $(BIN) ./cmd/jetmail

## test: install what the tests need, then run every test of every module
test: tools
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-race: the tests under the race detector
test-race:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## lint: gofmt and staticcheck
lint:
	@test -z "$$(gofmt -l shared services cmd e2e)" || (gofmt -l shared services cmd e2e; exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

## tools: what the tests need on this machine (see scripts/install-test-deps)
tools:
	@scripts/install-test-deps

clean:
	rm -rf bin
