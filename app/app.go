// Package app is the Wails-bound surface of Threadline: thin methods the frontend calls and the
// events it emits. It holds no rules; it forwards to the inbox and sync packages.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/backend/search"
	"github.com/threadline/threadline/backend/store"
	"github.com/threadline/threadline/sync/client"
)

// Version names this build; main may overwrite it with -ldflags "-X ...app.Version=...".
var Version = "dev"

// Config is what main hands the App: where the store lives and how to start.
type Config struct {
	DataDir string       // folder of this profile's local store
	Profile string       // profile name, a folder under the user's config dir unless DataDir is given
	Demo    bool         // fill a new store with sample conversations
	Logger  *slog.Logger // nil means slog.Default()
}

// Info describes the running app to the frontend.
type Info struct {
	Version   string           `json:"version"`
	Profile   string           `json:"profile"`
	DataDir   string           `json:"dataDir"`
	Demo      bool             `json:"demo"`
	Me        conv.Participant `json:"me"`
	Workspace string           `json:"workspace,omitempty"`
	Connected bool             `json:"connected"`
	// Disconnected: the inbox shown is a relay's, kept after Disconnect.
	Disconnected bool `json:"disconnected,omitempty"`
}

// App is bound to the frontend by Wails: its exported methods (but the lifecycle ones, which
// main passes as hooks) become JavaScript functions in frontend/wailsjs/go/app/App, and the
// browser-mode HTTP bridge (Handler) serves the same methods. Bound methods return (T, error).
type App struct {
	cfg Config
	log *slog.Logger

	switchMu sync.Mutex // one Connect, Disconnect or UseLocalInbox at a time

	mu      sync.RWMutex
	emitter Emitter      // emits through the startup context once started; drops events before
	title   func(string) // sets the native window title; nil outside Wails
	show    func()       // brings the native window to the front; nil outside Wails
	notify  notifyState  // desktop notifications (notify.go)

	// Set by Start, under mu.
	prof       profile.Profile
	in         *inbox.Inbox
	sync       *client.Client
	stopRun    context.CancelFunc // stops the sync client and the watcher
	runDone    chan struct{}
	index      *search.Index
	prefs      *prefs
	openConv   string // the conversation the UI shows, whose timeline the watcher follows
	status     client.Status
	pokeCh     chan struct{} // wakes the watcher
	searchCh   chan struct{} // closed by the first search: build the index now
	searched   sync.Once
	indexReady chan struct{} // closed when the search index has read the whole log once
	statusMu   sync.Mutex    // orders status emissions (emitStatus)
	openErr    error         // why the store did not open, shown to the UI until one does
	switching  chan struct{} // while an inbox switch (switchTo) runs: closed when it ends
	fileToken  string        // the last welcome's bearer for the relay's files
	fileStore  *fileStore    // the profile's files folder (files.go); set by New
}

// New returns an App that does nothing until Start (or Wails' OnStartup).
func New(cfg Config) *App {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &App{cfg: cfg, log: log, emitter: discard{}, fileStore: &fileStore{dir: filepath.Join(cfg.DataDir, "files")}}
}

// OnStartup is Wails' startup hook. ctx is the only context runtime calls accept.
func (a *App) OnStartup(ctx context.Context) {
	a.mu.Lock()
	a.emitter = runtimeEmitter{ctx: ctx}
	a.title = func(s string) { windowSetTitle(ctx, s) }
	a.show = func() { windowShow(ctx) }
	a.mu.Unlock()
	if n, err := newWailsNotifier(ctx, a.notificationClicked); err != nil {
		a.log.Warn("desktop notifications are not available", "err", err)
	} else {
		SetNotifier(a, n)
	}
	if err := a.start(); err != nil {
		a.log.Error("start", "err", err)
	}
	a.log.Info("app started", "profile", a.cfg.Profile, "data", a.cfg.DataDir, "demo", a.cfg.Demo)
}

// OnShutdown is Wails' shutdown hook: after it, events are dropped.
func (a *App) OnShutdown(ctx context.Context) {
	a.stop()
	a.mu.Lock()
	a.emitter = discard{}
	a.title = nil
	a.show = nil
	a.mu.Unlock()
	SetNotifier(a, nil)
	closeWailsNotifier(ctx)
	a.log.Info("app stopped")
}

// setEmitter replaces the emitter: the browser bridge and tests use it.
func (a *App) setEmitter(e Emitter) {
	a.mu.Lock()
	a.emitter = e
	a.mu.Unlock()
}

func (a *App) emit(name string, data ...any) {
	a.mu.RLock()
	e := a.emitter
	a.mu.RUnlock()
	e.Emit(name, data...)
}

// storeDir is where prof's inbox (its Badger store) lives, inside the data folder.
func (a *App) storeDir(prof profile.Profile) string {
	return filepath.Join(a.cfg.DataDir, prof.StoreDir())
}

// DemoAttributes are the custom attributes a demo profile defines (DESIGN §8's example).
var DemoAttributes = []conv.AttributeDef{
	{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}},
	{Key: "seats", Type: conv.AttrNumber},
	{Key: "vip", Type: conv.AttrBool},
	{Key: "company", Type: conv.AttrString},
}

// Start opens the profile and its store, seeds the demo when asked and the store is new,
// starts syncing when the profile has a relay, and starts watching the store for the UI.
// Wails' OnStartup does it for a window; browser mode (main --serve) calls it. It is a
// function, not a method, so that Wails does not offer it to the frontend.
func Start(a *App) error { return a.start() }

// Stop ends syncing and watching and closes the store; the App may be started again.
func Stop(a *App) { a.stop() }

