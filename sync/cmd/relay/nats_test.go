package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/internal/natstest"
)

// TestNATSRefusedAtStart: the relay binary on --nats exits 1 with a line
// saying why when NATS is unreachable, and when a workspace's stream exists
// with other settings, naming the setting.
func TestNATSRefusedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	bin := buildRelay(t)
	dir := t.TempDir()
	cfgFile := writeStandardConfig(t, dir)
	run := func(urls string) (int, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--config", cfgFile, "--nats", urls, "--nats-replicas", "1").CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run the relay: %v", err)
		}
		if ee == nil {
			return 0, string(out)
		}
		return ee.ExitCode(), string(out)
	}
	code, out := run("nats://127.0.0.1:1")
	if code != 1 || !strings.Contains(out, "relay: --nats: eventlog: connect to nats at nats://127.0.0.1:1") {
		t.Errorf("NATS unreachable: exit %d, said:\n%s", code, out)
	}

	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "TL_acme", Subjects: []string{"tl.acme.events"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	code, out = run(srv.URL())
	if code != 1 || !strings.Contains(out, "stream TL_acme exists with storage Memory") {
		t.Errorf("a stream with other settings: exit %d, said:\n%s", code, out)
	}
}
