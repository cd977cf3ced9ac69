package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/backend/store"
)

// measure runs measure.mjs: Chromium starts first, then start() (which may
// start the app) runs, then the measurement. It returns milliseconds.
func measure(b *testing.B, start func(), args ...string) float64 {
	b.Helper()
	return measureAll(b, start, args...)[0]
}

// measureAll is measure for a command that prints several figures.
func measureAll(b *testing.B, start func(), args ...string) []float64 {
	b.Helper()
	cmd := exec.Command("node", filepath.Join(root(), "internal", "e2e", "measure.mjs"))
	cmd.Env = append(os.Environ(), "THREADLINE_ROOT="+root())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "READY" {
		b.Fatalf("measure.mjs did not start: %q", sc.Text())
	}
	start()
	_, _ = io.WriteString(stdin, "GO "+strings.Join(args, " ")+"\n")
	stdin.Close() // one command: node ends when it is done
	var out []float64
	for sc.Scan() {
		if ms, ok := strings.CutPrefix(sc.Text(), "MS "); ok {
			v, err := strconv.ParseFloat(ms, 64)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, v)
			continue
		}
		b.Log(sc.Text())
	}
	if len(out) == 0 {
		b.Fatal("measure.mjs ended without a figure")
	}
	return out
}

func report(b *testing.B, ms []float64) {
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "p50-ms")
	b.ReportMetric(ms[len(ms)-1], "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLaunch: from the app's process start to its inbox painted, over
// a store of 100,000 conversations and 2,000,000 items (backend/store's
// generated store, cached). The app serves its real bindings in browser
// mode; the window's own start (WebKitGTK) is not in the figure.
func BenchmarkLaunch(b *testing.B) {
	bin := requirements(b)
	gen, err := store.GeneratedStore(100_000, 2_000_000, 1)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	p, err := profile.Load(dir) // a local profile of agent:me, the generated store's owner
	if err != nil {
		b.Fatal(err)
	}
	if p.Me.ID != store.GenerateMe.ID {
		b.Fatalf("profile is %s, the generated store %s's", p.Me.ID, store.GenerateMe.ID)
	}
	if err := os.Symlink(gen, filepath.Join(dir, "store")); err != nil {
		b.Fatal(err)
	}
	var ms []float64
	for range b.N {
		port := freePort(b)
		a := &app{url: "http://" + port}
		v := measure(b, func() {
			a.cmd = exec.Command(bin, "--serve", port, "--data", dir)
			if err := a.cmd.Start(); err != nil {
				b.Fatal(err)
			}
		}, "launch", a.url)
		stop(a)
		ms = append(ms, v)
	}
	report(b, ms)
}

// BenchmarkOpenConversation: a click on a conversation of 5,000 items until
// its newest item is painted.
//
// "cold" opens it in a browser that has shown only the inbox (one new
// browser per open): the first open after launch, with the pane's first
// mount. "warm" is the day's work: in one page, two such conversations are
// opened in turn, 2 opens to settle and then b.N timed ones.
func BenchmarkOpenConversation(b *testing.B) {
	bin := requirements(b)
	dir := b.TempDir()
	convs := longConversations(b, dir, 2, 5000)
	port := freePort(b)
	a := &app{url: "http://" + port}
	a.cmd = exec.Command(bin, "--serve", port, "--data", dir)
	if err := a.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer stop(a)
	if err := waitUp(a.url); err != nil {
		b.Fatal(err)
	}
	b.Run("cold", func(b *testing.B) {
		var ms []float64
		for range b.N {
			ms = append(ms, measure(b, func() {}, "open", a.url, convs[0].id, convs[0].newest))
		}
		report(b, ms)
	})
	b.Run("warm", func(b *testing.B) {
		args := []string{"opens", a.url, strconv.Itoa(b.N + 2)}
		for _, c := range convs {
			args = append(args, c.id, c.newest)
		}
		ms := measureAll(b, func() {}, args...)
		if len(ms) != b.N+2 {
			b.Fatalf("%d figures; want %d", len(ms), b.N+2)
		}
		report(b, ms[2:])
	})
}

type longConv struct{ id, newest string }

// longConversations stores n conversations of size items each (messages
// both ways and notes) in a local profile in dir.
func longConversations(b *testing.B, dir string, n, size int) []longConv {
	b.Helper()
	p, err := profile.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	in, err := inbox.Open(filepath.Join(dir, "store"), inbox.Options{Me: p.Me, Device: p.Device, Local: true})
	if err != nil {
		b.Fatal(err)
	}
	ana := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}
	var out []longConv
	for c := range n {
		contact := conv.Participant{ID: fmt.Sprint("contact:big-", c), Role: conv.RoleContact, Name: fmt.Sprint("Dana Long-History ", c)}
		id, err := in.CreateConversation(contact, "A very long conversation", "first message", inbox.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var evs []conv.Event
		last := ""
		for i := range size - 2 { // with the creation and its first message
			who, kind, data := contact, conv.KindMessageSent, any(conv.Message{Text: fmt.Sprintf("message %d: the server is still slow, here are the logs", i)})
			if i%3 == 1 {
				who, data = ana, conv.Message{Text: fmt.Sprintf("reply %d: looking into it", i)}
			}
			if i%10 == 5 {
				who, kind, data = ana, conv.KindNoteAdded, conv.Note{Text: fmt.Sprintf("note %d", i)}
			}
			last = uuid.Must(uuid.NewV7()).String()
			evs = append(evs, conv.Event{ID: last, Conv: id, Kind: kind, Actor: who, At: time.Now().UnixMilli(), Data: conv.MustData(data)})
		}
		if _, err := inbox.NewLocalLog(in).Append(evs...); err != nil {
			b.Fatal(err)
		}
		out = append(out, longConv{id: id, newest: last})
	}
	if err := in.Close(); err != nil {
		b.Fatal(err)
	}
	return out
}
