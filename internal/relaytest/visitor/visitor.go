// Package visitor connects a web visitor's device to a real relay for a
// test, as the widget would: a client.Memory run by a sync client that says
// hello as a visitor with a name. It is a package apart from relaytest
// because it imports sync/client, whose own tests (package client) import
// relaytest.
package visitor

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// Connect runs a visitor named name on the relay at url (ws://) in
// workspace ws until ctx ends, and returns its store and client once the
// relay has welcomed it (its participant id known). It fails t when the
// client cannot be made or ctx ends before the welcome.
func Connect(t testing.TB, ctx context.Context, url, ws, name string) (*client.Memory, *client.Client) {
	t.Helper()
	mem := client.NewMemory(conv.Participant{Role: conv.RoleVisitor}, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: ws, Device: mem.Device(), Local: mem,
		Auth: protocol.Auth{Kind: protocol.AuthVisitor, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cl.Run(ctx) }()
	for ch := mem.Changed(); mem.Me().ID == ""; ch = mem.Changed() {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the visitor was never welcomed")
		}
	}
	return mem, cl
}
