package relay

// The hello: authenticating a session (tokens, contact hashes, visitor
// tokens), its welcome, and the writes a hello makes (a new visitor, an
// identification, a profile).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// hello authenticates the session and starts its catch-up. It reports
// whether the session must end.
func (s *session) hello(f *inFrame) bool {
	if f.Protocol != protocol.Version {
		s.fatal(protocol.CodeUnsupportedProtocol, fmt.Sprintf("this relay serves protocol %d", protocol.Version))
		return true
	}
	w := s.srv.workspace(f.Workspace)
	if w == nil {
		s.fatal(protocol.CodeUnknownWorkspace, "no such workspace here")
		return true
	}
	if !w.settings().originAllowed(s.origin) {
		s.srv.lg.Info("hello refused", "workspace", w.id, "kind", f.Auth.Kind, "remote", s.remote, "why", "origin not allowed", "origin", s.origin)
		s.fatal(protocol.CodeUnauthorized, "this workspace's chat may not be embedded on "+s.origin)
		return true
	}
	if f.Device == "" || len(f.Device) > conv.MaxIDChars {
		s.refuse(protocol.CodeBadFrame, fmt.Sprintf("hello needs a device id of 1–%d characters", conv.MaxIDChars))
		return false
	}
	s.ws, s.device = w, f.Device
	who, visitorToken, identify, msg := s.authenticate(&f.Auth)
	if msg != "" {
		s.srv.lg.Info("hello refused", "workspace", w.id, "kind", f.Auth.Kind, "remote", s.remote, "why", msg)
		s.fatal(protocol.CodeUnauthorized, msg)
		return true
	}
	s.who, s.auth = who, f.Auth

	// A contact's device that was a visitor keeps that visitor's mids: it
	// shows the visitor token when it identifies, and the relay records
	// which visitor the device was, for its later hellos without it.
	var (
		alias string
		err   error
	)
	if who.Role == conv.RoleContact {
		if alias, err = s.srv.log.Alias(w.id, who.ID, s.device); err != nil {
			return s.unavailable(err)
		}
	}
	switch {
	case f.Auth.Kind == protocol.AuthVisitor && visitorToken != "":
		err = w.submit(&request{kind: reqVisitor, visitor: eventlog.VisitorToken{Hash: sha256.Sum256([]byte(visitorToken)), ID: who.ID}})
	case identify.ID != "":
		r := &request{kind: reqIdentify, visitorID: identify.ID, visitor: identify, contact: who, device: s.device}
		if alias != identify.ID {
			r.alias = identify.ID
		}
		alias = identify.ID
		if err = w.submit(r); err == nil && len(r.identified) > 0 {
			s.srv.lg.Info("visitor identified", "workspace", w.id, "contact", who.ID, "conversations", len(r.identified))
		}
	}
	if p := helloProfile(who, f.Auth.Email); err == nil && who.IsEndUser() && p != (profile{}) {
		err = w.submit(&request{kind: reqProfile, contact: who, profile: p})
	}
	if err != nil {
		return s.unavailable(err)
	}
	s.alias = alias

	lastMid, err := s.srv.log.LastMid(w.id, who.ID, s.device)
	if err != nil {
		return s.unavailable(err)
	}
	if s.alias != "" {
		// What this device pushed as the visitor it was has outcomes too.
		vm, err := s.srv.log.LastMid(w.id, s.alias, s.device)
		if err != nil {
			return s.unavailable(err)
		}
		lastMid = max(lastMid, vm)
	}
	// Everything acknowledged to anyone is in the backlog: a push is
	// acknowledged once durable and readable a moment later (the embedded
	// log commits to Badger after its journal's sync), and a welcome said
	// "backlog 0" to a device that connected in between.
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	head := w.readableUpTo(rctx, w.acknowledged())
	cancel()
	start := f.Cursor.Seq
	if f.Cursor.Epoch != w.epoch {
		start = 0 // another log (or none yet): everything from seq 1
	}
	start = min(start, head)
	if identify.ID != "" {
		// The device's cursor is a visitor's until it has caught up as this
		// contact: the first time it says hello as the contact, and again
		// after a first try that ended before the device got its backlog
		// (the identification is recorded by then, but the cursor is still
		// the visitor's: below identify.Seq). Then the contact's other
		// conversations come whole. Resending what a device holds costs a
		// backlog; skipping it loses events for good.
		s.fresh = identify.Contact != who.ID || start < identify.Seq
	}
	welcome := protocol.Welcome{
		Type:         protocol.TypeWelcome,
		Identity:     who,
		Epoch:        w.epoch,
		Head:         head,
		Backlog:      head - start,
		LastMid:      lastMid,
		VisitorToken: visitorToken,
		FileToken:    s.srv.files.sessionToken(w, who),
	}
	s.pos = start
	if who.IsTeam() {
		welcome.Workspace = w.settings().info // agents and assistants only: never the roster or schema to end users
	} else {
		plan, err := s.planFor(start, head)
		s.fresh = false // for the first range only
		if err != nil {
			return s.unavailable(err)
		}
		s.plan, s.planTo = plan, head
		welcome.Backlog = uint64(len(plan))
		if len(plan) > 0 {
			welcome.Head = plan[len(plan)-1]
		} else if welcome.Head, err = s.lastVisible(start); err != nil {
			return s.unavailable(err)
		}
	}
	s.welcomed.Store(true)
	s.srv.m.sessions.Add(1)
	s.mu.Lock()
	s.catching = true
	if !s.closing {
		s.queue = append(s.queue, protocol.WelcomeFrame(welcome))
		s.kickLocked()
	}
	s.mu.Unlock()
	s.srv.lg.Debug("welcome", "workspace", w.id, "identity", who.ID, "device", s.device, "backlog", welcome.Backlog)
	return false
}

