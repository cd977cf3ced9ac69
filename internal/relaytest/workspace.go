package relaytest

import (
	"strings"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// The standard test workspace: agents ana and ben, the assistant faq, and
// the attributes of Attributes. relayrun.Config builds its relay.Config.
const (
	Workspace     = "acme"
	WorkspaceName = "Acme Hosting"
	Secret        = "acme-identity-secret-0123456789" // the identity secret
	TokAna        = "token-ana-0123456789abcdef"      // agent ana's token
	TokBen        = "token-ben-0123456789abcdef"      // agent ben's token
	TokFAQ        = "token-faq-0123456789abcdef"      // assistant faq's token
)

// Member is an agent or assistant of the standard workspace.
type Member struct{ ID, Name, Token string }

// Agents returns the standard workspace's agents, ana and ben.
func Agents() []Member {
	return []Member{{"ana", "Ana", TokAna}, {"ben", "Ben", TokBen}}
}

// Assistants returns the standard workspace's assistants: faq.
func Assistants() []Member { return []Member{{"faq", "FAQ bot", TokFAQ}} }

// Attributes returns the standard workspace's attribute definitions, one of
// each type: plan (enum free|pro), seats (number), vip (bool), company
// (string). The slice is new on each call: a test may change it.
func Attributes() []conv.AttributeDef {
	return []conv.AttributeDef{
		{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}},
		{Key: "seats", Type: conv.AttrNumber},
		{Key: "vip", Type: conv.AttrBool},
		{Key: "company", Type: conv.AttrString},
	}
}

// ContactHash is the hash a website's backend gives contact id of the
// standard workspace (protocol.ContactHash with Secret).
func ContactHash(id string) string { return protocol.ContactHash(Secret, id) }

// AgentAuth is an agent's hello auth with token.
func AgentAuth(token string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthAgent, Token: token}
}

// AssistantAuth is an assistant's hello auth with token.
func AssistantAuth(token string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthAssistant, Token: token}
}

// ContactAuth is contact id's hello auth in the standard workspace, with
// its ContactHash.
func ContactAuth(id string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthContact, ContactID: id, Hash: ContactHash(id)}
}

// WS turns an http(s):// base URL into the ws(s):// one, without a path:
// what client.Options.URL and the desktop take (the client appends
// protocol.Path). A raw websocket.Dial needs WS(u) + protocol.Path.
func WS(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }
