package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/relay"
)

const (
	workspace = relaytest.Workspace
	tokAna    = relaytest.TokAna
	tokBen    = relaytest.TokBen
	// identitySecret lets the browser scripts say hello as a verified
	// contact (DESIGN §2), as a website's backend would let its widget.
	identitySecret = relaytest.Secret
)

// relayConfig is relaytest's standard workspace with agents ana and ben
// only: no assistant, no attributes.
func relayConfig() *relay.Config {
	return relayrun.Config(func(w *relay.WorkspaceConfig) {
		w.Assistants = nil
		w.Attributes = nil
	})
}

// root is the repository's root folder.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// requirements returns the binary, or skips (fails when THREADLINE_REQUIRE_BROWSER=1).
func requirements(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("THREADLINE_BIN")
	var missing []string
	if bin == "" {
		missing = append(missing, "THREADLINE_BIN (the built app; make build)")
	} else if _, err := os.Stat(bin); err != nil {
		missing = append(missing, "THREADLINE_BIN="+bin+": "+err.Error())
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(root(), "frontend", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "frontend/node_modules/playwright-core (scripts/setup.sh)")
	}
	if len(missing) > 0 {
		msg := "end-to-end test needs: " + strings.Join(missing, ", ")
		if os.Getenv("THREADLINE_REQUIRE_BROWSER") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return bin
}

// startRelay runs a real relay on loopback with agents ana and ben; it
// returns its http:// URL.
func startRelay(tb testing.TB) string {
	tb.Helper()
	blobs, err := relay.OpenDiskBlobs(tb.TempDir()) // attachments (DESIGN §10)
	if err != nil {
		tb.Fatal(err)
	}
	return relayrun.Start(tb, relayrun.WithConfig(relayConfig()), relayrun.WithOptions(relay.Options{Blobs: blobs})).URL
}

// app is the desktop binary serving its UI and bindings over HTTP.
type app struct {
	url string
	cmd *exec.Cmd
}

// startApp starts bin --serve on a free loopback port with data folder dir
// and waits until it answers.
func startApp(tb testing.TB, bin, dir string, extra ...string) *app {
	tb.Helper()
	addr := freePort(tb)
	a := &app{url: "http://" + addr}
	a.cmd = exec.Command(bin, append([]string{"--serve", addr, "--data", dir}, extra...)...)
	logf, err := os.Create(filepath.Join(tb.TempDir(), "app.log"))
	if err != nil {
		tb.Fatal(err)
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stop(a)
		logf.Close()
	})
	if err := waitUp(a.url); err != nil {
		b, _ := os.ReadFile(logf.Name())
		tb.Fatalf("%v\n%s", err, b)
	}
	return a
}

// freePort returns a loopback address nobody listens on right now.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUp waits until url answers 200.
func waitUp(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the app at %s never answered: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop interrupts the app (it closes its store cleanly) and waits for it.
func stop(a *app) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

// node runs a node script with env, streaming its output to the test log,
// and returns its lines.
func node(tb testing.TB, env []string, args ...string) ([]string, error) {
	tb.Helper()
	cmd := exec.Command("node", args...)
	cmd.Dir = root()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		tb.Log(sc.Text())
	}
	err = cmd.Wait()
	if err != nil {
		return lines, fmt.Errorf("node %s: %w", strings.Join(args, " "), err)
	}
	return lines, nil
}
