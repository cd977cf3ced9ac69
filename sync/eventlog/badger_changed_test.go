package eventlog

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/threadline/threadline/backend/conv"
)

// TestChangedIndexRebuilt: a log written before the changed index (no
// format key, no index keys; here, for good measure, a stale key too) gets
// it rebuilt from the conversation states when it opens. (The relay's
// TestChangedIndex checks the live index against real traffic.)
func TestChangedIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open("ws"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for seq := uint64(1); seq <= 30; seq++ {
		id := fmt.Sprintf("c%02d", seq%7)
		st := &conv.Conversation{ID: id, Contact: conv.Participant{ID: "contact:1", Role: conv.RoleContact}, Status: conv.StatusOpen, LastSeq: seq}
		if err := l.Append("ws", &Batch{Events: []Record{testEvent(seq, id)}, States: []*conv.Conversation{st}}); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(24); seq <= 30; seq++ { // each conversation's latest seq
		want = append(want, fmt.Sprintf("c%02d@%d", seq%7, seq))
	}
	list := func() []string {
		page, _, err := l.Conversations("ws", ConversationQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range page {
			got = append(got, fmt.Sprintf("%s@%d", c.ID, c.LastSeq))
		}
		return got
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("Conversations = %v; want %v", got, want)
	}
	err = l.update(func(w *logWriter) error {
		if err := w.delete(changedFormatKey("ws")); err != nil {
			return err
		}
		return l.db.View(func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = changedPrefix("ws")
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				if err := w.delete(it.Item().KeyCopy(nil)); err != nil {
					return err
				}
			}
			return w.set(changedKey("ws", 3, "stale"), []byte{})
		})
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("a dropped index still lists %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = OpenBadger(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.Open("ws"); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("after the rebuild, Conversations = %v; want %v", got, want)
	}
}
