package e2e

import "testing"

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
	runBrowserScript(t, "frontend/e2e/replies.e2e.mjs",
		"THREADLINE_URL="+ana.url,
		"THREADLINE_URL2="+ben.url,
		"RELAY_URL="+relayURL,
	)
}
