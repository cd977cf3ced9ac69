package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// Connecting never hides work. A profile shows one inbox, in a folder of its
// own (profile.Store), and no inbox is ever deleted or moved:
//
//   - The first connect of a local inbox sends the conversations its user
//     made (inbox.LocalWork) to the relay, as pending events of the identity
//     the relay gives, in the relay's inbox (a new folder); the local inbox,
//     sample conversations and all, is kept aside (profile.Aside), and
//     UseLocalInbox brings it back.
//   - Disconnect keeps the relay's inbox, readable and writable offline
//     (profile.Paused); what is made meanwhile is sent at the next Connect.
//   - Connecting to another relay, workspace or identity keeps the inbox
//     shown aside, with what it has not sent, and brings back the one kept
//     for the new account, if any.
//
// ConnectPlan says which of these a Connect would do, so the UI can ask
// first. A switch is one atomic write of profile.json after the new inbox
// is ready: a crash leaves the old profile with its inbox, or the new one.

// stateDisconnected is the sync state of a relay's inbox the user
// disconnected: kept, readable and writable, not syncing.
const stateDisconnected client.State = "disconnected"

// connectTimeout bounds Connect's wait for the relay's welcome; a refused
// connection or an unknown host fails at once.
const connectTimeout = 10 * time.Second

// Settings are the profile's relay settings, as the settings view shows them.
type Settings struct {
	RelayURL  string `json:"relayUrl"`
	Workspace string `json:"workspace"`
	HasToken  bool   `json:"hasToken"`
	// Connected: syncing with the relay. Disconnected: the inbox shown is
	// the relay's, kept after Disconnect, and does not sync.
	Connected    bool             `json:"connected"`
	Disconnected bool             `json:"disconnected"`
	Me           conv.Participant `json:"me"`
	// LocalInbox is the local inbox kept aside at the first connect, which
	// UseLocalInbox brings back; nil when there is none.
	LocalInbox *KeptInbox `json:"localInbox,omitempty"`
}

// KeptInbox describes an inbox kept aside on this computer.
type KeptInbox struct {
	Conversations int   `json:"conversations"`
	Sent          int   `json:"sent"`              // of them, carried to the relay
	Pending       int   `json:"pending,omitempty"` // changes not sent yet
	At            int64 `json:"at"`                // when it was set aside, Unix ms
}

// Settings returns the relay settings (never the token itself). A local
// profile that was connected before shows that relay, ready to connect
// again with its saved token.
func (a *App) Settings() (Settings, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	p := a.prof
	s := Settings{RelayURL: p.RelayURL, Workspace: p.Workspace, HasToken: p.Token != "",
		Connected: p.Connected(), Disconnected: p.Synced() && !p.Connected(), Me: p.Me}
	if !p.Synced() {
		for i := len(p.Aside) - 1; i >= 0; i-- {
			if k := p.Aside[i]; !k.Local() {
				s.RelayURL, s.Workspace, s.HasToken = k.RelayURL, k.Workspace, k.Token != ""
				break
			}
		}
	}
	if i := p.FindAside("", "", ""); i >= 0 {
		k := p.Aside[i]
		s.LocalInbox = &KeptInbox{Conversations: k.Conversations, Sent: k.Sent, At: k.At}
	}
	return s, nil
}

// Plan actions: what a Connect would do.
const (
	PlanFirst  = "first"  // a local inbox connects: its user's conversations go up, the rest is kept aside
	PlanResume = "resume" // the relay's inbox shown syncs again: what waits is sent
	PlanSwitch = "switch" // another relay or workspace: the inbox shown is kept aside
)