// unavailable ends a session the log cannot serve now; the client retries.
func (s *session) unavailable(err error) bool {
	if errors.Is(err, errStopped) {
		s.closeWith(protocol.CloseShuttingDown, "relay shutting down")
		return true
	}
	s.srv.lg.Error("session refused: log unavailable", "err", err)
	s.closeWith(protocol.CloseReconnect, "log unavailable")
	return true
}

// authenticate checks a hello's auth. It returns the identity, a new
// visitor token to hand out, the visitor id a contact identifies, or a
// message saying why it is refused.
func (s *session) authenticate(a *protocol.Auth) (who conv.Participant, newToken string, identify eventlog.VisitorToken, refused string) {
	w := s.ws
	st := w.settings()
	switch a.Kind {
	case protocol.AuthAgent, protocol.AuthAssistant:
		if who, ok := st.member(teamRole(a.Kind), a.Token); ok {
			return who, "", eventlog.VisitorToken{}, ""
		}
		return who, "", eventlog.VisitorToken{}, "bad token"

	case protocol.AuthContact:
		id := conv.ContactPrefix + a.ContactID
		if a.ContactID == "" || len(id) > conv.MaxIDChars {
			return who, "", eventlog.VisitorToken{}, "contactId must be 1–120 characters"
		}
		if !st.contactHashOK(a.ContactID, a.Hash) {
			return who, "", eventlog.VisitorToken{}, "wrong contact hash"
		}
		who = conv.Participant{ID: id, Role: conv.RoleContact, Name: truncate(a.Name, conv.MaxNameChars)}
		if a.VisitorToken != "" {
			vt, ok, err := s.srv.log.Visitor(w.id, sha256.Sum256([]byte(a.VisitorToken)))
			if err != nil {
				return who, "", eventlog.VisitorToken{}, "visitor lookup failed"
			}
			if !ok {
				return who, "", eventlog.VisitorToken{}, "unknown visitor token"
			}
			identify = vt
		}
		return who, "", identify, ""

	case protocol.AuthVisitor:
		if a.VisitorToken == "" {
			var b [32]byte
			_, _ = rand.Read(b[:])
			return conv.Participant{ID: conv.VisitorPrefix + uuid.NewString(), Role: conv.RoleVisitor, Name: truncate(a.Name, conv.MaxNameChars)},
				base64.RawURLEncoding.EncodeToString(b[:]), eventlog.VisitorToken{}, ""
		}
		vt, ok, err := s.srv.log.Visitor(w.id, sha256.Sum256([]byte(a.VisitorToken)))
		if err != nil {
			return who, "", eventlog.VisitorToken{}, "visitor lookup failed"
		}
		if !ok {
			return who, "", eventlog.VisitorToken{}, "unknown visitor token"
		}
		return conv.Participant{ID: vt.ID, Role: conv.RoleVisitor, Name: truncate(a.Name, conv.MaxNameChars)}, "", eventlog.VisitorToken{}, ""
	}
	return who, "", eventlog.VisitorToken{}, fmt.Sprintf("unknown auth kind %q", a.Kind)
}

// teamRole is the role an agent or assistant hello authenticates as.
func teamRole(kind string) conv.Role {
	if kind == protocol.AuthAssistant {
		return conv.RoleAssistant
	}
	return conv.RoleAgent
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
