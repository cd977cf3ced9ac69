package relay

import "time"

// tokenBucket allows rate tokens a second with bursts of burst. It starts
// full. Not safe for concurrent use: a session's reader owns its bucket.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate, burst float64) tokenBucket {
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// take spends n tokens if there are that many, and reports whether it did.
func (b *tokenBucket) take(n int, now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if float64(n) > b.tokens {
		return false
	}
	b.tokens -= float64(n)
	return true
}