// ConnectPlan is what Connect would do with some settings, said before
// anything changes.
type ConnectPlan struct {
	Action string `json:"action"` // PlanFirst, PlanResume or PlanSwitch
	// Send: conversations made on this computer that go up to the relay
	// (first connect).
	Send int `json:"send"`
	// Keep: conversations that stay on this computer, kept aside (first
	// connect: the sample ones and any not made here; switch: those of the
	// inbox shown).
	Keep int `json:"keep"`
	// Pending: changes not sent yet: sent now (resume), or kept with the
	// inbox set aside (switch).
	Pending int `json:"pending"`
	// Demo: the conversations kept are the sample inbox's.
	Demo bool `json:"demo"`
	// Returns: this relay's inbox, kept on this computer from before,
	// comes back (its own pending changes are sent).
	Returns bool `json:"returns"`
	// From: the relay and workspace of the inbox shown (switch).
	FromRelay     string `json:"fromRelay,omitempty"`
	FromWorkspace string `json:"fromWorkspace,omitempty"`
}

// ConnectPlan says what Connect(relayURL, workspace, …) would do, reading
// only this computer: the relay is not asked (the identity a token stands
// for is learnt by Connect; a token of another agent makes it a switch).
func (a *App) ConnectPlan(relayURL, workspace string) (ConnectPlan, error) {
	in, err := a.current()
	if err != nil {
		return ConnectPlan{}, err
	}
	a.mu.RLock()
	prof := a.prof
	a.mu.RUnlock()
	relayURL, workspace = strings.TrimSpace(relayURL), strings.TrimSpace(workspace)
	pending := pendingCount(in)
	switch {
	case prof.Synced() && profile.SameRelay(prof.RelayURL, prof.Workspace, relayURL, workspace):
		return ConnectPlan{Action: PlanResume, Pending: pending}, nil
	case prof.Synced():
		n, err := conversationCount(in)
		if err != nil {
			return ConnectPlan{}, wireError(err)
		}
		return ConnectPlan{Action: PlanSwitch, Keep: n, Pending: pending, Returns: prof.FindAside(relayURL, workspace, "") >= 0,
			FromRelay: prof.RelayURL, FromWorkspace: prof.Workspace}, nil
	}
	w, err := in.LocalWork()
	if err != nil {
		return ConnectPlan{}, wireError(err)
	}
	return ConnectPlan{Action: PlanFirst, Send: len(w.Conversations), Keep: w.Others(), Demo: a.cfg.Demo && w.Others() > 0,
		Returns: prof.FindAside(relayURL, workspace, "") >= 0}, nil
}

