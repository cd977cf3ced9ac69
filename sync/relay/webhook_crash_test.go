package relay

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// TestWebhookKill9DeliversAgainNeverSkips kills the relay binary with
// SIGKILL while an endpoint holds a delivery it has received but not
// answered: the relay cannot have moved its cursor past that event. After
// a restart the event comes again, and everything logged after it
// follows, in order, with nothing skipped.
func TestWebhookKill9DeliversAgainNeverSkips(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	bin := buildRelay(t)

	const hold = "m5" // the message the endpoint receives and never answers
	var mu sync.Mutex
	var runs [][]uint64 // seqs received, per relay process
	held := make(chan struct{})
	release := make(chan struct{})
	holding := true
	rc := newReceiver(t, func(h hookHit) int {
		var m conv.Message
		_ = json.Unmarshal(h.event.Data, &m)
		mu.Lock()
		runs[len(runs)-1] = append(runs[len(runs)-1], h.event.Seq)
		hang := holding && m.Text == hold
		if hang {
			holding = false
		}
		mu.Unlock()
		if hang {
			close(held)
			<-release // the relay dies waiting for this answer
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // before the receiver's Close, which waits for its handlers

	dir := t.TempDir()
	cfg := testConfig()
	cfg.Workspaces[0].Webhooks = []Webhook{rc.hook("crm", conv.KindMessageSent)}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "relay.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")

	runs = append(runs, nil)
	cmd, url := startRelayProc(t, bin, data, conf)
	s := connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	for i := range 10 {
		s.mustLog(s.ev(conv.KindMessageSent, cid, msg("m"+strconv.Itoa(i))))
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the endpoint never received the message it holds")
	}
	// More events while the endpoint holds one: logged, not delivered.
	for i := 10; i < 15; i++ {
		s.mustLog(s.ev(conv.KindMessageSent, cid, msg("m"+strconv.Itoa(i))))
	}
	// Time for the cursor's save (within cursorSaveEvery of its last move),
	// so that the restart usually resumes at the held event itself; the
	// test holds either way.
	time.Sleep(3 * cursorSaveEvery)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	mu.Lock()
	runs = append(runs, nil)
	mu.Unlock()
	_, url = startRelayProc(t, bin, data, conf)
	var want []uint64
	var heldSeq uint64
	for _, e := range wholeLog(t, url) {
		if e.Kind == conv.KindMessageSent {
			want = append(want, e.Seq)
			var m conv.Message
			_ = json.Unmarshal(e.Data, &m)
			if m.Text == hold {
				heldSeq = e.Seq
			}
		}
	}
	last := want[len(want)-1]
	if err := waitFor(30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		r := runs[1]
		return len(r) > 0 && r[len(r)-1] == last
	}); err != nil {
		mu.Lock()
		t.Fatalf("after the restart the endpoint got %v; want up to seq %d", runs[1], last)
	}
	mu.Lock()
	defer mu.Unlock()
	first, second := runs[0], runs[1]
	t.Logf("first run delivered %v; after kill -9 and restart: %v", first, second)
	for i, r := range runs {
		if !slices.IsSorted(r) || len(slices.Compact(slices.Clone(r))) != len(r) {
			t.Errorf("run %d delivered %v; want strictly ascending seqs (log order, one at a time)", i, r)
		}
	}
	if first[len(first)-1] != heldSeq {
		t.Errorf("first run ended at seq %d; want the held one, %d", first[len(first)-1], heldSeq)
	}
	if second[0] > heldSeq {
		t.Errorf("after the restart delivery began at seq %d, past the held event %d: it was skipped", second[0], heldSeq)
	}
	got := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(first), second...))))
	if !slices.Equal(got, want) {
		t.Errorf("delivered seqs %v; want every message.sent %v", got, want)
	}
}
