package inbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/threadline/threadline/backend/conv"
)

// SeedDemo fills a new inbox with a believable support team's week: about
// sixty conversations with contacts of a hosting company, open and resolved,
// of every priority, tagged, assigned to the local participant or its
// teammates, with threads ("Customer server offline (Ticket #1929383)"),
// internal notes, and some unread messages; one snoozed until the day
// after tomorrow, and a few the FAQ bot has (in assistant mode, or handed
// off to the team and waiting for a human), and the team's saved replies.
// There is no relay in a demo: the
// events are logged canonically by the inbox's LocalLog, exactly as a relay
// would log them, so the store's epoch becomes a local one. The same seed
// gives the same inbox (ids and times included, relative to the inbox's
// clock).
func SeedDemo(ctx context.Context, in *Inbox, seed int64) error {
	if epoch, _, _ := in.Cursor(); epoch != "" && !strings.HasPrefix(epoch, LocalEpochPrefix) {
		return ErrNotLocal
	}
	d := &demo{in: in, rng: rand.New(rand.NewPCG(uint64(seed), 0x64656d6f)), now: in.now().UnixMilli()}
	var events []conv.Event
	for i := range 60 {
		if err := ctx.Err(); err != nil {
			return err
		}
		events = append(events, d.conversation(i)...)
	}
	for i := range botScenarios {
		events = append(events, d.botConversation(i)...)
	}
	events = append(events, d.replies()...) // last: the conversations' ids and times stay what they were
	_, err := NewLocalLog(in).Append(events...)
	return err
}

