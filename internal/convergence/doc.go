// Package convergence holds the end-to-end tests that make devices and a relay converge.
//
// Everything here is real: the relay (sync/relay on Badger in a temp dir)
// serves WebSocket on 127.0.0.1, devices are backend/inbox stores on Badger
// (or client.Memory for bots and visitors) driven by sync/client, and TCP
// proxies between them cut connections. The package has no code of its own:
// only tests (DESIGN.md §7's convergence bar, idempotency across a device
// crash, every rejection code reaching the device, cross-device continuity)
// and BenchmarkCatchupInbox.
//
//	go test -race ./internal/convergence/                     # a few seeds
//	go test -race -run Convergence ./internal/convergence/ -seed 42 -actions 500
//	go test -tags soak -run Soak ./internal/convergence/ -count=1 -timeout 60m
//	go test -run '^$' -bench CatchupInbox -benchtime 1x ./internal/convergence/
package convergence
