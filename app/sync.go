package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

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
}

func (l localAdapter) Cursor() (string, uint64, error) { return l.in.Cursor() }
func (l localAdapter) Pending() ([]conv.Event, error)  { return l.in.Pending() }
func (l localAdapter) Reset(epoch string) error        { return l.in.Reset(epoch) }
func (l localAdapter) Welcomed(w protocol.Welcome) error {
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
	return l.in.ApplyCanonical(epoch, events, upTo)
}
func (l localAdapter) Acknowledged(results []client.Outcome) error {
	return l.in.Acknowledged(results)
}

var (
	_ client.Local           = localAdapter{}
	_ client.WelcomeReceiver = localAdapter{}
)

// Settings are the profile's relay settings, as the settings view shows them.
type Settings struct {
	RelayURL  string `json:"relayUrl"`
	Workspace string `json:"workspace"`
	HasToken  bool   `json:"hasToken"`
}

// Settings returns the relay settings (never the token itself).
func (a *App) Settings() (Settings, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return Settings{RelayURL: a.prof.RelayURL, Workspace: a.prof.Workspace, HasToken: a.prof.Token != ""}, nil
}

// Connect connects the profile to a relay: it asks the relay who the token
// belongs to, then reopens the store as that agent, syncing. A local-only
// store is kept aside (store.local-<time>), never deleted: the relay's log
// replaces what the inbox shows.
func (a *App) Connect(relayURL, workspace, token string) error {
	relayURL, workspace, token = strings.TrimSpace(relayURL), strings.TrimSpace(workspace), strings.TrimSpace(token)
	if err := profile.CheckRelay(relayURL, workspace, token); err != nil {
		return &Error{Code: "invalid", Message: err.Error()}
	}
	a.mu.RLock()
	prof := a.prof
	a.mu.RUnlock()
	hc, err := relayHTTPClient(prof)
	if err != nil {
		return &Error{Code: "invalid", Message: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	who, err := probeIdentity(ctx, relayURL, workspace, agentAuth(token), hc)
	if err != nil {
		return err
	}
	wasLocal := !prof.Connected() || prof.Me.ID != who.ID || prof.Workspace != workspace || prof.RelayURL != relayURL
	prof.RelayURL, prof.Workspace, prof.Token, prof.Me = relayURL, workspace, token, who
	prof.Attributes, prof.Team = nil, nil // the relay's welcome says them
	a.stop()
	if wasLocal {
		if err := a.setStoreAside(); err != nil {
			return err
		}
	}
	if err := profile.Save(a.cfg.DataDir, prof); err != nil {
		return err
	}
	return a.open(prof)
}

// Disconnect makes the profile local-only again; the synced store is kept
// aside and a fresh local one starts.
func (a *App) Disconnect() error {
	a.mu.RLock()
	prof := a.prof
	a.mu.RUnlock()
	if !prof.Connected() {
		return nil
	}
	a.stop()
	if err := a.setStoreAside(); err != nil {
		return err
	}
	prof.RelayURL, prof.Workspace, prof.Token = "", "", ""
	prof.Me = conv.Participant{ID: "agent:me", Role: conv.RoleAgent, Name: "You"}
	if err := profile.Save(a.cfg.DataDir, prof); err != nil {
		return err
	}
	return a.open(prof)
}

func (a *App) setStoreAside() error {
	dir := a.storeDir()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	aside := fmt.Sprintf("%s.aside-%s", dir, time.Now().UTC().Format("20060102T150405"))
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("app: keep the old store aside: %w", err)
	}
	a.log.Info("old store kept aside", "dir", aside)
	return nil
}

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

// certHint says how to trust a relay whose certificate failed to verify.
func certHint(errText string) string {
	if !strings.Contains(errText, "x509:") {
		return ""
	}
	return " (the relay's certificate is not trusted on this computer: set " + profile.RelayCAEnv +
		", or relayCA in the profile's " + profile.FileName + ", to the PEM file of its certificate or of the CA that signed it)"
}

// probeIdentity says hello once to learn who token speaks for, with a
// throwaway in-memory device, and hangs up.
func probeIdentity(ctx context.Context, relayURL, workspace string, auth protocol.Auth, hc *http.Client) (conv.Participant, error) {
	mem := client.NewMemory(conv.Participant{ID: "agent:probe", Role: conv.RoleAgent}, uuid.NewString())
	cl, err := client.New(client.Options{URL: relayURL, Workspace: workspace, Device: mem.Device(), Auth: auth, Local: mem, HTTPClient: hc})
	if err != nil {
		return conv.Participant{}, &Error{Code: "invalid", Message: err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = cl.Run(ctx) }()
	defer cl.Close()
	for {
		ch := cl.Watch()
		s := cl.Status()
		switch {
		case s.Identity.ID != "":
			return s.Identity, nil
		case s.State == client.StateFailed:
			code := s.Code
			if code == "" {
				code = "unauthorized"
			}
			return conv.Participant{}, &Error{Code: code, Message: "the relay refused: " + s.Error}
		case certHint(s.Error) != "":
			// An untrusted certificate stays untrusted: say so now, not
			// after the retries.
			return conv.Participant{}, &Error{Code: "offline", Message: "could not reach the relay: " + s.Error + certHint(s.Error)}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			msg := "could not reach the relay"
			if s.Error != "" {
				msg += ": " + s.Error + certHint(s.Error)
			}
			return conv.Participant{}, &Error{Code: "offline", Message: msg}
		}
	}
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
