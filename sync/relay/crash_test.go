package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// buildRelay builds cmd/relay, pure Go, into a temporary directory.
func buildRelay(t testing.TB) string {
	t.Helper()
	return buildRelayIn(t, t.TempDir())
}

// buildRelayIn builds cmd/relay into dir. The binary keeps its log in
// Badger, in its --data dir: the tests that run it skip on the other
// implementations of relaytest.Logs.
func buildRelayIn(t testing.TB, dir string) string {
	t.Helper()
	requireImpl(t, "badger")
	return buildRelayBinary(t, dir)
}

// buildRelayBinary builds cmd/relay into dir, whatever log the suite runs on
// (the cluster tests give it --nats).
func buildRelayBinary(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "relay")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/threadline/threadline/sync/cmd/relay")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/relay: %v\n%s", err, out)
	}
	return bin
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startRelayProc runs the relay binary on dir and returns it and its
// WebSocket URL once it listens.
func startRelayProc(t testing.TB, bin, dir, config string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	return startRelayProcWith(t, bin, dir, config, nil, env...)
}

// relayLogTail is how many of a relay binary's last log lines a failed
// test shows.
const relayLogTail = 150

// startRelayProcWith is startRelayProc with more flags. A failed test
// shows the relay's last log lines.
func startRelayProcWith(t testing.TB, bin, dir, config string, flags []string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--data", dir, "--config", config}, flags...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The last lines it logged, shown when the test fails.
	var (
		tailMu sync.Mutex
		tail   []string
	)
	t.Cleanup(func() {
		if t.Failed() {
			tailMu.Lock()
			defer tailMu.Unlock()
			t.Logf("relay %s: the last %d lines it logged:\n%s", filepath.Base(dir), len(tail), strings.Join(tail, "\n"))
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			tailMu.Lock()
			if tail = append(tail, sc.Text()); len(tail) > relayLogTail {
				tail = tail[1:]
			}
			tailMu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "ws://" + a + protocol.Path
	case <-time.After(30 * time.Second):
		t.Fatal("relay binary did not start listening")
	}
	return nil, ""
}

func writeTestConfig(t testing.TB, dir string) string {
	t.Helper()
	b, err := json.Marshal(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "relay.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// stormClient pushes batches from one device and remembers what it sent
// and what was acknowledged.
type stormClient struct {
	device string
	sent   []conv.Event
	acked  map[string]uint64
	mid    uint64
}

// pushAll sends evs over a fresh session, in pushes of at most 100, retrying
// rate-limited pushes, and records the results. It returns at the first
// connection error.
func (sc *stormClient) pushAll(ctx context.Context, url string, evs []conv.Event, record func(protocol.Result)) error {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(8 << 20)
	if err := c.Write(ctx, websocket.MessageText, mustJSON(hello(testWS, sc.device, protocol.Cursor{Epoch: "x", Seq: 1 << 62}, agentAuth(tokAna)))); err != nil {
		return err
	}
	for len(evs) > 0 {
		n := min(len(evs), 50)
		if err := c.Write(ctx, websocket.MessageText, mustJSON(protocol.Push{Type: protocol.TypePush, Events: evs[:n]})); err != nil {
			return err
		}
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return err
			}
			var f struct {
				Type    string
				Code    string
				Results []protocol.Result
			}
			json.Unmarshal(b, &f)
			if f.Type == protocol.TypeError && (f.Code == protocol.CodeRateLimited || f.Code == protocol.CodeUnavailable) {
				time.Sleep(100 * time.Millisecond)
				break // resend the same push
			}
			if f.Type == protocol.TypeError {
				return fmt.Errorf("error frame %s", b)
			}
			if f.Type != protocol.TypeAck {
				continue
			}
			for _, r := range f.Results {
				record(r)
			}
			evs = evs[n:]
			break
		}
	}
	return nil
}

func (sc *stormClient) next(cid string, first bool) []conv.Event {
	var evs []conv.Event
	mk := func(kind conv.Kind, data any) {
		sc.mid++
		evs = append(evs, conv.Event{ID: newConvID(), Conv: cid, Kind: kind, Device: sc.device, Mid: sc.mid, At: time.Now().UnixMilli(), Data: conv.MustData(data)})
	}
	if first {
		mk(conv.KindConversationCreated, created("contact:zoe"))
	}
	for len(evs) < 50 {
		mk(conv.KindMessageSent, msg(fmt.Sprintf("storm %d", sc.mid)))
	}
	return evs
}

// TestKill9LosesNoAcknowledgedEvent runs the real binary, kills it with
// SIGKILL during a push storm, restarts it on the same data directory and
// checks every acknowledged event is there exactly once, with gap-free seqs;
// resending everything afterwards logs nothing twice.
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	bin := buildRelay(t)
	dir := t.TempDir()
	cfg := writeTestConfig(t, dir)
	data := filepath.Join(dir, "data")
	cmd, url := startRelayProc(t, bin, data, cfg)

	const clients = 10
	var mu sync.Mutex
	storm := make([]*stormClient, clients)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	total := 0
	for i := range storm {
		sc := &stormClient{device: fmt.Sprintf("storm-%d", i), acked: map[string]uint64{}}
		storm[i] = sc
		wg.Add(1)
		go func() {
			defer wg.Done()
			cid := newConvID()
			for first := true; ctx.Err() == nil; first = false {
				evs := sc.next(cid, first)
				mu.Lock()
				sc.sent = append(sc.sent, evs...)
				mu.Unlock()
				err := sc.pushAll(ctx, url, evs, func(r protocol.Result) {
					mu.Lock()
					defer mu.Unlock()
					if r.Error != nil {
						t.Errorf("storm event rejected: %+v", r)
					}
					sc.acked[r.ID] = r.Seq
					total++
				})
				if err != nil {
					return
				}
			}
		}()
	}
	if err := waitFor(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return total >= 1500 }); err != nil {
		t.Fatal("the storm got no acks")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cancel()
	wg.Wait()

	_, url = startRelayProc(t, bin, data, cfg)
	all := wholeLog(t, url)
	checkGapFree(t, all)
	acked := checkAcked(t, storm, all)
	t.Logf("killed with %d events acknowledged and %d logged", acked, len(all))

	// Every device resends everything it ever sent: the acknowledged ones
	// get their seq again, the rest are logged now or were already, once.
	resendStorm(t, storm, all, func(int) string { return url })
	all = wholeLog(t, url)
	checkGapFree(t, all)
	checkAllLogged(t, storm, all)
}

// checkAcked asserts every event the storm had acknowledged is in log at
// its seq, and returns how many there were.
func checkAcked(t testing.TB, storm []*stormClient, log []conv.Event) int {
	t.Helper()
	bySeq := map[uint64]string{}
	for _, e := range log {
		bySeq[e.Seq] = e.ID
	}
	acked := 0
	for _, sc := range storm {
		for id, seq := range sc.acked {
			if bySeq[seq] != id {
				t.Fatalf("%s: acknowledged %s at seq %d; the log has %q there", sc.device, id, seq, bySeq[seq])
			}
			acked++
		}
	}
	return acked
}

// resendStorm has storm client i resend everything it ever sent through
// urlOf(i): the acknowledged events get their seq again, the ones in log
// theirs there.
func resendStorm(t testing.TB, storm []*stormClient, log []conv.Event, urlOf func(i int) string) {
	t.Helper()
	byID := map[string]uint64{}
	for _, e := range log {
		byID[e.ID] = e.Seq
	}
	for i, sc := range storm {
		err := sc.pushAll(t.Context(), urlOf(i), sc.sent, func(r protocol.Result) {
			if r.Error != nil {
				t.Errorf("resend rejected: %+v", r)
			}
			if seq, ok := sc.acked[r.ID]; ok && seq != r.Seq {
				t.Errorf("resend of %s answered seq %d; first answer was %d", r.ID, r.Seq, seq)
			}
			if seq, ok := byID[r.ID]; ok && seq != r.Seq {
				t.Errorf("resend of %s answered seq %d; it is logged at %d", r.ID, r.Seq, seq)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkAllLogged asserts every event the storm sent is in log.
func checkAllLogged(t testing.TB, storm []*stormClient, log []conv.Event) {
	t.Helper()
	ids := map[string]bool{}
	for _, e := range log {
		ids[e.ID] = true
	}
	for _, sc := range storm {
		for _, e := range sc.sent {
			if !ids[e.ID] {
				t.Errorf("%s: event %s (mid %d) missing after the resend", sc.device, e.ID, e.Mid)
			}
		}
	}
}

// TestBinaryGracefulStop stops the binary with SIGTERM: clients are closed
// with 4010 and it exits 0.
func TestBinaryGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	bin := buildRelay(t)
	dir := t.TempDir()
	cmd, url := startRelayProc(t, bin, filepath.Join(dir, "data"), writeTestConfig(t, dir))
	s := connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	cmd.Process.Signal(syscall.SIGTERM)
	if c := s.closed(); c != protocol.CloseShuttingDown {
		t.Errorf("close %d; want %d", c, protocol.CloseShuttingDown)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("relay exited: %v", err)
	}
}
