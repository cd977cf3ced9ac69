package profile

import (
	"os"
	"path/filepath"
	"testing"
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
