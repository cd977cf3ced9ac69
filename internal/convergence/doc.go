// Package convergence holds the end-to-end tests that make devices and a relay converge.
//
// Everything here is real: the relay (sync/relay on Badger in a temp dir,
// or several relays on one NATS JetStream cluster on loopback) serves
// WebSocket on 127.0.0.1, devices are backend/inbox stores on Badger (or
// client.Memory for bots, visitors and a contact's phone) driven by
// sync/client, and proxies between them cut connections, refuse them,
// silence them one way, or swallow chosen frames. The package has no code
// of its own, only tests:
//
//   - TestConvergence (a few seeds) and TestSoak (many, with -tags soak or
//     THREADLINE_SOAK=1): DESIGN §7's convergence bar under random actions,
//     disconnects, offline periods, inbox reopens and relay restarts.
//   - TestConvergenceAcrossRelays (a few seeds) and TestSoakAcrossRelays
//     (many): the same world on two or three relays sharing one JetStream
//     log on three NATS nodes at R3 (DESIGN §6), with devices moving
//     between relays, a relay killed and started again, a NATS node killed
//     and restarted; the log read back from JetStream is the yardstick.
//   - TestCrashBeforeAckIsResentOnce, TestCrashAfterAckIsNotResent:
//     idempotency across a device crash.
//   - TestRejectionsReachTheDevice: every rejection code reaches an inbox as
//     a failed item with the relay's message; Retry and Discard.
//   - TestCrossDeviceContinuity: one contact, several devices, one history.
//   - TestNewEpochKeepsWhatTheUserMade, TestQuitMidCatchUpResumes.
//   - Tests of known bugs, skipped unless THREADLINE_KNOWN_BUGS=1.
//   - BenchmarkCatchupInbox: a new inbox catches up 100,000 events.
//
// Run them with:
//
//	go test -race ./internal/convergence/
//	go test -race -run Convergence ./internal/convergence/ -seed 42 -actions 500
//	go test -race -run ConvergenceAcrossRelays ./internal/convergence/ -seed 7 -actions 1000
//	go test -tags soak -run Soak ./internal/convergence/ -count=1 -timeout 60m
//	THREADLINE_KNOWN_BUGS=1 go test -run 'Supervisor|LateVisitor|RejectedCreation' ./internal/convergence/
//	go test -run '^$' -bench CatchupInbox -benchtime 1x ./internal/convergence/
package convergence
