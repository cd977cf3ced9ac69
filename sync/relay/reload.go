package relay

import (
	"fmt"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Reload applies a new config to a running relay (the binary calls it on
// SIGHUP): each workspace's tokens, API keys, identity secret, attributes,
// assistants, allowed origins and webhooks are replaced at once, and new
// workspaces open. Sessions that stay valid keep going; a session whose
// credential the new config no longer accepts (a removed or rotated token,
// a contact hash under a changed secret, an origin no longer allowed) is
// told unauthorized and closed with 4501. A config that is not valid, or
// that drops a workspace the relay serves, is refused whole, and the old
// one keeps serving.
func (s *Server) Reload(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	in := map[string]bool{}
	for _, wc := range cfg.Workspaces {
		in[wc.ID] = true
	}
	for _, w := range s.allWorkspaces() {
		if !in[w.id] {
			return fmt.Errorf("relay: reload: workspace %s is not in the new config (removing a workspace needs a restart); keeping the old config", w.id)
		}
	}
	for _, msg := range cfg.Warnings() {
		s.lg.Warn(msg)
	}
	for _, wc := range cfg.Workspaces {
		if w := s.workspace(wc.ID); w != nil {
			w.set.Store(newSettings(wc))
			continue
		}
		w, err := newWorkspace(s, wc)
		if err != nil {
			return fmt.Errorf("relay: reload: open workspace %s: %w", wc.ID, err)
		}
		s.wsMu.Lock()
		s.workspaces[wc.ID] = w
		s.wsMu.Unlock()
		s.lg.Info("workspace open", "workspace", w.id, "epoch", w.epoch, "head", w.acknowledged())
	}
	s.hooks.sync() // webhooks added, removed or changed start or stop
	// Sessions that the new settings refuse end now.
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	closed := 0
	for _, sess := range sessions {
		if !sess.welcomed.Load() {
			continue // its hello reads the new settings
		}
		if why := sess.ws.settings().refuses(sess); why != "" {
			closed++
			s.lg.Info("session closed by reload", "workspace", sess.ws.id, "identity", sess.who.ID, "why", why)
			go sess.fatal(protocol.CodeUnauthorized, why)
		}
	}
	s.lg.Info("config reloaded", "workspaces", len(cfg.Workspaces), "sessions_closed", closed)
	return nil
}

// refuses says why st no longer accepts sess's credentials, or "".
func (st *settings) refuses(sess *session) string {
	if !st.originAllowed(sess.origin) {
		return "this workspace's chat may no longer be embedded on " + sess.origin
	}
	a := &sess.auth
	switch a.Kind {
	case protocol.AuthAgent, protocol.AuthAssistant:
		if who, ok := st.member(teamRole(a.Kind), a.Token); !ok || who.ID != sess.who.ID {
			return "this token is no longer valid"
		}
	case protocol.AuthContact:
		if !st.contactHashOK(a.ContactID, a.Hash) || conv.ContactPrefix+a.ContactID != sess.who.ID {
			return "this contact's hash is no longer valid"
		}
	}
	return ""
}
