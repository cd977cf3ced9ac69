package app

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// stateLocal is the sync state of a profile with no relay.
const stateLocal client.State = "local"

type typingFrame = protocol.Typing

func agentAuth(token string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthAgent, Token: token}
}

// localAdapter lets the sync client drive the inbox: the inbox, which never
// imports sync, takes the welcome's identity and last mid as plain values;
// what the welcome says of the workspace (attribute definitions, the team)
// goes to the profile.
type localAdapter struct {
	in      *inbox.Inbox
	learned func(*protocol.WorkspaceInfo)
	files   *fileStore         // the bytes of attached files, for upload (files.go)
	token   func(string)       // keeps the welcome's fileToken, for downloads
	applied func([]conv.Event) // told the canonical events applied (desktop notifications)
}

func (l localAdapter) Cursor() (string, uint64, error) { return l.in.Cursor() }
func (l localAdapter) Pending() ([]conv.Event, error)  { return l.in.Pending() }
func (l localAdapter) Reset(epoch string) error        { return l.in.Reset(epoch) }
func (l localAdapter) Welcomed(w protocol.Welcome) error {
	if l.token != nil {
		l.token(w.FileToken)
	}
	if w.Workspace != nil && l.learned != nil {
		l.learned(w.Workspace)
	}
	return l.in.Welcomed(w.Identity, w.LastMid)
}

// learnWorkspace keeps the workspace's attribute definitions and team in
// the profile, so the side panel types its inputs and the assign list names
// the team, offline too. The inbox's own check follows at the next start.
func (a *App) learnWorkspace(w *protocol.WorkspaceInfo) {
	a.mu.Lock()
	prof := a.prof
	prof.Attributes, prof.Team = w.Attributes, w.Members
	if prof.Attributes == nil {
		prof.Attributes = []conv.AttributeDef{}
	}
	a.prof = prof
	a.mu.Unlock()
	if err := profile.Save(a.cfg.DataDir, prof); err != nil {
		a.log.Warn("save the workspace's definitions", "err", err)
	}
}
func (l localAdapter) ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error {
	if err := l.in.ApplyCanonical(epoch, events, upTo); err != nil {
		return err
	}
	if l.applied != nil {
		l.applied(events)
	}
	return nil
}
func (l localAdapter) Acknowledged(results []client.Outcome) error {
	return l.in.Acknowledged(results)
}

var (
	_ client.Local           = localAdapter{}
	_ client.WelcomeReceiver = localAdapter{}
)

// relayHTTPClient is the client for the relay's WebSocket handshake: nil
// (Go's default, the system's roots) unless a CA file is set
// (profile.RelayCAEnv or the profile's relayCA), for a wss:// relay with a
// self-signed or private-CA certificate.
func relayHTTPClient(prof profile.Profile) (*http.Client, error) {
	file := prof.RelayCAFile(os.Getenv)
	if file == "" {
		return nil, nil
	}
	roots, err := profile.RelayRoots(file)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// Typing tells the others the local user is (or stopped) typing in a conversation.
func (a *App) Typing(convID string, on bool) error {
	a.mu.RLock()
	cl := a.sync
	a.mu.RUnlock()
	if cl == nil {
		return nil // local-only: nobody to tell
	}
	if err := cl.Typing(convID, on); err != nil && !errors.Is(err, client.ErrOffline) {
		return err
	}
	return nil
}
