// Package profile keeps a desktop profile's settings: who the local user is,
// the device id, the relay it syncs with (none: local-only), the folder of
// the inbox it shows, and the other inboxes kept on the device.
//
// A profile shows one inbox, in a folder of the data folder (Store): its
// local one, or the one synced with a relay. Connecting and switching never
// delete or move an inbox: the one left is recorded in Aside, with what it
// takes to show it again, and a switch is one atomic write of the profile
// file, so a crash leaves the old profile with its inbox, or the new one.
package profile

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
)

// FileName is the settings file inside a profile's data folder.
const FileName = "profile.json"

// Profile is one desktop profile's settings. The token is a secret: the
// file is written 0600 and the token is never logged.
type Profile struct {
	// Me is the local user. Until a relay names it in its welcome, a
	// local-only profile works as "agent:me".
	Me conv.Participant `json:"me"`
	// Device names this installation in every event it makes.
	Device string `json:"device"`
	// Relay settings; an empty RelayURL means local-only.
	RelayURL  string `json:"relayUrl,omitempty"`
	Workspace string `json:"workspace,omitempty"`
	Token     string `json:"token,omitempty"`
	// RelayCA is a PEM file of certificates to trust for a wss:// relay
	// besides the system's: the relay's own self-signed certificate, or the
	// private CA that signed it. The RelayCAEnv variable, when set, is used
	// instead.
	RelayCA string `json:"relayCA,omitempty"`
	// Attributes are the workspace's custom attribute definitions, for the
	// side panel's typed inputs and for checking before the relay does.
	Attributes []conv.AttributeDef `json:"attributes,omitempty"`
	// Team is the workspace's agents and assistants, for the assign list.
	Team []conv.Participant `json:"team,omitempty"`
	// Store is the folder, in the data folder, of the inbox the profile
	// shows; "" means DefaultStore.
	Store string `json:"store,omitempty"`
	// Paused: the user disconnected. The relay settings and the synced
	// inbox stay, readable and writable offline; nothing syncs until the
	// next connect, which sends what waits.
	Paused bool `json:"paused,omitempty"`
	// Aside are the other inboxes kept on this device, newest last: the
	// local one set aside at the first connect, those of relays the
	// profile was connected to before.
	Aside []Aside `json:"aside,omitempty"`
}

// DefaultStore is the folder of a profile's first inbox.
const DefaultStore = "store"

// Aside is an inbox kept on the device that the profile does not show, with
// the settings that went with it.
type Aside struct {
	Store string `json:"store"`
	// RelayURL and Workspace: the relay it was synced with; "" for the
	// local-only inbox.
	RelayURL   string              `json:"relayUrl,omitempty"`
	Workspace  string              `json:"workspace,omitempty"`
	Token      string              `json:"token,omitempty"`
	Me         conv.Participant    `json:"me"`
	Attributes []conv.AttributeDef `json:"attributes,omitempty"`
	Team       []conv.Participant  `json:"team,omitempty"`
	// Conversations it held when it was set aside, and Sent of them were
	// carried to the relay (a local inbox's own, at the first connect).
	Conversations int `json:"conversations"`
	Sent          int `json:"sent,omitempty"`
	// Pending counts its changes not sent yet (a relay's inbox).
	Pending int   `json:"pending,omitempty"`
	At      int64 `json:"at"` // when it was set aside, Unix ms
}

// Local reports whether the inbox kept aside is a local-only one.
func (a Aside) Local() bool { return a.RelayURL == "" }

// StoreDir returns the folder of the inbox the profile shows.
func (p Profile) StoreDir() string {
	if p.Store == "" {
		return DefaultStore
	}
	return p.Store
}

// Synced reports whether the inbox the profile shows is a relay's (synced
// now, or paused).
func (p Profile) Synced() bool { return p.RelayURL != "" }

// SameRelay reports whether two relay addresses and workspaces name the same
// workspace (a trailing slash aside).
func SameRelay(url1, ws1, url2, ws2 string) bool {
	return strings.TrimRight(strings.TrimSpace(url1), "/") == strings.TrimRight(strings.TrimSpace(url2), "/") &&
		strings.TrimSpace(ws1) == strings.TrimSpace(ws2)
}

// SetAside records the inbox the profile shows as kept aside (with
// conversations, sent and pending as Aside says) and leaves the profile
// showing none: the caller gives it its next one.
func (p *Profile) SetAside(conversations, sent, pending int, at int64) {
	p.Aside = append(p.Aside, Aside{
		Store: p.StoreDir(), RelayURL: p.RelayURL, Workspace: p.Workspace, Token: p.Token, Me: p.Me,
		Attributes: p.Attributes, Team: p.Team, Conversations: conversations, Sent: sent, Pending: pending, At: at,
	})
	p.Store, p.RelayURL, p.Workspace, p.Token, p.Paused = "", "", "", "", false
	p.Attributes, p.Team = nil, nil
	p.Me = LocalUser
}