func (a *App) start() error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("app: data folder: %w", err)
	}
	prof, err := profile.Load(a.cfg.DataDir)
	if err != nil {
		return err
	}
	p, err := loadPrefs(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.prefs = p
	a.mu.Unlock()
	return a.open(prof)
}

// open opens the inbox for prof and starts the background work.
func (a *App) open(prof profile.Profile) error {
	if a.cfg.Demo && !prof.Synced() && prof.Attributes == nil {
		prof.Attributes = DemoAttributes
		if err := profile.Save(a.cfg.DataDir, prof); err != nil {
			return err
		}
	}
	var schema conv.Schema
	if prof.Attributes != nil {
		schema = conv.NewSchema(prof.Attributes)
	}
	t0 := time.Now()
	in, err := inbox.Open(a.storeDir(prof), inbox.Options{
		Me: prof.Me, Device: prof.Device, Schema: schema, Logger: a.log, Local: !prof.Synced(),
	})
	a.mu.Lock()
	a.openErr = err
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("app: open store: %w", err)
	}
	a.log.Info("store open", "took", time.Since(t0), "store", prof.StoreDir(), "connected", prof.Connected(), "paused", prof.Paused)
	if a.cfg.Demo && !prof.Synced() {
		if epoch, _, _ := in.Cursor(); epoch == "" {
			if err := inbox.SeedDemo(context.Background(), in, 1); err != nil {
				in.Close()
				return fmt.Errorf("app: demo: %w", err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	a.prof, a.in, a.index, a.indexReady = prof, in, search.New(), make(chan struct{})
	a.stopRun, a.runDone = cancel, make(chan struct{})
	a.status = client.Status{State: stateLocal}
	if prof.Synced() && !prof.Connected() {
		a.status = client.Status{State: stateDisconnected, Identity: prof.Me}
	}
	a.mu.Unlock()

	var wg sync.WaitGroup
	if prof.Connected() {
		hc, err := relayHTTPClient(prof)
		if err != nil {
			// The inbox works offline all the same; sync tries with the
			// system's roots and says what the certificate lacks.
			a.log.Warn("relay CA not loaded; using the system's roots", "err", err)
		}
		cl, err := client.New(client.Options{
			URL: prof.RelayURL, Workspace: prof.Workspace, Device: prof.Device,
			Auth:  agentAuth(prof.Token),
			Local: localAdapter{in: in, learned: a.learnWorkspace, files: a.fileStore, token: a.setFileToken, applied: func(evs []conv.Event) { a.prefetchImages(evs); a.applied(evs) }}, Logger: a.log,
			OnState:    a.onSyncState,
			OnTyping:   a.onTyping,
			HTTPClient: hc,
		})
		if err != nil {
			cancel()
			in.Close()
			return fmt.Errorf("app: sync: %w", err)
		}
		a.mu.Lock()
		a.sync = cl
		a.status = cl.Status()
		a.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("sync stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.watch(ctx, in) }()
	done := a.runDone
	go func() { wg.Wait(); close(done) }()
	return nil
}

func (a *App) stop() {
	a.mu.Lock()
	cancel, done, in, cl := a.stopRun, a.runDone, a.in, a.sync
	a.stopRun, a.in, a.sync = nil, nil, nil
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if cl != nil {
		_ = cl.Close()
	}
	<-done
	if err := in.Close(); err != nil {
		a.log.Error("close store", "err", err)
	}
}

// notOpen is the error bindings answer while no store is open, saying why
// when opening one failed.
func notOpen(why error) *Error {
	switch {
	case why == nil:
		return &Error{Code: "not_ready", Message: "the store is not open"}
	case errors.Is(why, store.ErrNewerStore):
		return &Error{Code: "not_ready", Message: "this profile was saved by a newer version of Threadline: update Threadline to open it"}
	default:
		return &Error{Code: "not_ready", Message: "the store could not be opened: " + why.Error()}
	}
}

// current returns the open inbox, or an error the UI can show before start.
// current returns the open inbox. While an inbox switch runs (Connect,
// Disconnect, back to the local inbox) it waits for the switch, up to
// switchWait, so that what the UI asks meanwhile (a seen mark, a page) is
// answered by the inbox shown next rather than refused.
func (a *App) current() (*inbox.Inbox, error) {
	a.mu.RLock()
	in, why, switching := a.in, a.openErr, a.switching
	a.mu.RUnlock()
	if in == nil && switching != nil {
		select {
		case <-switching:
		case <-time.After(switchWait):
		}
		a.mu.RLock()
		in, why = a.in, a.openErr
		a.mu.RUnlock()
	}
	if in == nil {
		return nil, notOpen(why)
	}
	return in, nil
}

// switchWait bounds how long a binding waits for an inbox switch.
const switchWait = 30 * time.Second

func (a *App) onSyncState(s client.Status) {
	a.mu.Lock()
	if s.Error != "" { // a sentence for people; the log has the error as it came
		s.Error = relayProblemText(a.prof.RelayURL, a.prof.Workspace, s.Code, s.Error)
	}
	a.status = s
	a.mu.Unlock()
	a.emitStatus(EventSyncState)
}

// emitStatus emits event with the Status as it is now. Statuses are read and
// emitted under one lock, so they reach the UI in the order they were read:
// the last one the UI gets is the latest, never a stale one overtaking it.
func (a *App) emitStatus(event string) {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	// Not through current: the sync client calls this from the goroutine an
	// inbox switch waits for, so it must not wait for the switch.
	a.mu.RLock()
	in := a.in
	a.mu.RUnlock()
	if in != nil {
		a.emit(event, a.statusOf(in))
	}
}

func (a *App) onTyping(t typingFrame) {
	a.emit(EventTyping, TypingData{Conv: t.Conv, Participant: t.Participant, On: t.On})
}