// Connect connects the profile to a relay: it asks the relay who the token
// belongs to (an empty token: the one saved for that relay's workspace),
// then shows that identity's inbox, syncing, as ConnectPlan says. It fails
// at once, with a sentence for people, when the relay cannot be reached or
// refuses, and then changes nothing.
func (a *App) Connect(relayURL, workspace, token string) error {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	relayURL, workspace, token = strings.TrimSpace(relayURL), strings.TrimSpace(workspace), strings.TrimSpace(token)
	a.mu.RLock()
	prof, running := a.prof, a.sync != nil
	a.mu.RUnlock()
	if token == "" {
		token = prof.SavedToken(relayURL, workspace)
	}
	if err := profile.CheckRelay(relayURL, workspace, token); err != nil {
		return &Error{Code: "invalid", Message: err.Error()}
	}
	hc, err := relayHTTPClient(prof)
	if err != nil {
		return &Error{Code: "invalid", Message: err.Error()}
	}
	// The probe says hello as this device when nothing else does (local, or
	// disconnected), to learn the last mid the relay processed for it.
	device := prof.Device
	if running {
		device = uuid.NewString()
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	who, lastMid, wsInfo, err := probeIdentity(ctx, relayURL, workspace, token, device, hc)
	if err != nil {
		return err
	}

	next := prof
	next.Aside = slices.Clone(prof.Aside)
	now := time.Now()
	var carry func() error // fills the new inbox before it opens
	switch {
	case prof.Synced() && profile.SameRelay(prof.RelayURL, prof.Workspace, relayURL, workspace) && prof.Me.ID == who.ID:
		// The same inbox again: what waits goes up.
		next.RelayURL, next.Token, next.Paused, next.Me = relayURL, token, false, who

	case prof.Synced():
		in, err := a.current()
		if err != nil {
			return err
		}
		n, err := conversationCount(in)
		if err != nil {
			return wireError(err)
		}
		next.SetAside(n, 0, pendingCount(in), now.UnixMilli())
		a.useRelayInbox(&next, relayURL, workspace, token, who, now)

	default:
		in, err := a.current()
		if err != nil {
			return err
		}
		work, err := in.LocalWork()
		if err != nil {
			return wireError(err)
		}
		a.useRelayInbox(&next, relayURL, workspace, token, who, now)
		dir := filepath.Join(a.cfg.DataDir, next.StoreDir())
		carry = func() error {
			added, err := carryInto(dir, next, work, lastMid, wsInfo, a)
			if err != nil {
				return err
			}
			a.log.Info("local work carried to the relay's inbox", "conversations", len(added), "kept_aside", work.Total)
			if work.Total > 0 { // an empty local inbox is not worth going back to
				next.Aside = append(next.Aside, profile.Aside{
					Store: prof.StoreDir(), Me: prof.Me, Attributes: prof.Attributes, Team: prof.Team,
					Conversations: work.Total, Sent: len(added), At: now.UnixMilli(),
				})
			}
			return nil
		}
	}
	return a.switchTo(prof, &next, carry)
}

// useRelayInbox points p at the inbox of the relay's workspace as who: the
// one kept aside for it, or a new folder.
func (a *App) useRelayInbox(p *profile.Profile, relayURL, workspace, token string, who conv.Participant, now time.Time) {
	if i := p.FindAside(relayURL, workspace, who.ID); i >= 0 {
		p.Restore(i)
	} else {
		p.Store = p.NewStore(a.cfg.DataDir, workspace, now)
		p.Attributes, p.Team = nil, nil // the relay's welcome says them
	}
	p.RelayURL, p.Workspace, p.Token, p.Me, p.Paused = relayURL, workspace, token, who, false
}

// carryInto opens the relay's inbox in dir as prof's identity and carries
// the local work into it as pending events, fitted to the workspace's
// attribute definitions when the relay said them (ws).
func carryInto(dir string, prof profile.Profile, work inbox.LocalWork, lastMid uint64, ws *protocol.WorkspaceInfo, a *App) ([]string, error) {
	if len(work.Conversations) == 0 && len(work.Replies) == 0 {
		return nil, nil
	}
	var schema conv.Schema
	if ws != nil {
		schema = conv.NewSchema(ws.Attributes)
	}
	in, err := inbox.Open(dir, inbox.Options{Me: prof.Me, Device: prof.Device, Schema: schema, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("app: open the relay's inbox: %w", err)
	}
	added, err := in.Carry(work, lastMid)
	if cerr := in.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return added, fmt.Errorf("app: carry the local conversations: %w", err)
	}
	return added, nil
}

// switchTo stops what runs, prepares (may be nil), saves *next and opens
// it. If anything fails, it opens from again and returns the error:
// nothing has changed.
func (a *App) switchTo(from profile.Profile, next *profile.Profile, prepare func() error) error {
	done := make(chan struct{})
	a.mu.Lock()
	a.switching = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.switching = nil
		a.mu.Unlock()
		close(done)
	}()
	a.stop()
	err := func() error {
		if prepare != nil {
			if err := prepare(); err != nil {
				return err
			}
		}
		if err := profile.Save(a.cfg.DataDir, *next); err != nil {
			return err
		}
		return a.open(*next)
	}()
	if err == nil {
		return nil
	}
	a.log.Error("switch inbox; back to the one before", "err", err)
	if serr := profile.Save(a.cfg.DataDir, from); serr != nil {
		a.log.Error("restore the profile", "err", serr)
	}
	if oerr := a.open(from); oerr != nil {
		a.log.Error("reopen the inbox", "err", oerr)
	}
	return &Error{Code: "error", Message: "could not switch the inbox (nothing changed): " + err.Error()}
}

