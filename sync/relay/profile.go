package relay

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
)

// Contact profiles (DESIGN §3, contact.updated). A contact's hello may carry
// its name and, for a verified contact, its email, as the website knows
// them. The relay keeps the latest it heard per contact and logs
// contact.updated in each of the contact's conversations whose state holds
// something else: when the hello comes, and when a conversation is created
// for a contact it has heard of. The team's devices then show a name, never
// a raw id, wherever the contact appears.

// profile is what the website said of a contact.
type profile struct{ name, email string }

// helloProfile is the profile a hello gives for who: its name; the email
// only from a verified contact, and only when it looks like one.
func helloProfile(who conv.Participant, email string) profile {
	p := profile{name: strings.TrimSpace(who.Name)}
	if who.Role == conv.RoleContact {
		p.email = cleanEmail(email)
	}
	return p
}

// cleanEmail returns email trimmed when it has the shape of an address
// (one @ with something on each side, no spaces or controls, at most
// conv.MaxEmailBytes), else "": an email is display data, and a malformed one
// is dropped rather than refusing the contact's chat.
func cleanEmail(email string) string {
	e := strings.TrimSpace(email)
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || len(e) > conv.MaxEmailBytes {
		return ""
	}
	if strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return ""
	}
	return e
}

// profileNS names contact.updated events by their place in the log: the
// same profile may be logged again after a change and back.
var profileNS = uuid.MustParse("5d0c7a52-3f4e-4b8a-9c61-7e2d9f1a0b34")

// profile records p as contact's and logs contact.updated in each of its
// conversations that holds another profile.
func (g *group) profile(contact conv.Participant, p profile) error {
	g.w.profiles.Put(contact.ID, p)
	convs, err := g.owned(contact.ID)
	if err != nil {
		return err
	}
	for _, id := range convs {
		c, err := g.state(id)
		if err != nil {
			return err
		}
		g.logProfile(c, p)
	}
	return nil
}

// logProfile logs contact.updated in c when p differs from what c holds
// (an empty field of p changes nothing).
func (g *group) logProfile(c *conv.Conversation, p profile) {
	if c == nil || (p.name == "" || p.name == c.Contact.Name) && (p.email == "" || p.email == c.ContactEmail) {
		return
	}
	e := conv.Event{
		ID:    uuid.NewSHA1(profileNS, []byte(c.ID+"\x00"+strconv.FormatUint(g.next, 10))).String(),
		Conv:  c.ID,
		Kind:  conv.KindContactUpdated,
		Actor: conv.System,
		At:    time.Now().UnixMilli(),
		Base:  g.next - 1,
		Data:  conv.MustData(conv.ContactUpdated{Contact: conv.Participant{ID: c.Contact.ID, Role: c.Contact.Role}, Name: p.name, Email: p.email}),
	}
	next, out, err := conv.Apply(c, e, g.w.env(g.next))
	if err != nil {
		g.w.srv.lg.Warn("contact profile not logged", "workspace", g.w.id, "conv", c.ID, "err", err)
		return
	}
	if len(out) > 0 {
		g.log(out, next)
	}
}
