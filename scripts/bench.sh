#!/usr/bin/env bash
# bench.sh — every benchmark behind the README's Figures, in one run. Benchmarks measure;
# tests assert: nothing here fails on a slow figure, it prints it.
#
# The first run generates a store of 100,000 conversations and 2,000,000 timeline items
# (1.5–2.5 min, cached under ${XDG_CACHE_HOME:-~/.cache}/threadline-bench, ~600 MB).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n== %s\n' "$*"; }

section "device store: 100k conversations, 2M items — (a) first page, (b) open, (c) durable actions, (d) memory"
THREADLINE_REPORT=1 go test -count=1 -run TestReportFigures -v ./backend/store/ | grep -v '^=== RUN'
go test -count=1 -run '^$' -bench 'BenchmarkInboxFirstPage|BenchmarkTimelinePage|BenchmarkLocalAction' -benchmem ./backend/store/

section "relay: latency at 1,000 events/s, durable throughput with 100 pushers, catch-up, memory per idle connection"
# Each relay line runs once per log: embedded Badger, JetStream R1 (one nats-server,
# sync_interval: always) and JetStream R3 (three nats-servers on loopback).
relay_logs=badger,jetstream,jetstream-r3
THREADLINE_RELAY_LOGS=$relay_logs go test -count=1 -timeout 30m -run '^$' -bench 'BenchmarkLatency' -benchtime 20000x ./sync/relay/
THREADLINE_RELAY_LOGS=$relay_logs go test -count=1 -timeout 30m -run '^$' -bench 'BenchmarkThroughput' -benchtime 300000x ./sync/relay/
THREADLINE_RELAY_LOGS=$relay_logs go test -count=1 -timeout 30m -run '^$' -bench 'BenchmarkCatchUp' -benchtime 1x ./sync/relay/
THREADLINE_RELAY_LOGS=badger go test -count=1 -run '^$' -bench 'BenchmarkIdleConnections' -benchtime 1x ./sync/relay/

section "JetStream alone, the relay's baseline: publish-to-consume at 1,000 msgs/s, 100 synchronous publishers (R1, R3)"
go test -count=1 -run '^$' -bench 'BenchmarkJetStreamPeer' -benchtime 20000x ./sync/eventlog/

section "a new relay joining a JetStream workspace of 1,000,000 events (filling it takes minutes)"
THREADLINE_RELAY_LOGS=jetstream,jetstream-r3 THREADLINE_JOIN_EVENTS=1000000 go test -count=1 -timeout 60m -run '^$' -bench 'BenchmarkJoin' -benchtime 1x ./sync/relay/

section "relay webhooks: delivery lag behind the log at 1,000 events/s, one endpoint on loopback"
go test -count=1 -run '^$' -bench 'BenchmarkWebhookLag' -benchtime 10000x ./sync/relay/

section "relay HTTP API: create a conversation with its first message, 100 requests/s"
go test -count=1 -run '^$' -bench 'BenchmarkAPICreateConversation' -benchtime 2000x ./sync/relay/

section "relay attachments: PUT of a 10 MiB file on loopback, new (stored and synced) and already stored"
go test -count=1 -run '^$' -bench 'BenchmarkFileUpload' -benchtime 20x ./sync/relay/

section "device catch-up of 100,000 events from a real relay: Go SDK store, and the desktop inbox on Badger"
go test -count=1 -run '^$' -bench 'BenchmarkCatchup$' -benchtime 3x ./sync/client/
go test -count=1 -run '^$' -bench 'BenchmarkCatchupInbox' -benchtime 1x ./internal/convergence/

section "local search over 200,000 messages"
go test -count=1 -run '^$' -bench . -benchmem ./backend/search/

section "desktop: launch → inbox painted with 100,000 conversations; opening a conversation of 5,000 items"
if [ -x build/bin/threadline ] && [ -d frontend/node_modules/playwright-core ]; then
  THREADLINE_BIN="$PWD/build/bin/threadline" go test -count=1 -run '^$' -bench 'BenchmarkLaunch|BenchmarkOpenConversation' -benchtime 9x ./internal/e2e/
else
  echo "skipped: run make build first (needs build/bin/threadline and the frontend's packages)"
fi

section "attachments: Send of a 2 MiB screenshot in the widget → the desktop app painting its thumbnail (relay binary, app --serve, Chromium)"
if [ -x build/bin/threadline ] && [ -d frontend/node_modules/playwright-core ]; then
  THREADLINE_BIN="$PWD/build/bin/threadline" go test -count=1 -run '^$' -bench 'BenchmarkThumbnailPaint' -benchtime 20x ./internal/e2e/
else
  echo "skipped: run make build first (needs build/bin/threadline and the frontend's packages)"
fi
