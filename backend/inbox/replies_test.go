package inbox_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

func titles(rs []inbox.SavedReply) []string {
	var out []string
	for _, r := range rs {
		s := r.Title
		if r.State != "" {
			s += "/" + r.State
		}
		out = append(out, s)
	}
	return out
}

// Saved replies: saved offline (pending), synced, a teammate's arriving
// from the log, edits and deletes; a shortcut taken is refused at once; a
// save the relay refuses stays, failed, for Retry or Discard; the library
// is no conversation of any view; a rebuild from the log gives it back.
func TestSavedReplies(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("Billing")
	hi, err := f.in.SaveReply(conv.Reply{Title: " Greeting ", Text: "Hi {{contact.name}}", Shortcut: "/HI"})
	if err != nil {
		t.Fatal(err)
	}
	if hi.ID == "" || hi.Title != "Greeting" || hi.Shortcut != "hi" {
		t.Fatalf("SaveReply = %+v; want an id, the title trimmed, the shortcut hi", hi)
	}
	if got := titles(f.in.Replies(nil)); !slices.Equal(got, []string{"Greeting/pending"}) {
		t.Fatalf("Replies offline = %v; want the pending save", got)
	}
	f.sync()
	f.foreign(ana, conv.LibraryID, conv.KindReplySaved, conv.ReplySaved{Reply: conv.Reply{ID: "r-ana", Title: "bye", Text: "Bye {{contact.name}}", Shortcut: "bye"}})
	f.deliver()
	if got := titles(f.in.Replies(nil)); !slices.Equal(got, []string{"bye", "Greeting"}) {
		t.Fatalf("Replies synced = %v; want Ana's and mine, logged, by title", got)
	}
	if _, err := f.in.SaveReply(conv.Reply{Title: "Other", Text: "x", Shortcut: "bye"}); !errors.Is(err, conv.ErrConflict) {
		t.Fatalf("SaveReply(a taken shortcut) = %v; want conflict", err)
	}
	if _, err := f.in.SaveReply(conv.Reply{Title: "", Text: "x"}); !errors.Is(err, conv.ErrInvalid) {
		t.Fatalf("SaveReply(no title) = %v; want invalid", err)
	}
	hi.Text = "Hello {{contact.name}}"
	if _, err := f.in.SaveReply(hi); err != nil {
		t.Fatal(err)
	}
	if err := f.in.DeleteReply("r-ana"); err != nil {
		t.Fatal(err)
	}
	if got := titles(f.in.Replies(nil)); !slices.Equal(got, []string{"Greeting/pending"}) {
		t.Fatalf("Replies after an edit and a delete = %v", got)
	}
	// Meanwhile a teammate takes the shortcut the next save wants.
	if _, err := f.in.SaveReply(conv.Reply{Title: "Welcome", Text: "Welcome!", Shortcut: "welcome"}); err != nil {
		t.Fatal(err)
	}
	f.foreign(ana, conv.LibraryID, conv.KindReplySaved, conv.ReplySaved{Reply: conv.Reply{ID: "r-ana2", Title: "Welcome back", Text: "Hey", Shortcut: "welcome"}})
	f.sync()
	got := f.in.Replies(nil)
	if !slices.Equal(titles(got), []string{"Greeting", "Welcome back", "Welcome/failed"}) {
		t.Fatalf("Replies after the race = %v; want the failed save listed last", titles(got))
	}
	failed := got[2]
	if failed.Error == nil || failed.Error.Code != conv.CodeConflict || failed.Event == "" {
		t.Fatalf("failed save = %+v; want conflict and its event", failed)
	}
	if r, _ := f.in.Replies(nil)[0], 0; r.Text != "Hello {{contact.name}}" {
		t.Errorf("Greeting = %q; want the edit", r.Text)
	}
	if err := f.in.Discard(failed.Event); err != nil {
		t.Fatal(err)
	}
	if got := titles(f.in.Replies(nil)); !slices.Equal(got, []string{"Greeting", "Welcome back"}) {
		t.Fatalf("Replies after the discard = %v", got)
	}
	// No view lists the library; the conversation is still alone.
	for _, v := range []inbox.View{inbox.ViewAll, inbox.ViewOpen, inbox.ViewUnassigned, inbox.ViewResolved} {
		flt, err := f.in.ViewFilter(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pages(t, f.in, flt, inbox.ByActivity, 100) {
			if r.ID != c {
				t.Errorf("view %s lists %s", v, r.ID)
			}
		}
	}
	// Rebuilt from the log, and reopened.
	if err := f.in.Store().Rebuild(); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if got := titles(f.in.Replies(nil)); !slices.Equal(got, []string{"Greeting", "Welcome back"}) {
		t.Fatalf("Replies rebuilt and reopened = %v", got)
	}
}

// The replies saved while local-only go up on the first connect, as they
// are now (a deleted one does not, nor the demo's); not twice.
func TestCarrySavedReplies(t *testing.T) {
	f := newFixture(t, true)
	if err := inbox.SeedDemo(context.Background(), f.in, 1); err != nil {
		t.Fatal(err)
	}
	demo := f.in.Replies(nil)
	if len(demo) < 3 {
		t.Fatalf("the demo saves %d replies; want a few", len(demo))
	}
	a, err := f.in.SaveReply(conv.Reply{Title: "Mine", Text: "v1", Shortcut: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	a.Text = "v2"
	if _, err := f.in.SaveReply(a); err != nil {
		t.Fatal(err)
	}
	gone, err := f.in.SaveReply(conv.Reply{Title: "Gone", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.in.DeleteReply(gone.ID); err != nil {
		t.Fatal(err)
	}
	demo[0].Text = "edited here"
	if _, err := f.in.SaveReply(demo[0].Reply); err != nil {
		t.Fatal(err)
	}
	w, err := f.in.LocalWork()
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Replies) != 1 || w.Others() != w.Total {
		t.Fatalf("LocalWork = %d replies, %d of %d conversations kept; want my one reply, and the library no conversation", len(w.Replies), w.Others(), w.Total)
	}
	synced, err := inbox.Open(t.TempDir(), inbox.Options{Me: ana, Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer synced.Close()
	for range 2 {
		if _, err := synced.Carry(w, 3); err != nil {
			t.Fatal(err)
		}
	}
	got := synced.Replies(nil)
	if len(got) != 1 || got[0].Title != "Mine" || got[0].Text != "v2" || got[0].State != inbox.StatePending {
		t.Fatalf("carried replies = %+v; want Mine (v2), pending", got)
	}
	if pend, _ := synced.Pending(); len(pend) != 1 || pend[0].Actor.ID != ana.ID || pend[0].Mid != 4 {
		t.Fatalf("pending = %+v; want one save, Ana's, mid 4", pend)
	}
}
