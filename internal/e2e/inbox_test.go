package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestInboxInBrowser drives the real app in Chromium (frontend/e2e/inbox.e2e.mjs):
// the first run says what Threadline is; a conversation made while local-only
// goes up to the relay when it connects the app through the Settings dialog; then it
// sends a reply (pending, then sent), adds a note (distinct), attaches an image
// (a script refused in words first, the text kept; the image stored with a
// progress bar, uploaded to the relay before its message, shown as a
// thumbnail that opens a viewer), starts and ends
// a thread, resolves and reopens, finds the note by search, sees a second
// agent's message arrive live through the relay; a second agent's note leaves a
// conversation read and where it was, its contact's message (through the relay,
// as the widget) marks it unread, moves it up, shows the same number in the
// sidebar and the list header, and a New messages divider above it on open, and
// the badge clears; z snoozes it into Snoozed with its wake time, and the
// contact writing wakes it back into All open; three rows chosen with a
// Shift-click are resolved at once. Then a contact and a visitor write through the relay
// as the web widget would: the contact's name and email (contact.updated)
// show in its row, header and timeline, never its id, and a visitor who
// identifies shows as one name in the whole timeline. Last, it disconnects (the
// inbox stays readable and writable, a reply waits) and connects again with the
// token field left empty: the reply goes up.
func TestInboxInBrowser(t *testing.T) {
	bin := requirements(t)
	relayURL := startRelay(t)
	a := startApp(t, bin, t.TempDir())
	runBrowserScript(t, "frontend/e2e/inbox.e2e.mjs",
		"THREADLINE_URL="+a.url,
		"RELAY_URL="+relayURL,
		"THREADLINE_E2E_IDENTITY_SECRET="+identitySecret,
	)
}

// runBrowserScript runs a browser script of frontend/e2e with node, with env
// added to the workspace and both agents' tokens and
// THREADLINE_E2E_ARTIFACTS (its screenshots: that folder, else a temporary
// one), and fails t unless it ends with every step passed.
func runBrowserScript(t *testing.T, script string, env ...string) {
	t.Helper()
	artifacts := os.Getenv("THREADLINE_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	lines, err := node(t, append(env,
		"THREADLINE_WORKSPACE="+workspace,
		"THREADLINE_AGENT_TOKEN="+tokAna,
		"THREADLINE_AGENT2_TOKEN="+tokBen,
		"THREADLINE_E2E_ARTIFACTS="+artifacts,
	), script)
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
