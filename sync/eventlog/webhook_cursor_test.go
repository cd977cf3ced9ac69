package eventlog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWebhookCursorFile: saves come back; a save torn by a crash falls back
// to the one before.
func TestWebhookCursorFile(t *testing.T) {
	dir := t.TempDir()
	cs := &cursorFiles{dir: filepath.Join(dir, webhookDir), files: map[string]*cursorFile{}}
	if _, ok, err := cs.load("acme", "crm/x"); ok || err != nil {
		t.Fatalf("load of a cursor never saved = %v, %v; want none", ok, err)
	}
	since := time.Unix(1700000000, 123)
	for i := uint64(1); i <= 5; i++ {
		c := WebhookCursor{Done: i}
		if i == 5 {
			c.FailingSince = since
		}
		if err := cs.save("acme", "crm/x", c); err != nil {
			t.Fatal(err)
		}
	}
	c, ok, err := cs.load("acme", "crm/x")
	if err != nil || !ok || c.Done != 5 || !c.FailingSince.Equal(since) {
		t.Fatalf("load = %+v, %v, %v; want Done 5 failing since %v", c, ok, err, since)
	}
	p := cs.path("acme", "crm/x")
	if err := cs.close(); err != nil {
		t.Fatal(err)
	}
	// Tear the newest slot (gen 5, the second one) as a crash mid-write
	// would.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, cursorSlot+14); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cs = &cursorFiles{dir: filepath.Join(dir, webhookDir), files: map[string]*cursorFile{}}
	defer cs.close()
	if c, ok, err := cs.load("acme", "crm/x"); err != nil || !ok || c.Done != 4 || !c.FailingSince.IsZero() {
		t.Fatalf("load after a torn save = %+v, %v, %v; want the save before (Done 4)", c, ok, err)
	}
	if err := cs.save("acme", "crm/x", WebhookCursor{Done: 6}); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := cs.load("acme", "crm/x"); c.Done != 6 {
		t.Fatalf("load after saving over a torn slot = %+v; want Done 6", c)
	}
}
