// Package store keeps a device's durable state on Badger and the go-memdb indexes that answer inbox queries.
//
// Badger holds what must survive: the canonical log (events by seq, with the
// log's epoch and the device's cursor, which may run past the last stored
// event), the pending outbox (events by mid, each pending, sent or failed,
// with the device's mid counter), and what is derived from both and kept so
// that opening is fast: one row per conversation (its canonical state and
// the local participant's unread count), the timeline items (the seqs of
// each conversation's items, in runs that point at the log), and a
// snapshot of the rows written when the store closes. Everything derived
// can be rebuilt from the log and the outbox (Store.Rebuild), and a test
// holds the rebuilt state equal to the one kept incrementally. keys.go
// documents the key layout.
//
// go-memdb holds the conversation rows (canonical state, the optimistic
// view with the pending events re-applied, unread counts, the items of the
// outbox) and the small tables the inbox list needs; timeline items stay on
// disk and are read by prefix scan. Opening loads rows only: from the
// snapshot when it is current (a few large values instead of one key per
// conversation), decoding their summaries (status, priority, tags,
// assignee, activity) and leaving each state encoded until something needs
// it. It has two phases: the first indexes what the first inbox pages need
// and returns; the second indexes the rest in the background, and the reads
// and writes that need it wait for it.
//
// Every write has one shape: open the memdb write transaction (which is
// also the single-writer lock), do the work in an unexported …Txn helper,
// persist to Badger in one db.Update (synced: SyncWrites is on, so a local
// action is on disk before it returns), then commit memdb. Objects read from
// memdb are shared and never modified in place. Reads take a
// memdb.WatchSet so that a view can block until what it shows changes.
package store
