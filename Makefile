# Threadline: the two front-door commands are `make run` and `make test`.
# Both set up what they need first (scripts/setup.sh): system packages, the
# wails CLI, the frontend's npm packages.

SHELL  := /bin/bash
GO     ?= go
TAGS   := webkit2_41
WAILS  := $(shell $(GO) env GOPATH)/bin/wails
BIN    := build/bin/threadline
ARGS   ?=

export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: run test setup setup-test frontend build test-go test-frontend test-desktop \
        bench soak relay cluster bot screenshot clean

## run: set up this machine, build the desktop app and launch it (ARGS="--demo" for sample data)
run: build
	$(BIN) $(ARGS)

## test: set up this machine and run every test: Go (race), frontend unit, browser e2e, desktop smoke
test: setup-test build
	$(GO) vet -tags $(TAGS) ./...
	THREADLINE_BIN=$(CURDIR)/$(BIN) THREADLINE_REQUIRE_BROWSER=1 \
	  $(GO) test -race -tags $(TAGS) -timeout 30m ./...
	cd frontend && npm test
	scripts/smoke.sh $(BIN)

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

## frontend: the TypeScript the UI talks to Go with, generated from Go (app/tsgen), then the UI's build
frontend: setup
	$(GO) generate ./app/tsgen
	cd frontend && npm run build

## build: the production binary, build/bin/threadline
build: frontend
	$(WAILS) build -s -m -skipbindings -tags $(TAGS) -o threadline

test-go:
	THREADLINE_BIN=$(CURDIR)/$(BIN) $(GO) test -race -tags $(TAGS) ./...

test-frontend:
	cd frontend && npm test

test-desktop: build
	scripts/smoke.sh $(BIN)

## bench: the benchmarks behind the README's figures
bench:
	scripts/bench.sh

## soak: the convergence tests with many seeds and long runs (one relay, and relays on a NATS cluster), and five cluster storms
soak:
	$(GO) test -tags soak -run Soak -count=1 -timeout 60m ./internal/convergence/
	THREADLINE_CLUSTER_SEEDS=5 $(GO) test -run TestClusterStormConverges -count=1 -timeout 30m ./sync/relay/

## relay: a local relay with the development config (examples/relay.json) on 127.0.0.1:8470
relay:
	$(GO) run ./sync/cmd/relay --listen 127.0.0.1:8470 --data .relay-data --config examples/relay.json \
	  --demo-workspace acme --demo-hash

## cluster: on loopback, a three-node NATS JetStream cluster (4222-4224) and two relays sharing it (8471, 8472); Ctrl-C stops all
cluster:
	scripts/cluster.sh

## bot: the example FAQ assistant against `make relay`
bot:
	$(GO) run ./examples/faqbot --relay ws://127.0.0.1:8470 --workspace acme --assistant faq \
	  --token dev-token-faq-0123456789 --faq examples/faqbot/faq.json

## screenshot: docs/screenshot.png, the demo inbox in a real window under Xvfb
screenshot: setup-test build
	SMOKE_DEMO=1 SMOKE_OPEN=1 SMOKE_SHOT=docs/screenshot.png scripts/smoke.sh $(BIN)

clean:
	rm -rf build/bin frontend/dist/assets frontend/dist/index.html
