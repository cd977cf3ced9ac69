package cpulatency

import (
	"errors"
	"os"
	"testing"
	"time"
)

// start starts a Hold, skipping where this machine cannot make the request
// or another process already holds one (the limit in force would not move).
func start(t *testing.T, quiet time.Duration) *Hold {
	t.Helper()
	h, err := Start(quiet, nil)
	if errors.Is(err, ErrUnsupported) || errors.Is(err, os.ErrPermission) {
		t.Skipf("no PM QoS CPU latency requests here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if v, err := Current(); err != nil || v == 0 {
		t.Skipf("another process holds a zero latency request (limit %d, %v)", v, err)
	}
	return h
}

func waitLimit(t *testing.T, what string, ok func(int32) bool) {
	t.Helper()
	var v int32
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if v, err = Current(); err == nil && ok(v) {
			return
		}
	}
	t.Fatalf("%s: limit %d µs, err %v", what, v, err)
}

// While work flows the machine's CPU latency limit is 0; after a quiet
// spell it is back where it was; Close drops a held request. (The limit is
// the whole machine's: another test's request may hold it at 0 for a
// moment, so going back is waited for.)
func TestHeldWhileBusy(t *testing.T) {
	quiet := 200 * time.Millisecond
	h := start(t, quiet)
	before, _ := Current()
	if h.Held() {
		t.Fatal("held before any work")
	}

	h.Busy()
	waitLimit(t, "busy", func(v int32) bool { return v == 0 })
	if !h.Held() {
		t.Fatal("limit 0 but not held")
	}
	// Work keeps it held past the quiet spell.
	for end := time.Now().Add(2 * quiet); time.Now().Before(end); time.Sleep(quiet / 8) {
		h.Busy()
		if v, _ := Current(); v != 0 {
			t.Fatalf("limit %d µs while busy", v)
		}
	}
	waitLimit(t, "quiet", func(v int32) bool { return v == before })
	if h.Held() {
		t.Fatal("still held after the quiet spell")
	}

	h.Busy()
	waitLimit(t, "busy again", func(v int32) bool { return v == 0 })
	h.Close()
	if h.Held() {
		t.Fatal("held after Close")
	}
	waitLimit(t, "closed", func(v int32) bool { return v == before })
	h.Busy() // after Close: harmless
	var nilHold *Hold
	nilHold.Busy()
	nilHold.Close()
}
