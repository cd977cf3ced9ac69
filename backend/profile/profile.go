// Package profile keeps a desktop profile's settings: who the local user is,
// the device id, and the relay it syncs with (none: local-only).
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
}

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

// Connected reports whether the profile syncs with a relay.
func (p Profile) Connected() bool { return p.RelayURL != "" }

// Load reads the profile in dir, creating a fresh local-only one (with a
// new device id) when there is none yet.
func Load(dir string) (Profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		id, err := uuid.NewV7()
		if err != nil {
			return Profile{}, fmt.Errorf("profile: device id: %w", err)
		}
		p := Profile{Me: conv.Participant{ID: "agent:me", Role: conv.RoleAgent, Name: "You"}, Device: id.String()}
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
	return p, nil
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
