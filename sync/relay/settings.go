package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// settings is what a workspace's config says, ready to use: who may
// authenticate and how, the attribute schema, the assistants, the allowed
// origins and the webhooks. A workspace holds one behind an atomic pointer:
// a reload (SIGHUP) swaps in a new one, and a reader uses the one it loaded
// throughout. A settings value is never modified once built.
type settings struct {
	name       string
	secret     []byte
	schema     conv.Schema
	bots       []string // the assistants' config ids, for conv.Env
	defaultBot string   // answers end users' new conversations (config id; "": none)
	members    []member
	apiKeys    []member                // who: {api:<id>, agent}
	origins    map[string]bool         // canonical origins; empty: any
	webhooks   []Webhook               // as configured, secrets resolved
	info       *protocol.WorkspaceInfo // for team sessions' welcome
}

// member is an agent, an assistant or an API key: who it is and its
// token's SHA-256.
type member struct {
	who       conv.Participant
	tokenHash [32]byte
}

// APIPrefix starts the participant id of an HTTP API key: the key
// "backend" acts as {id: "api:backend", role: "agent"} (DESIGN §9).
const APIPrefix = "api:"

func newSettings(cfg WorkspaceConfig) *settings {
	st := &settings{
		name:       cfg.Name,
		secret:     []byte(cfg.IdentitySecret),
		schema:     conv.NewSchema(cfg.Attributes),
		defaultBot: cfg.DefaultAssistant,
		webhooks:   slices.Clone(cfg.Webhooks),
	}
	for _, a := range cfg.Agents {
		st.members = append(st.members, member{
			who:       conv.Participant{ID: conv.AgentPrefix + a.ID, Role: conv.RoleAgent, Name: a.Name},
			tokenHash: tokenHash(a.Token, strings.ToLower(a.TokenSHA256)),
		})
	}
	for _, a := range cfg.Assistants {
		st.bots = append(st.bots, a.ID)
		st.members = append(st.members, member{
			who:       conv.Participant{ID: conv.AssistantPrefix + a.ID, Role: conv.RoleAssistant, Name: a.Name},
			tokenHash: tokenHash(a.Token, strings.ToLower(a.TokenSHA256)),
		})
	}
	for _, k := range cfg.APIKeys {
		st.apiKeys = append(st.apiKeys, member{
			who:       conv.Participant{ID: APIPrefix + k.ID, Role: conv.RoleAgent},
			tokenHash: tokenHash(k.Token, strings.ToLower(k.TokenSHA256)),
		})
	}
	if len(cfg.AllowedOrigins) > 0 {
		st.origins = map[string]bool{}
		for _, o := range cfg.AllowedOrigins {
			if c, err := canonicalOrigin(o); err == nil { // Validate has checked
				st.origins[c] = true
			}
		}
	}
	st.info = &protocol.WorkspaceInfo{
		ID:         cfg.ID,
		Name:       cfg.Name,
		Attributes: slices.Clone(cfg.Attributes),
		Members:    make([]conv.Participant, 0, len(st.members)),
	}
	if st.info.Attributes == nil {
		st.info.Attributes = []conv.AttributeDef{}
	}
	for i := range st.info.Attributes {
		st.info.Attributes[i].Values = slices.Clone(st.info.Attributes[i].Values)
	}
	for _, m := range st.members {
		st.info.Members = append(st.info.Members, m.who) // id, role, name: no token
	}
	return st
}

// find returns the member of ms whose token is token and whose role is
// role. It compares with every member, every time: no early exit to time.
func find(ms []member, role conv.Role, token string) (conv.Participant, bool) {
	if token == "" {
		return conv.Participant{}, false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range ms {
		if hmac.Equal(h[:], ms[i].tokenHash[:]) && ms[i].who.Role == role {
			found = i
		}
	}
	if found < 0 {
		return conv.Participant{}, false
	}
	return ms[found].who, true
}

// member returns the agent or assistant (role) whose token is token.
func (st *settings) member(role conv.Role, token string) (conv.Participant, bool) {
	return find(st.members, role, token)
}

// apiKey returns the API key's identity whose token is token.
func (st *settings) apiKey(token string) (conv.Participant, bool) {
	return find(st.apiKeys, conv.RoleAgent, token)
}

// contactHashOK reports whether hash proves contactID (DESIGN §2).
func (st *settings) contactHashOK(contactID, hash string) bool {
	want := protocol.ContactHash(string(st.secret), contactID)
	return hmac.Equal([]byte(strings.ToLower(hash)), []byte(want))
}

// originAllowed reports whether a browser page of origin (an Origin
// header; "" when the client sent none) may say hello.
func (st *settings) originAllowed(origin string) bool {
	if origin == "" || len(st.origins) == 0 {
		return true
	}
	c, err := canonicalOrigin(origin)
	return err == nil && st.origins[c]
}

// env is what conv.Apply needs of the workspace; next is the seq the first
// resulting event takes.
func (st *settings) env(next uint64) conv.Env {
	return conv.Env{Schema: st.schema, Assistants: st.bots, DefaultAssistant: st.defaultBot, NextSeq: next}
}
