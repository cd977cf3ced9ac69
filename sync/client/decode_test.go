package client

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func sampleEventsFrame(tb testing.TB, n int) []byte {
	evs := make([]conv.Event, n)
	for i := range evs {
		evs[i] = conv.Event{ID: "0190f0a4-7c1e-7abc-8def-" + itoa(100000000000+i), Seq: uint64(i + 1), Conv: "0190f0a4-0000-7abc-8def-000000000001",
			Kind: conv.KindMessageSent, Actor: ana, Device: "laptop", Mid: uint64(i + 1), At: 1700000000000 + int64(i), Base: uint64(i),
			Data: conv.MustData(conv.Message{Text: "Hello — “quoted” \\ / \n tab\t é 😀", Thread: "t1"})}
		if i%3 == 0 {
			evs[i].Actor, evs[i].Cause, evs[i].Device, evs[i].Mid = conv.System, "cause-"+itoa(i), "", 0
		}
	}
	b, err := json.Marshal(protocol.Events{Type: protocol.TypeEvents, Events: evs})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestDecodeFrame: decodeFrame makes of a frame exactly what encoding/json
// makes of it, error or not; an events frame as the relay writes it takes
// the fast path, and one that starts so but that the fast path refuses is
// counted. (protocol's tests and FuzzDecodeEvents cover the decoder itself.)
func TestDecodeFrame(t *testing.T) {
	for _, c := range []struct {
		frame string
		slow  int64 // events frames handed to encoding/json
	}{
		{string(sampleEventsFrame(t, 3)), 0},
		{`{"type":"events","events":[]}`, 0},
		{`{"type":"events","events":[{"id":"a","actor":{"name":"Tom \u0026 Jerry"},"data":{"x":[1,"]"]}}]}`, 0},
		{`{"type":"events","events":[{"id":"a","seq":1,"data":null}]}`, 1},
		{`{"type":"events","events":[{"id":"a","actor":{"id":"x"},"actor":{"role":"agent"}}]}`, 1},
		{`{"type":"events","events":[{"id":"a","extra":1}]}`, 1},
		{`{"type":"events","events":[{"id":"a"}],"more":1}`, 1},
		{`{"type":"events","events":[{"id":"a"},]}`, 1},
		{`{"type":"events","events":[{"id":"a"}]}x`, 1},
		{`{ "type":"events","events":[{"id":"a"}]}`, 0}, // not the relay's prefix: straight to encoding/json
		{`{"type":"ack","results":[{"id":"a","seq":3}]}`, 0},
		{`{"type":"caughtUp","cursor":{"epoch":"e","seq":9}}`, 0},
		{`{"type":"welcome","identity":{"id":"x","role":"agent"},"epoch":"e","head":3}`, 0},
	} {
		var want, got inFrame
		werr := json.Unmarshal([]byte(c.frame), &want)
		slow := slowEventsFrames.Load()
		gerr := decodeFrame([]byte(c.frame), &got)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("decodeFrame(%s) error = %v; encoding/json says %v", c.frame, gerr, werr)
		} else if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("decodeFrame(%s)\n got %+v\nwant %+v", c.frame, got, want)
		}
		if n := slowEventsFrames.Load() - slow; n != c.slow {
			t.Errorf("decodeFrame(%s) counted %d slow events frames; want %d", c.frame, n, c.slow)
		}
	}
}

func BenchmarkDecodeEventsFrame(b *testing.B) {
	raw := sampleEventsFrame(b, protocol.BacklogPage)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for range b.N {
			var f inFrame
			if err := decodeFrame(raw, &f); err != nil || len(f.Events) != protocol.BacklogPage {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for range b.N {
			var f inFrame
			if err := json.Unmarshal(raw, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
