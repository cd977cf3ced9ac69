package relay

import (
	"encoding/json"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// profiles returns the contact.updated events of convID in evs, decoded.
func profiles(t *testing.T, evs []conv.Event, convID string) []conv.ContactUpdated {
	t.Helper()
	var out []conv.ContactUpdated
	for _, e := range evs {
		if e.Conv != convID || e.Kind != conv.KindContactUpdated {
			continue
		}
		if e.Actor != conv.System {
			t.Errorf("contact.updated by %+v; want the system", e.Actor)
		}
		var d conv.ContactUpdated
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestContactProfileReachesTheTeam(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	auth := contactAuth("dana")
	auth.Name, auth.Email = "Dana Whitfield", "dana@example.com"
	phone := connect(t, r.url, auth, protocol.Cursor{}, "dana-phone")
	if phone.welcome.Identity.Name != "Dana Whitfield" {
		t.Errorf("welcome identity %+v; want Dana's name", phone.welcome.Identity)
	}
	// Her own conversation, and one the team opens for her, start with her
	// profile, right after their creation.
	own, forHer := newConvID(), newConvID()
	phone.mustLog(phone.ev(conv.KindConversationCreated, own, created("")), phone.ev(conv.KindMessageSent, own, msg("hello")))
	ana.mustLog(ana.ev(conv.KindConversationCreated, forHer, created("contact:dana")))
	all := wholeLog(t, r.url)
	for _, id := range []string{own, forHer} {
		got := profiles(t, all, id)
		if len(got) != 1 || got[0].Name != "Dana Whitfield" || got[0].Email != "dana@example.com" || got[0].Contact.ID != "contact:dana" {
			t.Fatalf("conversation %s: contact.updated %+v; want one with Dana's name and email", id, got)
		}
	}
	if e, _ := findKind(all, own, conv.KindConversationCreated); all[e.Seq].Kind != conv.KindContactUpdated {
		t.Errorf("own conversation's log: %s; want contact.updated right after its creation", kinds(all))
	}

	// The same profile again logs nothing; a new email logs it in each of
	// her conversations; a malformed one is dropped, not refused.
	head := r.head()
	connect(t, r.url, auth, protocol.Cursor{}, "dana-tablet")
	if r.head() != head {
		t.Errorf("an unchanged profile logged %d events", r.head()-head)
	}
	auth.Email = "dana.whitfield@example.org"
	connect(t, r.url, auth, protocol.Cursor{}, "dana-tablet")
	bad := auth
	bad.Email = "not an email"
	connect(t, r.url, bad, protocol.Cursor{}, "dana-tablet")
	all = wholeLog(t, r.url)
	for _, id := range []string{own, forHer} {
		got := profiles(t, all, id)
		if len(got) != 2 || got[1].Email != "dana.whitfield@example.org" || got[1].Name != "" {
			t.Errorf("conversation %s after a new email: %+v; want the email alone, once", id, got)
		}
	}

	// The profile is the team's: Dana's devices never receive it.
	// Her phone's own push is answered after everything logged before it
	// was queued to the phone.
	phone.mustLog(phone.ev(conv.KindMessageSent, own, msg("still there")))
	for _, name := range []string{"live", "backlog"} {
		evs := phone.received()
		if name == "backlog" {
			evs = connect(t, r.url, auth, protocol.Cursor{}, "dana-laptop").backlog
		}
		for _, e := range evs {
			if e.Kind == conv.KindContactUpdated {
				t.Errorf("%s: the contact received contact.updated", name)
			}
		}
	}
}

func TestVisitorNameButNotEmail(t *testing.T) {
	r := newTestRelay(t)
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	c := newConvID()
	v.mustLog(v.ev(conv.KindConversationCreated, c, created("")))
	again := protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: v.welcome.VisitorToken, Name: "Sam", Email: "sam@example.com"}
	connect(t, r.url, again, protocol.Cursor{}, "sam-tab")
	got := profiles(t, wholeLog(t, r.url), c)
	if len(got) != 1 || got[0].Name != "Sam" || got[0].Email != "" || got[0].Contact.ID != v.welcome.Identity.ID {
		t.Fatalf("visitor's contact.updated %+v; want the name only (an unverified email is not logged)", got)
	}
}

func TestIdentifiedVisitorTakesTheContactsProfile(t *testing.T) {
	r := newTestRelay(t)
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "laptop")
	c := newConvID()
	v.mustLog(v.ev(conv.KindConversationCreated, c, created("")), v.ev(conv.KindMessageSent, c, msg("anonymous")))
	auth := contactAuth("dana")
	auth.Name, auth.Email, auth.VisitorToken = "Dana Whitfield", "dana@example.com", v.welcome.VisitorToken
	connect(t, r.url, auth, protocol.Cursor{}, "laptop")
	all := wholeLog(t, r.url)
	got := profiles(t, all, c)
	if len(got) != 1 || got[0].Contact.ID != "contact:dana" || got[0].Name != "Dana Whitfield" {
		t.Fatalf("after identification: %+v in %s; want Dana's profile", got, kinds(all))
	}
	// The state the team's devices derive: one contact, named.
	var st *conv.Conversation
	for _, e := range all {
		if e.Conv == c {
			var err error
			if st, err = conv.Replay(st, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st.Contact.ID != "contact:dana" || st.Contact.Name != "Dana Whitfield" || st.ContactEmail != "dana@example.com" {
		t.Errorf("replayed state's contact %+v %q; want Dana with her email", st.Contact, st.ContactEmail)
	}
}
