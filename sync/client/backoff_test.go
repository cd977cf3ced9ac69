package client

import (
	"testing"
	"time"
)

func TestBackoffIsCappedAndJittered(t *testing.T) {
	b := Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}
	for n := range 64 {
		ceil := min(b.Min<<min(n, 20), b.Max)
		lo, hi := b.Delay(n, 0), b.Delay(n, 0.999999)
		if lo != ceil/2 {
			t.Errorf("Delay(%d, 0) = %v; want %v (half the ceiling)", n, lo, ceil/2)
		}
		if hi > ceil || hi < ceil*99/100 {
			t.Errorf("Delay(%d, ~1) = %v; want just under %v", n, hi, ceil)
		}
		if hi > b.Max {
			t.Errorf("Delay(%d) = %v; over the cap %v", n, hi, b.Max)
		}
		if mid := b.Delay(n, 0.5); mid <= lo || mid >= hi {
			t.Errorf("Delay(%d, 0.5) = %v; want strictly between %v and %v (jitter)", n, mid, lo, hi)
		}
	}
	if got := b.Delay(1000, 1); got != b.Max {
		t.Errorf("Delay(1000, 1) = %v; want the cap %v", got, b.Max)
	}
	if got := (Backoff{}).Delay(0, 1); got != DefaultBackoff.Min {
		t.Errorf("zero Backoff: Delay(0, 1) = %v; want %v", got, DefaultBackoff.Min)
	}
	// The first attempts double.
	for n := 1; n < 6; n++ {
		if b.Delay(n, 0) != 2*b.Delay(n-1, 0) {
			t.Errorf("Delay(%d) did not double", n)
		}
	}
}