// DemoTeam is the demo's support team besides the local participant.
var DemoTeam = []conv.Participant{
	{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana Souza"},
	{ID: "agent:ben", Role: conv.RoleAgent, Name: "Ben Carter"},
	{ID: "agent:chloe", Role: conv.RoleAgent, Name: "Chloé Martin"},
	{ID: "ai:faq", Role: conv.RoleAssistant, Name: "FAQ bot"},
}

var demoContacts = []string{
	"Maria Garcia", "James Okafor", "Yuki Tanaka", "Lena Fischer", "Omar Haddad", "Priya Raman", "Lucas Moreau",
	"Sofia Rossi", "Daniel Kim", "Amara Nwosu", "Jonas Berg", "Isabel Costa", "Ethan Walsh", "Mei Lin",
	"Noah Schmidt", "Fatima Zahra", "Carlos Mendes", "Hannah Lee", "Viktor Petrov", "Grace Adeyemi",
	"Tomás Silva", "Elif Yilmaz", "Arjun Mehta", "Chloe Dubois", "Kwame Mensah", "Sara Lindqvist",
	"Mateo Fernández", "Aiko Suzuki", "Ben Harris", "Olivia Brown",
}

// demoDomains are the contacts' companies (reserved example domains).
var demoDomains = []string{"example.com", "example.org", "example.net"}

// demoHandle makes the local part of a demo contact's email from its name:
// "Mateo Fernández" → "mateo.fernandez".
func demoHandle(name string) string {
	fold := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ç", "c", "ã", "a", "ö", "o", "ü", "u")
	return strings.ReplaceAll(fold.Replace(strings.ToLower(name)), " ", ".")
}

// A scenario is a conversation's script: who says what, in order.
type scenario struct {
	subject  string
	tags     []string
	priority conv.Priority
	lines    []string // "c: text" contact, "m: text" me, "a: text" a teammate, "b: text" the bot, "n: text" a teammate's note, "N: text" my note, "t: topic" a thread, "e:" end it
	resolved bool
}

var scenarios = []scenario{
	{"Server offline", []string{"outage", "vip"}, conv.PriorityUrgent, []string{
		"c: Our production server has been unreachable since 09:12. Nothing answers on 443.",
		"t: Customer server offline (Ticket #1929383)",
		"m: I'm on it. I can see the host failed its health check at 09:11; checking the hypervisor now.",
		"n: Hypervisor hv-17 lost its storage link. Ops paged.",
		"m: The storage link of your host dropped. Ops are re-attaching it; I'll update you in 15 minutes.",
		"c: Thank you. Our shop is down, please hurry.",
		"a: Storage is back and the VM is booting.",
		"c: It's up again! Everything looks fine on our side."}, true},
	{"Invoice shows the wrong VAT", []string{"billing"}, conv.PriorityMedium, []string{
		"c: Hi, invoice INV-20931 charges 20% VAT but we're a registered EU business (VAT ID FR83404833048).",
		"m: Thanks Maria, I've added your VAT ID. I'll ask billing to re-issue the invoice.",
		"N: Billing: re-issue INV-20931 without VAT, reverse charge.",
		"c: Great, thanks!"}, true},
	{"Can't log in to the control panel", []string{"bug"}, conv.PriorityHigh, []string{
		"c: Since this morning the control panel says 'session expired' right after I log in.",
		"b: Have you tried clearing your browser's cookies for panel.acme-hosting.com?",
		"c: Yes, same thing in two browsers.",
		"a: Reproduced. It only happens to accounts with SSO enabled. Filing a bug.",
		"n: Bug #4412: SSO session cookie gets SameSite=Strict after the 4.18 deploy."}, false},
	{"DNS not propagating", []string{"dns"}, conv.PriorityMedium, []string{
		"c: I changed the A record of shop.example.org two hours ago and it still points to the old IP.",
		"m: Your zone was updated at 10:02. The old record had a TTL of 86400, so some resolvers may keep it for up to a day.",
		"c: Ah, I see. Can you lower it for next time?",
		"m: Done: the TTL is now 300 seconds."}, true},
	{"Upgrade to the Pro plan", []string{"onboarding"}, conv.PriorityLow, []string{
		"c: We'd like to move from Starter to Pro. Is there any downtime?",
		"m: No downtime: the upgrade only raises your limits. You can do it from Billing → Plan.",
		"c: Perfect, doing it now."}, true},
	{"Refund for the duplicate charge", []string{"billing", "refund"}, conv.PriorityHigh, []string{
		"c: My card was charged twice for March (2 × €49).",
		"a: I can see both charges. One is a retry that should have been voided.",
		"n: Refund the second charge (ch_3Kx…); payment provider incident 2024-03-02.",
		"c: Any news on the refund?"}, false},
	{"Emails bouncing", []string{"email", "bug"}, conv.PriorityHigh, []string{
		"c: Every email we send to gmail.com bounces with '550 5.7.26 unauthenticated'.",
		"t: SPF/DKIM setup (Ticket #1930102)",
		"m: Your domain has no DKIM record. I've generated one; please add this TXT record: default._domainkey.",
		"c: Added it. Still bouncing?",
		"m: DNS shows the record now; Gmail may take an hour to pick it up.",
		"c: Still bouncing after two hours."}, false},
	{"SSL certificate expired", []string{"outage"}, conv.PriorityUrgent, []string{
		"c: Browsers show 'certificate expired' on our site!",
		"m: The automatic renewal failed because the domain's CAA record doesn't allow Let's Encrypt. Can you add letsencrypt.org to it?",
		"c: Done.",
		"m: Renewed. The new certificate is valid until 14 June."}, true},
	{"Website is slow", []string{"bug"}, conv.PriorityMedium, []string{
		"c: Pages take 6–8 seconds to load since yesterday.",
		"b: Here is our guide to speeding up WordPress: https://docs.acme-hosting.com/perf",
		"c: It's not WordPress, it's a Django app.",
		"a: Your database is on a host with a noisy neighbour. I'm migrating it to another host tonight."}, false},
	{"Migration from another host", []string{"migration", "onboarding"}, conv.PriorityMedium, []string{
		"c: We're moving 14 sites from our old provider. Can you help?",
		"t: Migration plan",
		"m: Of course. Send us the list of sites and a maintenance window; we'll copy files and databases and switch DNS last.",
		"c: List attached. Saturday 22:00 works for us.",
		"N: Migration booked for Saturday 22:00, Ben on call."}, false},
	{"Feature request: 2FA with hardware keys", []string{"feature-request"}, conv.PriorityLow, []string{
		"c: Do you support WebAuthn / YubiKeys for the control panel?",
		"m: Not yet, but it's on our roadmap for this quarter. I've added your vote."}, true},
	{"Backup restore", []string{"vip"}, conv.PriorityHigh, []string{
		"c: I deleted a customer's folder by mistake. Can you restore yesterday's backup of /var/www/clients?",
		"m: Restoring the 03:00 backup of that folder now, into /var/www/clients-restored so nothing gets overwritten.",
		"m: Done: 1,204 files restored.",
		"c: You're a lifesaver, thank you!"}, true},
}

// botScenarios are the FAQ bot's conversations: "c:" the contact, "b:"
// the bot; "handoff" hands it to the team.
var botScenarios = []struct {
	subject string
	lines   []string
}{
	{"Resetting my password", []string{
		"c: How do I reset the password of my control panel?",
		"b: Go to acme-hosting.com/login, choose “Forgot password” and follow the link we email you. It is valid for an hour.",
		"c: Got the email, trying now."}},
	{"PHP version for my site", []string{
		"c: Can I switch my site to PHP 8.3?",
		"b: Yes: Sites → your site → PHP version. The change takes about a minute.",
		"c: It says 8.3 is not available on my plan?",
		"b: I am not sure about that one. Let me hand you to the team.",
		"handoff",
		"c: Thanks, I'll wait."}},
	{"Where is my invoice?", []string{
		"c: Where can I download last month's invoice?",
		"b: Billing → Invoices lists every invoice as a PDF."}},
}

type demo struct {
	in      *Inbox
	rng     *rand.Rand
	now     int64
	n       int
	snoozed bool
}

// botConversation is the i-th of botScenarios, created by its contact for
// the FAQ bot, in the last few hours.
func (d *demo) botConversation(i int) []conv.Event {
	sc := botScenarios[i]
	name := demoContacts[(i*7+3)%len(demoContacts)]
	handle := demoHandle(name)
	contact := conv.Participant{ID: "contact:" + strings.ReplaceAll(handle, ".", "-") + "-bot", Role: conv.RoleContact}
	at := d.now - int64(3-i)*int64(time.Hour/time.Millisecond)
	cid := d.id(at)
	var out []conv.Event
	add := func(actor conv.Participant, k conv.Kind, data any) {
		at += int64(1+d.rng.IntN(4)) * int64(time.Minute/time.Millisecond)
		out = append(out, conv.Event{ID: d.id(at), Conv: cid, Kind: k, Actor: actor, Device: "demo", At: at, Data: conv.MustData(data)})
	}
	bot := DemoTeam[3]
	add(contact, conv.KindConversationCreated, conv.Created{Channel: "chat", Subject: sc.subject, AssistantID: "faq"})
	add(conv.System, conv.KindContactUpdated, conv.ContactUpdated{Contact: contact, Name: name, Email: handle + "@" + demoDomains[i%len(demoDomains)]})
	for _, line := range sc.lines {
		who, text, _ := strings.Cut(line, ": ")
		switch who {
		case "c":
			add(contact, conv.KindMessageSent, conv.Message{Text: text})
		case "b":
			add(bot, conv.KindMessageSent, conv.Message{Text: text})
		case "handoff":
			add(bot, conv.KindAssistantHandedOff, conv.HandedOff{})
		}
	}
	add(contact, conv.KindSeenMarked, conv.SeenMarked{UpTo: 1 << 62})
	return out
}

// id makes a deterministic UUIDv7 for time at.
func (d *demo) id(at int64) string {
	var u uuid.UUID
	d.n++
	for i := range 6 {
		u[i] = byte(at >> (40 - 8*i))
	}
	r := d.rng.Uint64()
	for i := 6; i < 14; i++ {
		u[i] = byte(r >> (8 * (i - 6)))
	}
	u[14], u[15] = byte(d.n>>8), byte(d.n)
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}

func (d *demo) conversation(i int) []conv.Event {
	sc := scenarios[i%len(scenarios)]
	name := demoContacts[i%len(demoContacts)]
	// The contact acts as the relay knows it, {id, role}; its name and email
	// reach the team as data (contact.updated), as a website gives them.
	handle := demoHandle(name)
	contact := conv.Participant{ID: "contact:" + strings.ReplaceAll(handle, ".", "-"), Role: conv.RoleContact}
	email := handle + "@" + demoDomains[i%len(demoDomains)]
	if i >= len(demoContacts) { // the second round: other people at the same companies
		n := i/len(demoContacts) + 1
		contact.ID += fmt.Sprintf("-%d", n)
		email = fmt.Sprintf("%s%d@%s", handle, n, demoDomains[i%len(demoDomains)])
	}
	me := d.in.me
	teammate := DemoTeam[d.rng.IntN(3)]
	bot := DemoTeam[3]
	// Conversations are spread over the last ten days; the later ones are
	// the newest.
	at := d.now - int64(60-i)*4*int64(time.Hour/time.Millisecond) - d.rng.Int64N(int64(3*time.Hour/time.Millisecond))
	cid := d.id(at)
	var out []conv.Event
	add := func(actor conv.Participant, k conv.Kind, data any) {
		at += int64(2+d.rng.IntN(25)) * int64(time.Minute/time.Millisecond)
		out = append(out, conv.Event{ID: d.id(at), Conv: cid, Kind: k, Actor: actor, Device: "demo", At: at, Data: conv.MustData(data)})
	}
	subject := sc.subject
	if i >= len(scenarios) {
		subject = fmt.Sprintf("%s (%s)", sc.subject, strings.Split(name, " ")[1])
	}
	priority := sc.priority
	if i >= len(scenarios) && d.rng.IntN(3) == 0 {
		priority = []conv.Priority{conv.PriorityLow, conv.PriorityMedium, conv.PriorityHigh, conv.PriorityUrgent}[d.rng.IntN(4)]
	}
	add(contact, conv.KindConversationCreated, conv.Created{Channel: "chat", Subject: subject})
	// The relay logs the contact's profile right after (DESIGN §3).
	add(conv.System, conv.KindContactUpdated, conv.ContactUpdated{Contact: contact, Name: name, Email: email})
	// Priority and tags are the team's to set (rule 12), right after.
	if priority != "" && priority != conv.PriorityMedium {
		add(DemoTeam[0], conv.KindPriorityChanged, conv.PriorityChanged{Priority: priority})
	}
	if len(sc.tags) > 0 {
		add(DemoTeam[0], conv.KindTagsChanged, conv.TagsChanged{Add: sc.tags})
	}
	// Who handles it: me for about half, a teammate otherwise, some nobody.
	var assignee *conv.Participant
	switch d.rng.IntN(6) {
	case 0, 1, 2:
		assignee = &me
	case 3, 4:
		assignee = &teammate
	}
	if assignee != nil && me.Role == conv.RoleAgent {
		add(DemoTeam[0], conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: assignee})
	}
	// An unread tail: the contact's last lines arrive after my last look.
	unreadFrom := len(sc.lines)
	if !sc.resolved && d.rng.IntN(2) == 0 {
		unreadFrom = len(sc.lines) - 1
	}
	if i%7 == 3 {
		unreadFrom = 1 // a conversation I have barely looked at
	}
	for j, line := range sc.lines {
		who, text, _ := strings.Cut(line, ": ")
		if j == unreadFrom {
			add(me, conv.KindSeenMarked, conv.SeenMarked{UpTo: 1 << 62}) // clamped to the latest item
		}
		switch who {
		case "c":
			add(contact, conv.KindMessageSent, conv.Message{Text: text})
		case "m":
			add(me, conv.KindMessageSent, conv.Message{Text: text})
		case "a":
			add(teammate, conv.KindMessageSent, conv.Message{Text: text})
		case "b":
			add(bot, conv.KindMessageSent, conv.Message{Text: text})
		case "n":
			add(teammate, conv.KindNoteAdded, conv.Note{Text: text})
		case "N":
			add(me, conv.KindNoteAdded, conv.Note{Text: text})
		case "t":
			topic := text
			if i >= len(scenarios) { // the second round: other tickets
				topic = d.topic(text)
			}
			add(me, conv.KindThreadStarted, conv.ThreadStarted{Thread: d.id(at), Topic: topic})
		}
	}
	if unreadFrom == len(sc.lines) {
		add(me, conv.KindSeenMarked, conv.SeenMarked{UpTo: 1 << 62})
	}
	add(contact, conv.KindSeenMarked, conv.SeenMarked{UpTo: 1 << 62})
	if sc.resolved {
		add(me, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved})
	} else if i >= 50 && !d.snoozed && unreadFrom == len(sc.lines) { // read, waiting on the customer: snoozed
		d.snoozed = true
		add(me, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: d.now + 2*int64(24*time.Hour/time.Millisecond)})
	}
	return out
}

