package relaytest

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// Logs are the implementations the relay's tests can run against:
// sync/relay's TestMain runs its whole suite once per entry that Selected
// picks, in this order. The first is the default of the other packages'
// relays (relayrun.Start).
//
// To add one, append an entry whose Open meets LogImpl's contract; tests
// that only hold for another implementation (they open its data dir
// themselves, or wrap its concrete type) skip the others by Name.
var Logs = []LogImpl{
	{Name: "badger", Open: openBadger},
	{Name: "jetstream", Open: openJetStream},
	// Three nats-servers on loopback, streams at R3: for the benchmarks
	// (scripts/bench.sh selects it), not in make test's default selection.
	{Name: "jetstream-r3", Open: openJetStreamR3},
}

// LogsEnv names the environment variable that selects entries of Logs by
// Name, comma-separated ("badger,jetstream,jetstream-r3"); unset or empty
// selects DefaultLogs.
const LogsEnv = "THREADLINE_RELAY_LOGS"

// DefaultLogs is the selection when LogsEnv is unset: what make test runs.
const DefaultLogs = "badger,jetstream"

// Selected returns the entries of Logs that LogsEnv names, in its order; an
// unknown name is an error.
func Selected() ([]LogImpl, error) {
	names := os.Getenv(LogsEnv)
	if strings.TrimSpace(names) == "" {
		names = DefaultLogs
	}
	var out []LogImpl
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, l := range Logs {
			if l.Name == n {
				out = append(out, l)
				found = true
				break
			}
		}
		if !found {
			var known []string
			for _, l := range Logs {
				known = append(known, l.Name)
			}
			return nil, fmt.Errorf("%s: no log implementation %q (known: %s)", LogsEnv, n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func openBadger(t testing.TB, dir string, logger *slog.Logger) eventlog.Log {
	t.Helper()
	lg, err := eventlog.OpenBadger(dir, logger)
	if err != nil {
		t.Fatalf("open the Badger log in %s: %v", dir, err)
	}
	return lg
}
