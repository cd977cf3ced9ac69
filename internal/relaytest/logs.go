package relaytest

import (
	"log/slog"
	"testing"

	"github.com/threadline/threadline/sync/eventlog"
)

// LogImpl is one implementation of eventlog.Log that relays run on in tests.
type LogImpl struct {
	Name string // short, for messages and requireImpl-style checks: "badger"

	// Open opens the log whose state lives in dir (which may be empty, and
	// then starts a new log), logging to logger (nil: nowhere). Opened again
	// on the same dir once the first is closed, it must give back the same
	// log, epoch and events: the relay's restart tests depend on it.
	// Anything Open starts besides the log (a server) stops when the log is
	// closed or, at the latest, in t's cleanup. It fails t when it cannot
	// open.
	Open func(t testing.TB, dir string, logger *slog.Logger) eventlog.Log
}

// Logs are the implementations the relay's tests run against: sync/relay's
// TestMain runs its whole suite once per entry, in this order. The first is
// the default of the other packages' relays (relayrun.Start).
//
// To add one, append an entry whose Open meets LogImpl's contract; tests
// that only hold for another implementation (they open its data dir
// themselves, or wrap its concrete type) skip the others by Name.
var Logs = []LogImpl{
	{Name: "badger", Open: openBadger},
}

func openBadger(t testing.TB, dir string, logger *slog.Logger) eventlog.Log {
	t.Helper()
	lg, err := eventlog.OpenBadger(dir, logger)
	if err != nil {
		t.Fatalf("open the Badger log in %s: %v", dir, err)
	}
	return lg
}
