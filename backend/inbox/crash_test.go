package inbox_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/inbox"
)

// crashChild is the environment variable that makes TestCrashKeepsDurableActions
// the child: it holds the store's directory.
const crashChild = "THREADLINE_CRASH_CHILD"

// TestCrashKeepsDurableActions re-executes this test binary as a child that
// makes local actions in a shared store and prints "durable <id>" after each
// one returns; the parent kills it with SIGKILL mid-stream, reopens the
// store and finds every action the child reported.
func TestCrashKeepsDurableActions(t *testing.T) {
	if dir := os.Getenv(crashChild); dir != "" {
		crashChildMain(dir)
		return
	}
	for round, killAfter := range []int{5, 40, 120} {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsDurableActions$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChild+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var durable []string
		var convID string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "conversation "); ok {
				convID = id
			}
			if id, ok := strings.CutPrefix(line, "durable "); ok {
				durable = append(durable, id)
				if len(durable) == killAfter {
					cmd.Process.Kill() // SIGKILL: no Close, no flush
					break
				}
			}
		}
		cmd.Wait()
		if len(durable) < killAfter {
			t.Fatalf("round %d: the child reported %d actions before it stopped; want %d", round, len(durable), killAfter)
		}

		in, err := inbox.Open(dir, inbox.Options{Me: me, Device: "laptop"})
		if err != nil {
			t.Fatalf("round %d: reopen after the crash: %v", round, err)
		}
		have := map[string]uint64{}
		var lastMid uint64
		for _, o := range in.Outbox(nil) {
			have[o.Event.ID] = o.Event.Mid
			if o.Event.Mid <= lastMid {
				t.Errorf("round %d: mids out of order in the outbox", round)
			}
			lastMid = o.Event.Mid
		}
		for _, id := range durable {
			if _, ok := have[id]; !ok {
				t.Errorf("round %d: action %s was reported durable, and is gone after the crash", round, id)
			}
		}
		// The store goes on: the next action takes the next mid.
		e, err := in.Send(convID, "after the crash")
		if err != nil || e.Mid <= lastMid {
			t.Errorf("round %d: Send after the crash = mid %d, %v; want a mid above %d", round, e.Mid, err, lastMid)
		}
		in.Close()
	}
}

func crashChildMain(dir string) {
	in, err := inbox.Open(dir, inbox.Options{Me: me, Device: "laptop"})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	c, err := in.CreateConversation(alice, "crash", "first", inbox.CreateOptions{})
	if err != nil {
		fmt.Println("create:", err)
		os.Exit(2)
	}
	fmt.Println("conversation " + c)
	for i := 0; ; i++ {
		var id string
		if i%3 == 2 {
			e, err := in.AddNote(c, fmt.Sprintf("note %d", i))
			if err != nil {
				os.Exit(2)
			}
			id = e.ID
		} else {
			e, err := in.Send(c, fmt.Sprintf("message %d at %s", i, time.Now()))
			if err != nil {
				os.Exit(2)
			}
			id = e.ID
		}
		fmt.Println("durable " + id) // stdout is unbuffered: the parent sees it at once
	}
}
