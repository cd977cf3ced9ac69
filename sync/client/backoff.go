package client

import (
	"time"

	"github.com/threadline/threadline/internal/backoff"
)

// Backoff is a capped exponential backoff with jitter: attempt n (from 0)
// waits a random duration in [d/2, d], where d = Min·2ⁿ capped at Max. Half
// of the wait is fixed, so a flapping relay is never hammered; the other half
// is random, so devices that lost the relay together do not come back
// together.
type Backoff struct {
	Min time.Duration // the first wait's upper bound; 250 ms when zero
	Max time.Duration // the cap; 30 s when zero
}

// DefaultBackoff is what a Client uses unless told otherwise.
var DefaultBackoff = Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}

// Delay returns the wait before attempt n (0 for the first retry), for a
// jitter value r in [0, 1) (math/rand/v2's Float64).
func (b Backoff) Delay(n int, r float64) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoff.Min
	}
	if hi <= 0 {
		hi = DefaultBackoff.Max
	}
	return backoff.Delay(lo, hi, n, r)
}
