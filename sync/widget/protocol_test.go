package widget

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

var update = flag.Bool("update", false, "rewrite frontend/widget/unit/protocol.json from sync/protocol")

// protocolFile is where the widget's node unit tests find the protocol's
// values: written from Protocol(), never by hand.
var protocolFile = filepath.Join(webDir, "unit", "protocol.json")

func protocolJSON(t *testing.T) []byte {
	t.Helper()
	p, err := Protocol()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestProtocolFile keeps frontend/widget/unit/protocol.json equal to what
// widget.js carries; `go test ./sync/widget/ -run TestProtocolFile -update`
// rewrites it after a change to sync/protocol.
func TestProtocolFile(t *testing.T) {
	want := protocolJSON(t)
	if *update {
		if err := os.WriteFile(protocolFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(protocolFile)
	if err != nil {
		t.Fatalf("%v (go test ./sync/widget/ -run TestProtocolFile -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what sync/protocol says; run go test ./sync/widget/ -run TestProtocolFile -update\ngot:\n%s\nwant:\n%s", protocolFile, got, want)
	}
}

// TestProtocolInBundle checks that widget.js carries sync/protocol's values
// and that no hand-made copy of them is left in the sources.
func TestProtocolInBundle(t *testing.T) {
	js, err := Bundle("")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(js, []byte("const WIDGET_CONFIG = "))
	end := bytes.Index(js[start:], []byte(";\n"))
	if start < 0 || end < 0 {
		t.Fatal("widget.js has no WIDGET_CONFIG")
	}
	var cfg struct {
		Protocol ProtocolConfig `json:"protocol"`
	}
	if err := json.Unmarshal(js[start+len("const WIDGET_CONFIG = "):start+end], &cfg); err != nil {
		t.Fatal(err)
	}
	p := cfg.Protocol
	checks := []struct {
		name      string
		got, want int64
	}{
		{"version", int64(p.Version), protocol.Version},
		{"maxFrameBytes", int64(p.MaxFrameBytes), protocol.MaxFrameBytes},
		{"maxPushEvents", int64(p.MaxPushEvents), protocol.MaxPushEvents},
		{"maxTextBytes", int64(p.MaxTextBytes), protocol.MaxTextBytes},
		{"maxTopicChars", int64(p.MaxTopicChars), protocol.MaxTopicChars},
		{"maxNameChars", int64(p.MaxNameChars), conv.MaxNameChars},
		{"maxEmailBytes", int64(p.MaxEmailBytes), conv.MaxEmailBytes},
		{"typingTtlMs", p.TypingTTLMs, protocol.TypingTTL.Milliseconds()},
		{"closeCodes.reconnect", int64(p.CloseCodes["reconnect"]), protocol.CloseReconnect},
		{"closeCodes.unauthorized", int64(p.CloseCodes["unauthorized"]), protocol.CloseUnauthorized},
		{"fatalCloseCodes.unauthorized", int64(p.FatalCloseCodes[protocol.CodeUnauthorized]), protocol.CloseUnauthorized},
		{"fatalCloseCodes.too_large", int64(p.FatalCloseCodes[protocol.CodeTooLarge]), protocol.CloseTooLarge},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("WIDGET_CONFIG.protocol.%s = %d; want %d", c.name, c.got, c.want)
		}
	}
	if p.Path != protocol.Path {
		t.Errorf("WIDGET_CONFIG.protocol.path = %q; want %q", p.Path, protocol.Path)
	}
	for c := 3000; c < 6000; c++ {
		if got := c < p.NoRetry[0] || c > p.NoRetry[1]; got != protocol.Retryable(c) {
			t.Fatalf("noRetry %v says close %d retryable=%v; protocol.Retryable says %v", p.NoRetry, c, got, protocol.Retryable(c))
		}
	}
	// The sources name no limit or close code of their own.
	for _, name := range Sources {
		src, err := fs.ReadFile(assets, "src/"+name)
		if err != nil {
			t.Fatal(err)
		}
		for _, copied := range []string{"1048576", "1024 * 1024", "32 * 1024", "32768", "4501", "4500", "4999", "6000"} {
			if bytes.Contains(src, []byte(copied)) {
				t.Errorf("src/%s contains %q: take the protocol's values from WIDGET_CONFIG.protocol", name, copied)
			}
		}
	}
}
