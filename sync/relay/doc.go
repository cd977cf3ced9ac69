// Package relay orders events and fans them out.
//
// A relay hosts workspaces. For each it keeps one ordered, gap-free log of
// events (package eventlog: the Log interface, and eventlog.Badger, the
// embedded implementation),
// validates every pushed event with backend/conv's reducer, adds the derived
// events the lifecycle rules call for, and sends each logged event to every
// connected device that may see it (DESIGN.md §2–§5).
//
// # Writing
//
// Each workspace has one writer: a sequencer goroutine and a committer
// goroutine in a pipeline. Sessions hand the writer their pushes; the
// sequencer drains everything queued into a group, validates the events in
// order with conv.Apply (the relay sets each event's actor from the
// session's identity) and assigns seqs; the committer writes the whole group
// — events, conversation states, indexes and the outcome of every mid — in
// one Log.Append (the embedded log: one Badger transaction, made durable by
// one fdatasync of a journal record), while the sequencer validates the next group. Only then are the events published to live sessions and the
// pushes acknowledged. A resend (same identity and device, a mid at or below
// the highest processed) is answered with the stored outcome and never
// processed twice. An event without a mid is processed but cannot be
// recognized if resent. Within one push, every event after a rejected
// conversation.created for the same conversation is rejected too — as
// conflict when the creation was (the id is another conversation's), else
// as no_such_conversation — and nothing of them is logged: a first message
// never lands in a conversation its device failed to create.
//
// # Reading
//
// A session says hello, gets its welcome, then the backlog after its cursor
// in pages, then caughtUp, then live events. Agents and assistants see the
// whole workspace. Contacts and visitors get only the events of their own
// conversations that conv.Visible lets them see, judged on each
// conversation's current state; their backlog is read through a
// per-conversation index, never by scanning the log. When a conversation
// becomes a contact's (created for it, or a visitor identified), the
// contact's devices get its history first — the device whose hello moved
// it too, whether or not it held the conversation as the visitor (devices
// ignore events they hold) — so the stream is in log order within each
// conversation, not across conversations. A device that says
// hello as a contact with the visitor token it held gets the contact's
// other conversations whole, since its cursor was a visitor's — the first
// time, and at every hello until its cursor shows it caught up as the
// contact (VisitorToken.Seq), so a first try whose connection ended before
// its backlog loses nothing; any other change of identity on a device
// should start again from an empty cursor.
//
// Every connection has a bounded send queue drained by at most one writer
// goroutine; a full queue closes the connection as a slow reader (4008) and
// never blocks a publisher.
//
// # Configuration and secrets
//
// The config file is DESIGN §8's JSON (see Config). Secrets need not be in
// it: an identitySecret or token written "$NAME" or "${NAME}" is read from
// environment variable NAME (an unset one is an error), and these variables,
// when set, override the file:
//
//	THREADLINE_<WORKSPACE>_IDENTITY_SECRET
//	THREADLINE_<WORKSPACE>_AGENT_<AGENT>_TOKEN
//	THREADLINE_<WORKSPACE>_ASSISTANT_<ASSISTANT>_TOKEN
//
// with ids upper-cased and every character other than a letter or digit
// written "_" (workspace "acme", agent "ana" → THREADLINE_ACME_AGENT_ANA_TOKEN).
// Tokens and secrets should be at least 16 characters (shorter ones are
// accepted with a warning). The relay never logs a
// token, a contact hash or a secret; it keeps only SHA-256 digests of
// visitor tokens.
package relay
