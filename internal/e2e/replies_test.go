package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestSavedRepliesInBrowser drives two real apps in Chromium
// (frontend/e2e/replies.e2e.mjs), both connected to one real relay as two
// agents: the first adds a saved reply in Settings, types "/" at the start
// of the composer in a conversation with a named contact, filters, moves
// with the arrows, closes with Esc, and Enter inserts the reply with
// {{contact.name}}, {{contact.email}}, {{agent.name}} and
// {{conversation.subject}} filled (an unknown variable left as written),
// then sends it; the second agent's app gets the reply through the relay.
func TestSavedRepliesInBrowser(t *testing.T) {
	bin := requirements(t)
	relayURL := startRelay(t)
	ana := startApp(t, bin, t.TempDir())
	ben := startApp(t, bin, t.TempDir())
	artifacts := os.Getenv("THREADLINE_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	lines, err := node(t, []string{
		"THREADLINE_URL=" + ana.url,
		"THREADLINE_URL2=" + ben.url,
		"RELAY_URL=" + relayURL,
		"THREADLINE_WORKSPACE=" + workspace,
		"THREADLINE_AGENT_TOKEN=" + tokAna,
		"THREADLINE_AGENT2_TOKEN=" + tokBen,
		"THREADLINE_E2E_ARTIFACTS=" + artifacts,
	}, "frontend/e2e/replies.e2e.mjs")
	if err != nil {
		t.Fatalf("%v (screenshots in %s)", err, artifacts)
	}
	last := ""
	if len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	if !strings.Contains(last, "passed") || !strings.Contains(last, " 0 failed") {
		t.Fatalf("the browser run ended with %q; want every step passed", last)
	}
}
