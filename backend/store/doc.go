// Package store keeps a device's durable state on Badger and the go-memdb indexes that answer inbox queries.
//
// Badger holds what must survive: the canonical log (events by seq, with the
// log's epoch and the device's cursor), the pending outbox (events by mid,
// each pending, sent or failed), and what is derived from both and kept so
// that opening is fast: one row per conversation (its canonical state and the
// local participant's unread count) and the timeline items (events by
// conversation, then seq). Everything derived can be rebuilt from the log and
// the outbox (Store.Rebuild).
//
// go-memdb holds the conversation rows and the small indexes the inbox list
// needs; timeline items stay on disk and are read by prefix scan, so opening a
// store of 100,000 conversations and millions of items loads the rows only.
//
// Every write has one shape: open the memdb write transaction (which is also
// the single-writer lock), do the work in an unexported …Txn helper, persist
// to Badger in one db.Update (synced: SyncWrites is on), then commit memdb.
// Objects read from memdb are shared and never modified in place.
package store
