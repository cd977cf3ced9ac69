package app

import (
	"context"
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/search"
	"github.com/threadline/threadline/backend/store"
)

// coalesce is the least time between two looks of the watcher: a burst (a
// backlog page, a demo seed) becomes an event at most every 100 ms, never
// one per item. A change after a quiet while is told at once (a message
// arriving is on screen without waiting 100 ms); the rest of its burst
// waits for the next look.
const coalesce = 100 * time.Millisecond

// poke wakes the watcher: the UI opened another conversation.
func (a *App) poke() {
	select {
	case a.pokes() <- struct{}{}:
	default:
	}
}

// searchWanted is closed by the first search.
func (a *App) searchWanted() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.searchCh == nil {
		a.searchCh = make(chan struct{})
	}
	return a.searchCh
}

func (a *App) pokes() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pokeCh == nil {
		a.pokeCh = make(chan struct{}, 1)
	}
	return a.pokeCh
}

// watch blocks on the store (memdb watch sets, no polling) and tells the UI
// what changed: the inbox (with the status and unread total), the timeline
// of the conversation it shows, and the window title. It also feeds the
// search index with new canonical events, and wakes the snoozed
// conversations when their time comes: a timer set for the next one's time
// (no ticking), after which the inbox shows them open and the UI is told
// as for any change.
func (a *App) watch(ctx context.Context, in *inbox.Inbox) {
	indexNow := make(chan struct{}, 1)
	a.mu.RLock()
	x, ready := a.index, a.indexReady
	a.mu.RUnlock()
	go a.indexLoop(ctx, in.Store(), x, indexNow, ready)

	var lastOpen string
	var lastRow *store.Row
	lastTotal := -1
	pokes := a.pokes()
	var looked time.Time
	for {
		looked = time.Now()
		ws := memdb.NewWatchSet()
		total, _ := in.TotalUnread(ws) // the meta object changes with every row
		_ = in.Outbox(ws)
		a.mu.RLock()
		open := a.openConv
		a.mu.RUnlock()
		var row *store.Row
		if open != "" {
			row = in.Store().Row(open, ws)
		}
		next, asleep := in.NextWake(ws)

		select {
		case indexNow <- struct{}{}:
		default:
		}
		a.emitStatus(EventInboxChanged)
		if open != "" && (open != lastOpen || row != lastRow) {
			a.emit(EventTimelineChanged, []string{open})
		}
		lastOpen, lastRow = open, row
		if total != lastTotal {
			a.setTitle(total)
			lastTotal = total
		}

		wctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-pokes:
				cancel()
			case <-wctx.Done():
			}
		}()
		var wake *time.Timer
		if asleep {
			wake = time.AfterFunc(time.Until(next), cancel)
		}
		_ = ws.WatchCtx(wctx)
		cancel()
		if wake != nil {
			wake.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if asleep && !time.Now().Before(next) {
			if _, err := in.Wake(); err != nil {
				a.log.Warn("wake snoozed conversations", "err", err)
			}
		}
		if wait := coalesce - time.Since(looked); wait > 0 {
			select { // the rest of a burst: at most one look per coalesce
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
	}
}

// Title returns the window title for a total unread count.
func Title(unread int) string {
	if unread <= 0 {
		return "Threadline"
	}
	return fmt.Sprintf("Threadline (%d)", unread)
}

func (a *App) setTitle(unread int) {
	a.mu.RLock()
	set := a.title
	a.mu.RUnlock()
	if set != nil {
		set(Title(unread))
	}
}

// indexDelay holds the search index's first build back so that it does not
// compete with the first paint: on a big store it reads every event. A
// search before then starts it at once.
const indexDelay = 3 * time.Second

// indexLoop feeds the search index with the canonical events it has not
// seen, each time the watcher signals a change.
func (a *App) indexLoop(ctx context.Context, st *store.Store, x *search.Index, now <-chan struct{}, ready chan struct{}) {
	select {
	case <-time.After(indexDelay):
	case <-a.searchWanted():
	case <-ctx.Done():
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-now:
		}
		err := st.Log(x.Seq(), func(e conv.Event) bool {
			x.Add(e)
			return ctx.Err() == nil
		})
		if err != nil && ctx.Err() == nil {
			a.log.Warn("search index", "err", err)
		}
		if ready != nil {
			close(ready)
			ready = nil
		}
	}
}
