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

// checkDecode asserts that decodeFrame makes of data exactly what
// encoding/json makes of it, error or not.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var want, got inFrame
	werr := json.Unmarshal(data, &want)
	gerr := decodeFrame(data, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("decodeFrame(%q) error = %v; encoding/json says %v", data, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeFrame(%q)\n got %+v\nwant %+v", data, got, want)
	}
}

func TestDecodeFrameMatchesEncodingJSON(t *testing.T) {
	frames := []string{
		string(sampleEventsFrame(t, 3)),
		`{"type":"events","events":[]}`,
		`{"type":"events","events":[ ]} `,
		`{"type":"events","events":[{"id":"a","seq":1,"data":null}]}`,
		`{"type":"events","events":[{"id":"a","seq":1,"data":{"x":[1,2,{"y":"}]"}]}}]}`,
		`{"type":"events","events":[{"id":"a","seq":1,"data":"str\"ing"}]}`,
		`{"type":"events","events":[{"id":"a","seq":1,"data":12.5e3}]}`,
		`{"type":"events","events":[{"id":"a","seq":1,"data":tru}]}`,
		`{"type":"events","events":[{"id":"a\u00e9\ud83d\ude00","seq":1}]}`,
		`{"type":"events","events":[{"id":"a","seq":01}]}`,
		`{"type":"events","events":[{"id":"a","seq":-1}]}`,
		`{"type":"events","events":[{"id":"a","seq":18446744073709551615}]}`,
		`{"type":"events","events":[{"id":"a","seq":18446744073709551616}]}`,
		`{"type":"events","events":[{"id":"a","at":-9223372036854775808}]}`,
		`{"type":"events","events":[{"id":"a","at":-0}]}`,
		`{"type":"events","events":[{"id":"a","at":1.0}]}`,
		`{"type":"events","events":[{"ID":"a"}]}`,
		`{"type":"events","events":[{"id":"a","actor":{"id":"x"},"actor":{"role":"agent"}}]}`,
		`{"type":"events","events":[{"id":"a","extra":1}]}`,
		`{"type":"events","events":[{"id":null}]}`,
		`{"type":"events","events":[{"id":"bad` + "\xff" + `utf8"}]}`,
		`{"type":"events","events":[{"id":"ctl` + "\x01" + `"}]}`,
		`{"type":"events","events":[{"id":"a"},]}`,
		`{"type":"events","events":[{"id":"a"}]}x`,
		`{"type":"events","events":[{"id":"a"}],"more":1}`,
		`{"type":"ack","results":[{"id":"a","seq":3}]}`,
		`{"type":"caughtUp","cursor":{"epoch":"e","seq":9}}`,
	}
	for _, f := range frames {
		checkDecode(t, []byte(f))
	}
}

// FuzzDecodeFrame: the fast path never disagrees with encoding/json.
//
//	go test -run '^$' -fuzz FuzzDecodeFrame -fuzztime 60s ./sync/client/
func FuzzDecodeFrame(f *testing.F) {
	f.Add(sampleEventsFrame(f, 2))
	f.Add([]byte(`{"type":"events","events":[{"id":"a","seq":1,"actor":{"id":"x","role":"agent"},"data":{"x":[1,"]"]}}]}`))
	f.Add([]byte(`{"type":"events","events":[{"id":"a\u00e9","at":-5,"data":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, data) })
}

func BenchmarkDecodeEventsFrame(b *testing.B) {
	raw := sampleEventsFrame(b, protocol.BacklogPage)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			var f inFrame
			if err := decodeFrame(raw, &f); err != nil || len(f.Events) != protocol.BacklogPage {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			var f inFrame
			if err := json.Unmarshal(raw, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
