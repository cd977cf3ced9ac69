package profile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
)

func TestLoadCreatesThenKeeps(t *testing.T) {
	dir := t.TempDir()
	p, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(new) = %v", err)
	}
	if p.Device == "" || p.Me.ID != "agent:me" || p.Connected() {
		t.Fatalf("new profile = %+v; want a device id, agent:me, local-only", p)
	}
	p.RelayURL, p.Workspace, p.Token = "ws://127.0.0.1:8470", "acme", "s3cret"
	if err := Save(dir, p); err != nil {
		t.Fatalf("Save = %v", err)
	}
	q, err := Load(dir)
	if err != nil || q.Device != p.Device || q.Token != "s3cret" || !q.Connected() {
		t.Fatalf("Load(saved) = %+v, %v; want %+v", q, err, p)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profile file mode = %v, %v; want 0600 (it holds a token)", st.Mode(), err)
	}
}

func TestLoadRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load(corrupt) = nil; want an error")
	}
}

func TestCheckRelay(t *testing.T) {
	cases := []struct {
		url, ws, token string
		ok             bool
	}{
		{"ws://127.0.0.1:8470", "acme", "t", true},
		{"wss://relay.example.com", "acme", "t", true},
		{"127.0.0.1:8470", "acme", "t", false},
		{"ws://", "acme", "t", false},
		{"ws://h:1", "", "t", false},
		{"ws://h:1", "acme", " ", false},
	}
	for _, c := range cases {
		if err := CheckRelay(c.url, c.ws, c.token); (err == nil) != c.ok {
			t.Errorf("CheckRelay(%q, %q, %q) = %v; want ok=%v", c.url, c.ws, c.token, err, c.ok)
		}
	}
}

func TestRelayCA(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	p := Profile{RelayCA: "/etc/acme/ca.pem"}
	if got := p.RelayCAFile(getenv); got != "/etc/acme/ca.pem" {
		t.Errorf("RelayCAFile(no %s) = %q; want the profile's", RelayCAEnv, got)
	}
	env[RelayCAEnv] = "/tmp/other.pem"
	if got := p.RelayCAFile(getenv); got != "/tmp/other.pem" {
		t.Errorf("RelayCAFile(%s set) = %q; want the variable's", RelayCAEnv, got)
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "key.txt")
	os.WriteFile(notPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	for _, f := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		if _, err := RelayRoots(f); err == nil {
			t.Errorf("RelayRoots(%s) = nil error; want one (no certificate in it)", filepath.Base(f))
		}
	}
}

// TestInboxesKeptAside: connecting sets the local inbox aside with what it
// takes to show it again; disconnecting pauses and keeps the relay's;
// restoring brings each back with its settings, and a relay's saved token
// is found for its workspace.
func TestInboxesKeptAside(t *testing.T) {
	dir := t.TempDir()
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.StoreDir() != DefaultStore || p.Synced() || p.FindAside("", "", "") != -1 {
		t.Fatalf("new profile: store %q, synced %v; want %q, local, nothing aside", p.StoreDir(), p.Synced(), DefaultStore)
	}
	p.Attributes = []conv.AttributeDef{{Key: "plan", Type: conv.AttrString}}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	next := p.NewStore(dir, "acme", at)
	if next != "store.acme-20260301T090000" {
		t.Fatalf("NewStore = %q", next)
	}
	if err := os.Mkdir(filepath.Join(dir, next), 0o700); err != nil {
		t.Fatal(err)
	}
	if again := p.NewStore(dir, "ac/me", at); again != "store.ac_me-20260301T090000" {
		t.Fatalf("NewStore(ac/me) = %q", again)
	}
	if again := p.NewStore(dir, "acme", at); again == next {
		t.Fatalf("NewStore gave %q twice", again)
	}

	p.SetAside(26, 2, 0, at.UnixMilli())
	ana := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}
	p.Store, p.RelayURL, p.Workspace, p.Token, p.Me = next, "ws://127.0.0.1:8470/", "acme", "tok-ana", ana
	if !p.Connected() || p.StoreDir() != next || len(p.Aside) != 1 || !p.Aside[0].Local() || p.Aside[0].Store != DefaultStore || p.Aside[0].Attributes == nil {
		t.Fatalf("after connecting: %+v", p)
	}
	p.Paused = true
	if p.Connected() || !p.Synced() {
		t.Fatalf("paused: Connected %v, Synced %v; want false, true", p.Connected(), p.Synced())
	}
	if err := Save(dir, p); err != nil {
		t.Fatal(err)
	}
	if p, err = Load(dir); err != nil || !p.Paused || len(p.Aside) != 1 {
		t.Fatalf("Load = %+v, %v", p, err)
	}
	if tok := p.SavedToken("ws://127.0.0.1:8470", "acme"); tok != "tok-ana" {
		t.Fatalf("SavedToken = %q; want the profile's", tok)
	}

	// Back to the local inbox: the relay's is kept, token and all.
	p.SetAside(4, 0, 1, at.UnixMilli())
	p.Restore(p.FindAside("", "", ""))
	if p.Synced() || p.StoreDir() != DefaultStore || p.Me != LocalUser || p.Attributes == nil || len(p.Aside) != 1 || p.Aside[0].Pending != 1 {
		t.Fatalf("after restoring the local inbox: %+v", p)
	}
	if tok := p.SavedToken("ws://127.0.0.1:8470", "acme"); tok != "tok-ana" {
		t.Fatalf("SavedToken from the inbox kept aside = %q", tok)
	}
	if p.FindAside("ws://127.0.0.1:8470", "acme", "agent:ben") != -1 || p.FindAside("ws://127.0.0.1:8470", "acme", "agent:ana") != 0 {
		t.Fatal("FindAside does not tell identities apart")
	}

	p.Store = "../elsewhere"
	if err := Save(dir, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load accepted a store outside the data folder")
	}
}
