package conv

// Settlement is what becomes of a pending event when the relay answers it
// (DESIGN §5): the device's outbox applies it, and so does every client
// outside Go (testdata/settle.json holds the vectors, TestSettleVectors).
type Settlement string

const (
	// SettleDrop: the event leaves the outbox. It was accepted and changed
	// nothing (seq 0), or it was logged at a seq the device has already
	// applied (its canonical copy is there), or it is a refused seen mark
	// (nothing to show the user: a later mark supersedes it).
	SettleDrop Settlement = "drop"
	// SettleSent: logged at the outcome's seq; it stays, shown as sent, until
	// its canonical copy arrives.
	SettleSent Settlement = "sent"
	// SettleFailed: refused with the outcome's error; it stays, shown as
	// failed, until the user retries or discards it.
	SettleFailed Settlement = "failed"
)

// Settle says what the relay's answer o does to a pending event of kind k on
// a device that has applied the log up to seq applied.
func Settle(k Kind, o Outcome, applied uint64) Settlement {
	switch {
	case o.Err != nil && k == KindSeenMarked:
		return SettleDrop
	case o.Err != nil:
		return SettleFailed
	case o.Seq == 0, o.Seq <= applied:
		return SettleDrop
	default:
		return SettleSent
	}
}
