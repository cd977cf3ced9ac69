// Package backoff computes capped exponential delays with jitter, for
// whatever retries: a device reconnecting to its relay, a relay retrying a
// webhook.
package backoff

import "time"

// Delay returns the wait before retry n (0 for the first): a duration in
// [d/2, d], where d = lo·2ⁿ capped at hi, placed in it by the jitter value r
// in [0, 1) (math/rand/v2's Float64). Half of the wait is fixed, so a
// failing peer is never hammered; the other half is random, so clients that
// failed together do not come back together. lo and hi must be positive; a
// lo above hi is taken as hi.
func Delay(lo, hi time.Duration, n int, r float64) time.Duration {
	lo = min(lo, hi)
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	r = min(max(r, 0), 1)
	return d/2 + time.Duration(r*float64(d/2))
}
