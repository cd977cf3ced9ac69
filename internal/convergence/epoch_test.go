package convergence

import (
	"errors"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/relay"
)

// TestNewEpochKeepsWhatTheUserMade: the relay comes back on a new, empty
// log (another epoch). Every device drops its canonical state and syncs
// from the start; what its user made and the old log never had is kept and
// pushed to the new one: a conversation made offline is created there; a
// message to a conversation only the old log had fails as
// no_such_conversation (kept for the user, not lost); a failed event stays
// failed. In the end every device equals the new log.
func TestNewEpochKeepsWhatTheUserMade(t *testing.T) {
	r := startRelay(t, relay.Options{})
	agent := newInboxDevice(t, r, "ana-laptop", ana, agentAuth(tokAna), nil)
	laptop := newInboxDevice(t, r, "c42-laptop", c42, contactAuth("42"), nil)
	phone := newMemoryDevice(t, r, "c42-phone", c42, contactAuth("42"))
	devs := []*device{agent, laptop, phone}
	for _, d := range devs {
		d.start()
	}
	settle := func() {
		t.Helper()
		for _, d := range devs {
			d.kick()
		}
		for _, d := range devs {
			d.waitSettled(t)
		}
	}
	x, err := agent.in.CreateConversation(c42, "Old log", "On the old log.", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	settle()
	if _, err := laptop.in.Send(x, "Reply on the old log."); err != nil {
		t.Fatal(err)
	}
	failed, err := agent.in.SetAttributes(x, map[string]any{"color": "teal"})
	if err != nil {
		t.Fatal(err)
	}
	settle()
	oldEpoch, _ := r.head()

	// Offline, the agent writes to the old conversation and starts a new one.
	agent.stop()
	orphan, err := agent.in.Send(x, "Written offline, to a conversation the new log will not have.")
	if err != nil {
		t.Fatal(err)
	}
	y, err := agent.in.CreateConversation(c42, "Made offline", "Made while the relay was away.", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		d.stop()
		d.rec = newRecorder() // what the old log logged is gone with it
	}
	r.replace()
	newEpoch, _ := r.head()
	if newEpoch == oldEpoch {
		t.Fatal("the new log has the old epoch")
	}
	for _, d := range devs {
		d.start()
	}
	settle()

	// The agent: y is canonical on the new log, the orphan message failed,
	// the old failure is still there, x is no longer canonical.
	if c, _, err := agent.in.Conversation(y, nil); err != nil || c.Messages != 1 || agent.in.Store().Row(y, nil).Canon() == nil {
		t.Errorf("the conversation made offline: %+v, %v; want canonical on the new log", c, err)
	}
	outcomes := map[string]conv.Code{}
	for _, f := range agent.failed() {
		outcomes[f.Event.ID] = f.Err.Code
	}
	if outcomes[orphan.ID] != conv.CodeNoSuchConversation || outcomes[failed.ID] != conv.CodeUnknownAttribute || len(outcomes) != 2 {
		t.Errorf("failed items = %v; want the orphan as no_such_conversation and the old failure as unknown_attribute", outcomes)
	}
	if row := agent.in.Store().Row(x, nil); row == nil || row.Canon() != nil {
		t.Errorf("the old log's conversation is still canonical on the agent's device")
	}
	// The contact's devices: the old conversation is gone, the new one came.
	if _, _, err := laptop.in.Conversation(x, nil); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("laptop still shows the old log's conversation: %v", err)
	}
	if _, ok := phone.mem.Canonical(x); ok {
		t.Errorf("phone still holds the old log's conversation")
	}
	for _, d := range []*device{laptop, phone} {
		if len(eventsOf(d, y)) == 0 {
			t.Errorf("%s: the conversation made offline did not arrive", d.name)
		}
	}

	for _, d := range devs {
		d.stop()
	}
	rl := r.readLog()
	if rl.epoch != newEpoch {
		t.Fatalf("read epoch %s; want %s", rl.epoch, newEpoch)
	}
	for _, d := range devs {
		checkDevice(t, rl, d)
		checkAccounted(t, rl, d)
	}
}
