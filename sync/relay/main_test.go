package relay

import (
	"fmt"
	"os"
	"testing"

	"github.com/threadline/threadline/internal/relaytest"
)

// testLog is the log implementation the running pass of the suite starts its
// relays on (newTestRelay and the rest).
var testLog = relaytest.Logs[0]

// TestMain runs the whole suite once per implementation of relaytest.Logs
// that relaytest.Selected picks (THREADLINE_RELAY_LOGS; default badger and
// jetstream), and fails if any pass does.
func TestMain(m *testing.M) {
	if dir := os.Getenv(floorEchoEnv); dir != "" {
		serveFloorEcho(dir) // BenchmarkFloor's other process
		return
	}
	impls, err := relaytest.Selected()
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	code := 0
	for _, impl := range impls {
		testLog = impl
		fmt.Printf("=== relay tests on the %s log\n", impl.Name)
		if c := m.Run(); c != 0 {
			fmt.Printf("--- FAIL: relay tests on the %s log\n", impl.Name)
			code = c
		}
	}
	os.Exit(code)
}

// requireImpl skips t unless the suite runs on the log implementation named
// name: for tests of that implementation's own files or type (the relay
// binary's data dir, a wrapped *eventlog.Badger).
func requireImpl(t testing.TB, name string) {
	t.Helper()
	if testLog.Name != name {
		t.Skipf("needs the %s log (this pass runs on %s)", name, testLog.Name)
	}
}