// Disconnect stops syncing and keeps the relay's inbox: readable and
// writable offline; what is made meanwhile is sent at the next Connect.
func (a *App) Disconnect() error {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	a.mu.RLock()
	prof := a.prof
	a.mu.RUnlock()
	if !prof.Connected() {
		return nil
	}
	next := prof
	next.Paused = true
	return a.switchTo(prof, &next, nil)
}

// UseLocalInbox brings back the local inbox kept aside at the first
// connect. The relay's inbox shown is kept aside in turn, with what it has
// not sent: connecting to that relay again brings it back.
func (a *App) UseLocalInbox() error {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	a.mu.RLock()
	prof := a.prof
	a.mu.RUnlock()
	i := prof.FindAside("", "", "")
	if i < 0 {
		return &Error{Code: "not_found", Message: "no local inbox is kept on this computer"}
	}
	if _, err := os.Stat(filepath.Join(a.cfg.DataDir, prof.Aside[i].Store)); err != nil {
		return &Error{Code: "not_found", Message: "the local inbox kept aside is gone from " + filepath.Join(a.cfg.DataDir, prof.Aside[i].Store)}
	}
	next := prof
	next.Aside = slices.Clone(prof.Aside)
	if prof.Synced() {
		in, err := a.current()
		if err != nil {
			return err
		}
		n, err := conversationCount(in)
		if err != nil {
			return wireError(err)
		}
		next.SetAside(n, 0, pendingCount(in), time.Now().UnixMilli())
		i = next.FindAside("", "", "")
	}
	next.Restore(i)
	return a.switchTo(prof, &next, nil)
}

// pendingCount counts the changes in's outbox has not sent (nor had
// refused).
func pendingCount(in *inbox.Inbox) int {
	n := 0
	for _, o := range in.Outbox(nil) {
		if o.State != inbox.StateFailed && o.Event.Cause == "" {
			n++
		}
	}
	return n
}

// conversationCount counts in's conversations.
func conversationCount(in *inbox.Inbox) (int, error) {
	n, cursor := 0, ""
	for {
		p, err := in.InboxPage(inbox.Filter{}, inbox.ByActivity, cursor, 500, nil)
		if err != nil {
			return n, err
		}
		n += len(p.Rows)
		if p.Next == "" {
			return n, nil
		}
		cursor = p.Next
	}
}

// probeIdentity says hello once as device, with a throwaway in-memory
// store, to learn who token speaks for, the last mid the relay processed for
// device and what the welcome says of the workspace, and hangs up. A
// connection that fails, or a refusal, ends it at once with a sentence for
// people (relayProblem).
func probeIdentity(ctx context.Context, relayURL, workspace, token, device string, hc *http.Client) (conv.Participant, uint64, *protocol.WorkspaceInfo, error) {
	mem := &probeLocal{Memory: client.NewMemory(conv.Participant{ID: "agent:probe", Role: conv.RoleAgent}, device)}
	cl, err := client.New(client.Options{URL: relayURL, Workspace: workspace, Device: device, Auth: agentAuth(token), Local: mem,
		HTTPClient: hc, HandshakeTimeout: connectTimeout})
	if err != nil {
		return conv.Participant{}, 0, nil, &Error{Code: "invalid", Message: err.Error()}
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
			return s.Identity, s.LastMid, mem.workspace(), nil
		case s.State == client.StateFailed || (s.State == client.StateOffline && s.Attempt > 0):
			return conv.Participant{}, 0, nil, relayProblem(relayURL, workspace, s)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.Error = "timeout: no answer"
			return conv.Participant{}, 0, nil, relayProblem(relayURL, workspace, s)
		}
	}
}

// probeLocal is the probe's store: a Memory that keeps what the welcome
// says of the workspace.
type probeLocal struct {
	*client.Memory
	mu sync.Mutex
	ws *protocol.WorkspaceInfo
}

func (p *probeLocal) Welcomed(w protocol.Welcome) error {
	p.mu.Lock()
	p.ws = w.Workspace
	p.mu.Unlock()
	return p.Memory.Welcomed(w)
}

func (p *probeLocal) workspace() *protocol.WorkspaceInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ws
}
