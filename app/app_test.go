package app

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/store"
)

// recorder is a fake Emitter that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	got  []string
	data [][]any
	ch   chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 1024)} }

func (r *recorder) Emit(name string, data ...any) {
	r.mu.Lock()
	r.got = append(r.got, name)
	r.data = append(r.data, data)
	r.mu.Unlock()
	select {
	case r.ch <- name:
	default:
	}
}

func TestEmitterFollowsTheApp(t *testing.T) {
	a := New(Config{Profile: "default"})
	a.emit(EventInboxChanged) // before start: dropped, and must not reach the runtime
	rec := newRecorder()
	a.setEmitter(rec)
	a.emit(EventTimelineChanged, []string{"c1"})
	if want := []string{EventTimelineChanged}; !reflect.DeepEqual(rec.got, want) {
		t.Fatalf("emitted %v; want %v", rec.got, want)
	}
}

func TestTitle(t *testing.T) {
	for n, want := range map[int]string{0: "Threadline", 1: "Threadline (1)", 42: "Threadline (42)"} {
		if got := Title(n); got != want {
			t.Errorf("Title(%d) = %q; want %q", n, got, want)
		}
	}
}

// started starts an App on a fresh data folder, with a recorder as emitter.
func started(t *testing.T, demo bool) (*App, *recorder) {
	t.Helper()
	a := New(Config{DataDir: t.TempDir(), Profile: "test", Demo: demo})
	rec := newRecorder()
	a.setEmitter(rec)
	if err := Start(a); err != nil {
		t.Fatalf("Start = %v", err)
	}
	t.Cleanup(func() { Stop(a) })
	return a, rec
}

