package app

import (
	"context"

	"github.com/wailsapp/wails/v2/pkg/runtime"
)

// Emitter sends an event to the frontend. Domain code depends on this interface, never on the
// Wails runtime: runtime.EventsEmit calls log.Fatalf when given any context but the one Wails
// passed to OnStartup, and tests want a fake. Name it with a constant from events.go.
type Emitter interface {
	Emit(name string, data ...any)
}

// runtimeEmitter emits through the Wails runtime on the startup context.
type runtimeEmitter struct{ ctx context.Context }

func (e runtimeEmitter) Emit(name string, data ...any) { runtime.EventsEmit(e.ctx, name, data...) }

// discard drops events: the App's emitter before OnStartup and after OnShutdown.
type discard struct{}

func (discard) Emit(string, ...any) {}

// windowSetTitle sets the native window's title; ctx must be the startup context.
func windowSetTitle(ctx context.Context, title string) { runtime.WindowSetTitle(ctx, title) }
