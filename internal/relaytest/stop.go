package relaytest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/threadline/threadline/sync/eventlog"
)

// Stop stops a relay as its binary does on SIGTERM: the HTTP server hs
// first, then the relay, with shutdown (its Server.Shutdown: sessions get
// 4010, queued group commits finish), then its log lg. Errors fail t.
func Stop(t testing.TB, hs *httptest.Server, shutdown func(context.Context) error, lg eventlog.Log) {
	t.Helper()
	hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Errorf("relay Shutdown: %v", err)
	}
	if err := lg.Close(); err != nil {
		t.Errorf("relay log Close: %v", err)
	}
}