// FindAside returns the index of the newest inbox kept aside that matches:
// the local one when relayURL is "", else that relay's workspace as
// identity meID ("" for any identity); -1 if none.
func (p Profile) FindAside(relayURL, workspace, meID string) int {
	for i := len(p.Aside) - 1; i >= 0; i-- {
		a := p.Aside[i]
		switch {
		case relayURL == "" && a.Local():
			return i
		case relayURL != "" && !a.Local() && SameRelay(a.RelayURL, a.Workspace, relayURL, workspace) && (meID == "" || a.Me.ID == meID):
			return i
		}
	}
	return -1
}

// Restore makes the profile show the inbox kept aside at index i, with its
// settings, and removes it from Aside. The profile's current inbox must have
// been set aside first.
func (p *Profile) Restore(i int) {
	a := p.Aside[i]
	p.Aside = append(p.Aside[:i:i], p.Aside[i+1:]...)
	p.Store, p.RelayURL, p.Workspace, p.Token, p.Me = a.Store, a.RelayURL, a.Workspace, a.Token, a.Me
	p.Attributes, p.Team, p.Paused = a.Attributes, a.Team, false
	if p.Store == DefaultStore {
		p.Store = ""
	}
}

// SavedToken returns the token saved for relayURL's workspace: the
// profile's own when it is that relay's, else that of an inbox kept aside
// for it; "" if none.
func (p Profile) SavedToken(relayURL, workspace string) string {
	if p.Synced() && SameRelay(p.RelayURL, p.Workspace, relayURL, workspace) && p.Token != "" {
		return p.Token
	}
	if i := p.FindAside(relayURL, workspace, ""); i >= 0 {
		return p.Aside[i].Token
	}
	return ""
}

// LocalUser is the user of a local-only profile, until a relay names it.
var LocalUser = conv.Participant{ID: "agent:me", Role: conv.RoleAgent, Name: "You"}

// RelayCAEnv names the environment variable that, when set, names the PEM
// file of RelayCA for every profile.
const RelayCAEnv = "THREADLINE_RELAY_CA"

// RelayCAFile returns the CA file to trust for the relay: getenv's
// RelayCAEnv when set, else the profile's RelayCA ("": the system's roots
// only).
func (p Profile) RelayCAFile(getenv func(string) string) string {
	if f := strings.TrimSpace(getenv(RelayCAEnv)); f != "" {
		return f
	}
	return p.RelayCA
}

// RelayRoots returns the system's roots plus every certificate in the PEM
// file, for verifying a relay's TLS certificate. A file without a
// certificate is an error, so a wrong path is not mistaken for a relay
// whose certificate is untrusted.
func RelayRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("profile: relay CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("profile: relay CA %s: %w", file, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("profile: relay CA %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Connected reports whether the profile syncs with a relay: it has one and
// the user did not disconnect.
func (p Profile) Connected() bool { return p.RelayURL != "" && !p.Paused }

// Load reads the profile in dir, creating a fresh local-only one (with a
// new device id) when there is none yet.
func Load(dir string) (Profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		id, err := uuid.NewV7()
		if err != nil {
			return Profile{}, fmt.Errorf("profile: device id: %w", err)
		}
		p := Profile{Me: LocalUser, Device: id.String()}
		return p, Save(dir, p)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("profile: read: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return Profile{}, fmt.Errorf("profile: %s: %w", filepath.Join(dir, FileName), err)
	}
	if p.Device == "" || p.Me.ID == "" {
		return Profile{}, fmt.Errorf("profile: %s has no device or user", filepath.Join(dir, FileName))
	}
	if !plainName(p.StoreDir()) {
		return Profile{}, fmt.Errorf("profile: %s: store %q is not a folder name", filepath.Join(dir, FileName), p.Store)
	}
	for _, a := range p.Aside {
		if !plainName(a.Store) {
			return Profile{}, fmt.Errorf("profile: %s: kept inbox %q is not a folder name", filepath.Join(dir, FileName), a.Store)
		}
	}
	return p, nil
}

// plainName reports whether name is one folder inside the data folder.
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && filepath.Base(name) == name
}

// NewStore returns a folder name for a new inbox in the data folder dir,
// after label (a workspace id): one no folder and no recorded inbox uses.
func (p Profile) NewStore(dir, label string, at time.Time) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, label)
	base := fmt.Sprintf("%s.%s-%s", DefaultStore, clean, at.UTC().Format("20060102T150405"))
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		used := name == p.StoreDir()
		for _, a := range p.Aside {
			used = used || a.Store == name
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); !used && errors.Is(err, fs.ErrNotExist) {
			return name
		}
	}
}

// Save writes p to dir atomically: a crash leaves the old file or the new.
func Save(dir string, p Profile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: encode: %w", err)
	}
	tmp, err := os.CreateTemp(dir, FileName+".*")
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("profile: write: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}

// CheckRelay validates relay settings a user typed, with errors a settings
// form can show next to the field.
func CheckRelay(rawURL, workspace, token string) error {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("relay URL: want ws://host:port or wss://host, got %q", rawURL)
	}
	if strings.TrimSpace(workspace) == "" {
		return errors.New("workspace: required")
	}
	if strings.TrimSpace(token) == "" {
		return errors.New("agent token: required")
	}
	return nil
}
