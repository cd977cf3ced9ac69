package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/protocol"
)

// writeStandardConfig writes relayrun's standard config to dir/relay.json.
func writeStandardConfig(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "relay.json")
	b, _ := json.Marshal(relayrun.Config())
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is the relay binary running until stop.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	var lines []string
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(p.stop)
	select {
	case a := <-found:
		p.url = "ws://" + a + protocol.Path
	case <-p.done:
		t.Fatalf("relay exited before listening:\n%s", strings.Join(lines, "\n"))
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not listen within 30 s")
	}
	return p
}

func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// agentSession says hello as Ana at cur and reads up to caughtUp.
type agentSession struct {
	c       *websocket.Conn
	welcome protocol.Welcome
	backlog []conv.Event
	at      protocol.Cursor
}

func helloAna(t *testing.T, url string, cur protocol.Cursor) *agentSession {
	t.Helper()
	ctx := t.Context()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.CloseNow() })
	s := &agentSession{c: c}
	s.write(t, protocol.Hello{Type: protocol.TypeHello, Protocol: protocol.Version, Workspace: relaytest.Workspace, Device: "ana-laptop", Cursor: cur, Auth: relaytest.AgentAuth(relaytest.TokAna)})
	for {
		var f struct {
			Type   string
			Events []conv.Event
			Cursor protocol.Cursor
		}
		raw := s.read(t, &f)
		switch f.Type {
		case protocol.TypeWelcome:
			json.Unmarshal(raw, &s.welcome)
		case protocol.TypeEvents:
			s.backlog = append(s.backlog, f.Events...)
		case protocol.TypeCaughtUp:
			s.at = f.Cursor
			return s
		default:
			t.Fatalf("hello: %s", raw)
		}
	}
}

func (s *agentSession) write(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := s.c.Write(t.Context(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func (s *agentSession) read(t *testing.T, v any) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := s.c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, v)
	return b
}

// push pushes evs and returns the ack's results.
func (s *agentSession) push(t *testing.T, evs ...conv.Event) []protocol.Result {
	t.Helper()
	s.write(t, protocol.Push{Type: protocol.TypePush, Events: evs})
	for {
		var f struct {
			Type    string
			Results []protocol.Result
		}
		raw := s.read(t, &f)
		if f.Type == protocol.TypeAck {
			return f.Results
		}
		if f.Type == protocol.TypeError {
			t.Fatalf("push: %s", raw)
		}
	}
}

// TestMigrateRoundTrip: a relay on its embedded log, stopped, moved with
// `relay migrate` to JetStream, started again with --nats: a device's cursor
// stays good (same epoch, nothing to resend), the log is the same event for
// event, and new events continue the seqs. Migrating again does nothing.
func TestMigrateRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	bin := buildRelay(t)
	dir := t.TempDir()
	cfgFile := writeStandardConfig(t, dir)
	data := filepath.Join(dir, "data")
	embedded := startProc(t, bin, "--listen", "127.0.0.1:0", "--data", data, "--config", cfgFile)
	s := helloAna(t, embedded.url, protocol.Cursor{})
	cid := uuid.Must(uuid.NewV7()).String()
	mid := s.welcome.LastMid
	ev := func(k conv.Kind, data any) conv.Event {
		mid++
		return conv.Event{ID: uuid.Must(uuid.NewV7()).String(), Conv: cid, Kind: k, Device: "ana-laptop", Mid: mid, At: time.Now().UnixMilli(), Data: conv.MustData(data)}
	}
	res := s.push(t, ev(conv.KindConversationCreated, conv.Created{Contact: &conv.Participant{ID: "contact:zoe", Role: conv.RoleContact}, Subject: "moving"}),
		ev(conv.KindMessageSent, conv.Message{Text: "before the move"}))
	head := res[len(res)-1].Seq
	before := helloAna(t, embedded.url, protocol.Cursor{})
	embedded.stop()

	nats := natstest.Start(t)
	run := func() string {
		out, err := exec.Command(bin, "migrate", "--data", data, "--config", cfgFile, "--nats", nats.URL(), "--nats-replicas", "1").CombinedOutput()
		if err != nil {
			t.Fatalf("relay migrate: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "moved 3 events") {
		t.Fatalf("relay migrate said:\n%s", out)
	}
	if out := run(); !strings.Contains(out, "nothing to move") {
		t.Fatalf("relay migrate, again, said:\n%s", out)
	}

	shared := startProc(t, bin, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "cache"), "--config", cfgFile, "--nats", nats.URL(), "--nats-replicas", "1")
	resumed := helloAna(t, shared.url, before.at) // where the device stood when the relay stopped
	if resumed.welcome.Epoch != s.welcome.Epoch || len(resumed.backlog) != 0 || resumed.at.Seq != head {
		t.Fatalf("the device's cursor after the move: welcome epoch %q (was %q), backlog %d events, caught up at %d (head %d)",
			resumed.welcome.Epoch, s.welcome.Epoch, len(resumed.backlog), resumed.at.Seq, head)
	}
	if resumed.welcome.LastMid != mid {
		t.Errorf("lastMid after the move = %d; want %d", resumed.welcome.LastMid, mid)
	}
	after := helloAna(t, shared.url, protocol.Cursor{})
	if len(after.backlog) != len(before.backlog) {
		t.Fatalf("%d events after the move, %d before", len(after.backlog), len(before.backlog))
	}
	for i := range before.backlog {
		x, y := before.backlog[i], after.backlog[i]
		if x.ID != y.ID || x.Seq != y.Seq || string(x.Data) != string(y.Data) {
			t.Errorf("event %d: %s@%d before, %s@%d after", i, x.ID, x.Seq, y.ID, y.Seq)
		}
	}
	if r := resumed.push(t, ev(conv.KindMessageSent, conv.Message{Text: "after the move"})); r[0].Error != nil || r[0].Seq != head+1 {
		t.Fatalf("first push after the move: %+v; want seq %d", r[0], head+1)
	}
}
