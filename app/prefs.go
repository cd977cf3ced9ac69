package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// prefs are the UI's own things that must survive a restart: a draft per
// conversation and the saved views. They are not events: nobody else sees
// them. They live in prefs.json next to the store, written atomically.
type prefs struct {
	mu   sync.Mutex
	path string
	data prefsData
}

type prefsData struct {
	Drafts map[string]string `json:"drafts"`
	Views  []SavedView       `json:"views"`
	// FileCacheBytes caps the files kept for offline viewing (0: DefaultFileCacheBytes).
	FileCacheBytes int64 `json:"fileCacheBytes,omitempty"`
	// Notify: the notification switches; nil until the user changes one (DefaultNotifySettings).
	Notify *NotifySettings `json:"notify,omitempty"`
}

func (p *prefs) notifySettings() NotifySettings {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data.Notify == nil {
		return DefaultNotifySettings
	}
	return *p.data.Notify
}

func (p *prefs) setNotifySettings(s NotifySettings) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data.Notify = &s
	return p.saveLocked()
}

func (p *prefs) fileCacheBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data.FileCacheBytes
}

func (p *prefs) setFileCacheBytes(n int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data.FileCacheBytes = n
	return p.saveLocked()
}

// SavedView is a named inbox query.
type SavedView struct {
	Name  string `json:"name"`
	Query Query  `json:"query"`
}

func loadPrefs(dir string) (*prefs, error) {
	p := &prefs{path: filepath.Join(dir, "prefs.json"), data: prefsData{Drafts: map[string]string{}}}
	b, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("app: prefs: %w", err)
	}
	if err := json.Unmarshal(b, &p.data); err != nil {
		return nil, fmt.Errorf("app: prefs %s: %w", p.path, err)
	}
	if p.data.Drafts == nil {
		p.data.Drafts = map[string]string{}
	}
	return p, nil
}

func (p *prefs) saveLocked() error {
	b, err := json.Marshal(p.data)
	if err != nil {
		return err
	}
	tmp := p.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("app: prefs: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("app: prefs: %w", err)
	}
	return os.Rename(tmp, p.path)
}

func (a *App) prefsOrErr() (*prefs, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.prefs == nil {
		return nil, &Error{Code: "not_ready", Message: "the profile is not open"}
	}
	return a.prefs, nil
}

// Draft returns the unsent text of a conversation's composer.
func (a *App) Draft(id string) (string, error) {
	p, err := a.prefsOrErr()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data.Drafts[id], nil
}

// SaveDraft keeps a conversation's unsent text ("" forgets it).
func (a *App) SaveDraft(id, text string) error {
	p, err := a.prefsOrErr()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data.Drafts[id] == text {
		return nil
	}
	if strings.TrimSpace(text) == "" {
		delete(p.data.Drafts, id)
	} else {
		p.data.Drafts[id] = text
	}
	return p.saveLocked()
}

// Views returns the saved views.
func (a *App) Views() ([]SavedView, error) {
	p, err := a.prefsOrErr()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]SavedView{}, p.data.Views...), nil
}

// SaveView saves (or replaces) a named view.
func (a *App) SaveView(name string, q Query) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 60 {
		return &Error{Code: "invalid", Message: "a view needs a name of at most 60 characters"}
	}
	p, err := a.prefsOrErr()
	if err != nil {
		return err
	}
	q.Cursor = ""
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data.Views = slices.DeleteFunc(p.data.Views, func(v SavedView) bool { return v.Name == name })
	p.data.Views = append(p.data.Views, SavedView{Name: name, Query: q})
	return p.saveLocked()
}

// DeleteView deletes a saved view.
func (a *App) DeleteView(name string) error {
	p, err := a.prefsOrErr()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data.Views = slices.DeleteFunc(p.data.Views, func(v SavedView) bool { return v.Name == name })
	return p.saveLocked()
}