func waitEvent(t *testing.T, rec *recorder, name string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-rec.ch:
			if got == name {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

func TestDemoInboxAndActions(t *testing.T) {
	a, rec := started(t, true)
	info, _ := a.Info()
	if info.Me.ID != "agent:me" || info.Connected {
		t.Fatalf("Info = %+v; want local agent:me", info)
	}
	page, err := a.Inbox(Query{View: "open"})
	if err != nil || len(page.Rows) == 0 {
		t.Fatalf("Inbox(open) = %d rows, %v; want the demo's open conversations", len(page.Rows), err)
	}
	all, _ := a.Inbox(Query{View: "all", Limit: 500})
	resolved, _ := a.Inbox(Query{View: "resolved", Limit: 500})
	if len(all.Rows) < 40 || len(resolved.Rows) == 0 {
		t.Fatalf("demo has %d conversations, %d resolved; want dozens, some resolved", len(all.Rows), len(resolved.Rows))
	}
	for _, r := range all.Rows { // the demo's contacts have names and emails (contact.updated)
		if r.Contact.Name == "" || !strings.Contains(r.ContactEmail, "@") {
			t.Fatalf("demo row %s: contact %+v <%s>; want a name and an email", r.ID, r.Contact, r.ContactEmail)
		}
	}
	st, _ := a.Status()
	if st.Sync.State != stateLocal || st.TotalUnread == 0 {
		t.Fatalf("Status = %+v; want local with unread conversations", st)
	}

	id := page.Rows[0].ID
	if err := a.Send(id, "On it — checking the logs now."); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if err := a.AddNote(id, "customer is on the pro plan"); err != nil {
		t.Fatalf("AddNote = %v", err)
	}
	if err := a.StartThread(id, "Customer server offline (Ticket #1929383)"); err != nil {
		t.Fatalf("StartThread = %v", err)
	}
	if err := a.StartThread(id, ""); err == nil || wireError(err).Code != "invalid" {
		t.Fatalf("StartThread(no topic) = %v; want invalid", err)
	}
	tl, err := a.Timeline(id, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	var sawReply, sawNote, sawTopic bool
	for _, it := range tl.Items {
		switch {
		case it.Kind == "message.sent" && it.Text == "On it — checking the logs now.":
			sawReply = it.Mine && it.State == "sent" // local-only: canonical at once
		case it.Kind == "note.added" && it.Text == "customer is on the pro plan":
			sawNote = true
		case it.Kind == "thread.started" && it.Topic == "Customer server offline (Ticket #1929383)":
			sawTopic = true
		}
	}
	if !sawReply || !sawNote || !sawTopic {
		t.Fatalf("timeline reply=%v note=%v topic=%v; want all three", sawReply, sawNote, sawTopic)
	}
	waitEvent(t, rec, EventTimelineChanged)

	// Resolve, reopen, and the unread badge clearing when seen.
	if err := a.Resolve(id); err != nil {
		t.Fatalf("Resolve = %v", err)
	}
	if err := a.Reopen(id); err != nil {
		t.Fatalf("Reopen = %v", err)
	}
	unread, _ := a.Inbox(Query{View: "all", UnreadOnly: true, Limit: 500})
	if len(unread.Rows) == 0 {
		t.Fatal("demo has no unread conversation")
	}
	before, _ := a.Status()
	u := unread.Rows[0]
	if err := a.MarkSeen(u.ID); err != nil {
		t.Fatalf("MarkSeen = %v", err)
	}
	v, _ := a.Conversation(u.ID)
	after, _ := a.Status()
	if v.Row.Unread != 0 || after.TotalUnread != before.TotalUnread-u.Unread {
		t.Fatalf("after MarkSeen: row unread %d, total %d (was %d, row had %d)", v.Row.Unread, after.TotalUnread, before.TotalUnread, u.Unread)
	}

	// Search finds the note.
	deadline := time.Now().Add(10 * time.Second)
	for {
		hits, _ := a.Search("pro plan", 10)
		if len(hits) > 0 && hits[0].Kind == "note" && hits[0].Conv == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Search(pro plan) = %+v; want the note", hits)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Attributes are typed by the demo's definitions.
	if err := a.SetAttributes(id, map[string]any{"plan": "gold"}); wireError(err).Code != "invalid_attribute" {
		t.Fatalf("SetAttributes(plan=gold) = %v; want invalid_attribute", err)
	}
	if err := a.SetAttributes(id, map[string]any{"plan": "pro", "seats": 12.0}); err != nil {
		t.Fatalf("SetAttributes = %v", err)
	}
}

func TestDraftsAndViewsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	a := New(Config{DataDir: dir})
	a.setEmitter(newRecorder())
	if err := Start(a); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveDraft("c1", "half a reply"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveView("Urgent billing", Query{View: "open", Priority: "urgent", Tag: "billing"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveView(" ", Query{}); err == nil {
		t.Fatal("SaveView(blank name) = nil; want an error")
	}
	Stop(a)

	b := New(Config{DataDir: dir})
	b.setEmitter(newRecorder())
	if err := Start(b); err != nil {
		t.Fatal(err)
	}
	defer Stop(b)
	if d, _ := b.Draft("c1"); d != "half a reply" {
		t.Fatalf("Draft after restart = %q", d)
	}
	views, _ := b.Views()
	if len(views) != 1 || views[0].Query.Tag != "billing" {
		t.Fatalf("Views after restart = %+v", views)
	}
	if err := b.DeleteView("Urgent billing"); err != nil {
		t.Fatal(err)
	}
	if views, _ := b.Views(); len(views) != 0 {
		t.Fatalf("Views after delete = %+v", views)
	}
}

func TestErrorsCarryCodes(t *testing.T) {
	a, _ := started(t, false)
	if err := a.Send("nope", "hi"); wireError(err).Code != "no_such_conversation" {
		t.Fatalf("Send(unknown) = %v; want no_such_conversation", err)
	}
	if _, err := a.Conversation("nope"); wireError(err).Code != "not_found" {
		t.Fatalf("Conversation(unknown) = %v; want not_found", err)
	}
	if _, err := a.Inbox(Query{View: "someday"}); wireError(err).Code != "invalid" {
		t.Fatalf("Inbox(bad view) = %v; want invalid", err)
	}
	if err := a.Connect("not a url", "acme", "t"); wireError(err).Code != "invalid" {
		t.Fatalf("Connect(bad url) = %v; want invalid", err)
	}
}

func TestEventsMirrored(t *testing.T) {
	goEvents := map[string]string{}
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("events.go: %s is not a string literal", n.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				goEvents[n.Name] = v
			}
		}
	}

	src, err := os.ReadFile("../frontend/src/events.ts")
	if err != nil {
		t.Fatal(err)
	}
	tsEvents := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^export const (\w+) = ['"]([^'"]+)['"]`).FindAllStringSubmatch(string(src), -1) {
		tsEvents[m[1]] = m[2]
	}
	if len(goEvents) == 0 {
		t.Fatal("events.go declares no events")
	}
	if !reflect.DeepEqual(goEvents, tsEvents) {
		t.Fatalf("events.ts = %v; want the same as events.go = %v", tsEvents, goEvents)
	}
}

// TestStoreThatWillNotOpen: when the profile's store cannot be opened, the
// bindings say why instead of a bare "not open"; a store of a newer format
// asks for an update.
func TestStoreThatWillNotOpen(t *testing.T) {
	dir := t.TempDir()
	a := New(Config{DataDir: dir, Profile: "test"})
	a.setEmitter(newRecorder())
	// A file where the store's folder belongs: Badger cannot open it.
	if err := os.WriteFile(filepath.Join(dir, "store"), []byte("not a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Start(a); err == nil {
		Stop(a)
		t.Fatal("Start over a broken store succeeded")
	}
	t.Cleanup(func() { Stop(a) })
	_, err := a.Inbox(Query{View: "open"})
	if e := wireError(err); e.Code != "not_ready" || !strings.Contains(e.Message, "could not be opened") || !strings.Contains(e.Message, "store") {
		t.Fatalf("Inbox with no store = %v; want not_ready saying why", err)
	}
	if _, err := a.Search("x", 10); !strings.Contains(wireError(err).Message, "could not be opened") {
		t.Fatalf("Search with no store = %v; want the reason", err)
	}
	newer := notOpen(fmt.Errorf("app: open store: %w", store.ErrNewerStore))
	if newer.Code != "not_ready" || !strings.Contains(newer.Message, "newer version of Threadline") {
		t.Fatalf("a newer store: %+v", newer)
	}
}
