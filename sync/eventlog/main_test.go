package eventlog

import (
	"os"
	"testing"

	"github.com/threadline/threadline/internal/natstest"
)

// TestMain hands the binary to natstest when BenchmarkJetStreamPeer started
// it as a nats-server process of its own.
func TestMain(m *testing.M) {
	if natstest.ServeProcess() {
		return
	}
	os.Exit(m.Run())
}
