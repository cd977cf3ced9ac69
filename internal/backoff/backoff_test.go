package backoff

import (
	"testing"
	"time"
)

func TestDelayIsCappedAndJittered(t *testing.T) {
	lo, hi := 250*time.Millisecond, 30*time.Second
	for n := range 64 {
		ceil := min(lo<<min(n, 20), hi)
		first, last := Delay(lo, hi, n, 0), Delay(lo, hi, n, 0.999999)
		if first != ceil/2 {
			t.Errorf("Delay(%d, 0) = %v; want %v (half the ceiling)", n, first, ceil/2)
		}
		if last > ceil || last < ceil*99/100 {
			t.Errorf("Delay(%d, ~1) = %v; want just under %v", n, last, ceil)
		}
		if mid := Delay(lo, hi, n, 0.5); mid <= first || mid >= last {
			t.Errorf("Delay(%d, 0.5) = %v; want strictly between %v and %v (jitter)", n, mid, first, last)
		}
	}
	if got := Delay(lo, hi, 1000, 1); got != hi {
		t.Errorf("Delay(1000, 1) = %v; want the cap %v", got, hi)
	}
	if got := Delay(time.Minute, time.Second, 0, 1); got != time.Second {
		t.Errorf("Delay with lo above hi = %v; want hi %v", got, time.Second)
	}
	for n := 1; n < 6; n++ {
		if Delay(lo, hi, n, 0) != 2*Delay(lo, hi, n-1, 0) {
			t.Errorf("Delay(%d) did not double", n)
		}
	}
}
