// Package relaytest is what the tests that run a real relay share: the
// standard test workspace (its id, identity secret, tokens and attributes),
// contact hashes and hello auths, the table of eventlog.Log implementations
// the relay's tests run against (Logs), a TCP fault proxy that cuts,
// silences and refuses connections (FaultProxy), and Stop, which stops a
// relay in the order its binary does.
//
// It imports no sync/relay, so that sync/relay's own tests (package relay,
// internal tests) can use it without an import cycle. Its sub-package
// relayrun imports sync/relay and builds on this one: the relay.Config of the
// standard workspace, and Start, which runs a relay on a loopback httptest
// server for a test.
package relaytest
