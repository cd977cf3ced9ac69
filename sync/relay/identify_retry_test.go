package relay

import (
	"testing"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// TestIdentifyingHelloRetriedGetsTheContactsConversations: a device says
// hello as a contact with its visitor token, and its connection ends after
// the welcome, before the backlog (a handshake timeout, a dropped network):
// the identification is logged but the device got nothing of the contact's
// other conversations and still holds its visitor cursor. Its next hello,
// same cursor, same token, must get them whole again — the cursor is still
// a visitor's, whether or not the relay already recorded the identification.
// Both with and without a visitor conversation to move (without one, no
// event marks the identification in the log).
func TestIdentifyingHelloRetriedGetsTheContactsConversations(t *testing.T) {
	for _, withConv := range []bool{true, false} {
		name := "visitor without a conversation"
		if withConv {
			name = "visitor with a conversation"
		}
		t.Run(name, func(t *testing.T) {
			r := newTestRelay(t)
			phone := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-phone")
			pc := newConvID()
			phone.mustLog(phone.ev(conv.KindConversationCreated, pc, created("")), phone.ev(conv.KindMessageSent, pc, msg("from my phone")))

			v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "tablet")
			vc := newConvID()
			if withConv {
				v.mustLog(v.ev(conv.KindConversationCreated, vc, created("")), v.ev(conv.KindMessageSent, vc, msg("anonymous")))
			}
			v.c.Close(websocket.StatusNormalClosure, "")
			// The visitor's cursor: the head (a visitor's caughtUp carries the
			// head even when it sees nothing of it).
			vcur := protocol.Cursor{Epoch: v.welcome.Epoch, Seq: r.head()}

			auth := contactAuth("zoe")
			auth.VisitorToken = v.welcome.VisitorToken
			// First attempt: the identification is logged, the welcome sent,
			// then the connection is lost before any of the backlog.
			lost := dial(t, r.url)
			lost.send(hello(testWS, "tablet", vcur, auth))
			f := lost.next()
			if f.Type != protocol.TypeWelcome {
				t.Fatalf("first identifying hello: %s", trunc(f.Raw))
			}
			lost.c.CloseNow()

			again := connect(t, r.url, auth, vcur, "tablet")
			convs := map[string]int{}
			for _, e := range again.backlog {
				convs[e.Conv]++
			}
			if convs[pc] != 3 {
				t.Errorf("retried identifying hello: got %s; want the phone's conversation whole (3 events) among them", kinds(again.backlog))
			}
			if withConv && convs[vc] != 4 {
				t.Errorf("retried identifying hello: %d events of the moved conversation; want 4", convs[vc])
			}
			if again.welcome.Backlog != uint64(len(again.backlog)) {
				t.Errorf("welcome backlog %d; got %d events", again.welcome.Backlog, len(again.backlog))
			}

			// Once the device caught up as the contact past the
			// identification, its cursor is a contact's: a later hello gets
			// only what follows it. (When nothing moved, that takes a
			// catch-up that ends past the head the identification found: until
			// then the contact's conversations come whole again, harmlessly.)
			again.c.Close(websocket.StatusNormalClosure, "")
			phone.mustLog(phone.ev(conv.KindMessageSent, pc, msg("later")))
			later := connect(t, r.url, auth, again.caughtUp, "tablet")
			if withConv {
				if k := kinds(later.backlog); k != "message.sent" {
					t.Errorf("hello after catching up as the contact: got %s; want just the new message", k)
				}
			}
			later.c.Close(websocket.StatusNormalClosure, "")
			phone.mustLog(phone.ev(conv.KindMessageSent, pc, msg("later still")))
			last := connect(t, r.url, auth, later.caughtUp, "tablet")
			if k := kinds(last.backlog); k != "message.sent" {
				t.Errorf("hello after catching up past the identification: got %s; want just the new message", k)
			}
		})
	}
}