// topic gives each ticket its own number.
func (d *demo) topic(t string) string {
	if strings.Contains(t, "Ticket #") {
		return t[:strings.Index(t, "#")+1] + fmt.Sprint(1929383+d.rng.IntN(9000)) + ")"
	}
	return t
}

// demoReplies are the sample team's saved replies.
var demoReplies = []conv.Reply{
	{Title: "Greeting", Shortcut: "hi", Text: "Hi {{contact.name}}, thanks for reaching out to Acme Hosting! I'm {{agent.name}} and I'll be helping you today."},
	{Title: "Looking into it", Shortcut: "checking", Text: "Thanks, {{contact.name}}. I'm looking into this now and will get back to you within the hour."},
	{Title: "Password reset", Shortcut: "reset", Text: "You can reset your password at https://example.com/reset. The link we email you is valid for 24 hours."},
	{Title: "Refund policy", Text: "Refunds for annual plans are prorated to the day: you get back what you have not used. Monthly plans can be cancelled at any time and are not charged again."},
	{Title: "Closing", Shortcut: "bye", Text: "Is there anything else I can help you with about \"{{conversation.subject}}\"? If not, I'll close this conversation; just reply to reopen it."},
}

// replies saves the sample team's replies, as Ana did last week.
func (d *demo) replies() []conv.Event {
	at := d.now - 7*int64(24*time.Hour/time.Millisecond)
	out := make([]conv.Event, 0, len(demoReplies))
	for _, r := range demoReplies {
		at += int64(time.Minute / time.Millisecond)
		r.ID = d.id(at)
		out = append(out, conv.Event{ID: d.id(at), Conv: conv.LibraryID, Kind: conv.KindReplySaved, Actor: DemoTeam[0], Device: "demo", At: at, Data: conv.MustData(conv.ReplySaved{Reply: r})})
	}
	return out
}
