package protocol

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

var ana = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}

// sampleEvents are n events as a backlog page holds them: every third one
// a system event with a cause, no device and no mid.
func sampleEvents(n int) []conv.Event {
	evs := make([]conv.Event, n)
	for i := range evs {
		evs[i] = conv.Event{ID: "0190f0a4-7c1e-7abc-8def-" + strconv.Itoa(100000000000+i), Seq: uint64(i + 1), Conv: "0190f0a4-0000-7abc-8def-000000000001",
			Kind: conv.KindMessageSent, Actor: ana, Device: "laptop", Mid: uint64(i + 1), At: 1700000000000 + int64(i), Base: uint64(i),
			Data: conv.MustData(conv.Message{Text: "Hello — “quoted” \\ / \n tab\t é 😀", Thread: "t1"})}
		if i%3 == 0 {
			evs[i].Actor, evs[i].Cause, evs[i].Device, evs[i].Mid = conv.System, "cause-"+strconv.Itoa(i), "", 0
		}
	}
	return evs
}

// eventsFrame is a frame of n sampleEvents as encoding/json writes it
// (AppendEvent and EventsFrame or PushFrame write the same bytes).
func eventsFrame(tb testing.TB, typ string, n int) []byte {
	b, err := json.Marshal(Events{Type: typ, Events: sampleEvents(n)})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// eventsSeeds are events frames; each is also tried as a push frame.
// Between them, the relay's and the client's former decoders' test frames.
var eventsSeeds = []string{
	`{"type":"events","events":[]}`,
	` { "type" : "events" , "events" : [ ] } `,
	`{"type":"events","events":[ ]} `,
	`{"type":"events","events":[{"id":"a","seq":0,"conv":"c","kind":"message.sent","actor":{"id":"x","role":"agent"},"device":"d","mid":1,"at":-17,"base":3,"data":{"text":"hé \"you\"\n","n":[1,2.5e-3,true,null,{}]}}]}`,
	`{"type":"events","events":[{"id":"a","mid":18446744073709551615,"at":-9223372036854775808,"data":"str"},{"kind":"x","cause":"c","actor":{"name":"Zoë"}}]}`,
	"{\n\t\"type\": \"events\",\n\t\"events\": [\n\t\t{ \"id\" : \"a\" , \"data\" : { \"x\" : [ 1 , 2 ] } , \"at\" : 5 }\n\t]\n}\n",
	`{"type":"events","events":[{"id":"a\u0041"}]}`,
	`{"type":"events","events":[{"id":"a\u00e9\ud83d\ude00","seq":1}]}`,
	`{"type":"events","events":[{"id":"a","actor":{"id":"x","role":"agent","name":"Tom \u0026 \"Jerry\" \u003cx\u003e"}}]}`,
	`{"type":"events","events":[{"id":"\ud800"}]}`,
	`{"type":"events","events":[{"id":"\x"}]}`,
	`{"type":"events","events":[{"id":"a","id":"b"}]}`,
	`{"type":"events","events":[{"id":"a","actor":{"id":"x"},"actor":{"role":"agent"}}]}`,
	`{"type":"events","events":[{"actor":{"id":"x","id":"y"}}]}`,
	`{"type":"events","events":[{"id":"a","data":1,"data":2}]}`,
	`{"type":"events","events":[{"ID":"a"}]}`,
	`{"type":"events","events":[{"i\u0064":"a"}]}`,
	`{"type":"events","events":[{"actor":{"Name":"a"}}]}`,
	`{"type":"events","events":[{"mid":01}]}`,
	`{"type":"events","events":[{"mid":1.0}]}`,
	`{"type":"events","events":[{"mid":1e2}]}`,
	`{"type":"events","events":[{"mid":-1}]}`,
	`{"type":"events","events":[{"mid":18446744073709551616}]}`,
	`{"type":"events","events":[{"at":-0}]}`,
	`{"type":"events","events":[{"at":9223372036854775808}]}`,
	`{"type":"events","events":[{"at":-9223372036854775809}]}`,
	`{"type":"events","events":[{"data":null}]}`,
	`{"type":"events","events":[{"id":null}]}`,
	`{"type":"events","events":[{"actor":null}]}`,
	`{"type":"events","events":[null]}`,
	`{"type":"events","events":null}`,
	`{"type":"events","events":[{"data":{"a":}}]}`,
	`{"type":"events","events":[{"data":[1,]}]}`,
	`{"type":"events","events":[{"data":tru}]}`,
	`{"type":"events","events":[{"data":"\x"}]}`,
	`{"type":"events","events":[{"data":"\ud800"}]}`,
	`{"type":"events","events":[{"data":{"x":[1,2,{"y":"}]"}]}}]}`,
	`{"type":"events","events":[{"data":"str\"ing"}]}`,
	`{"type":"events","events":[{"data":12.5e3}]}`,
	`{"type":"events","events":[{"data":1e400}]}`,
	`{"type":"events","events":[{"data":-0.0E+1}]}`,
	`{"type":"events","events":[{"data":01}]}`,
	`{"type":"events","events":[{"data":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}]}`,
	`{"type":"events","events":[{"data":"` + "\xff" + `"}]}`,
	`{"type":"events","events":[{"id":"` + "\xff" + `"}]}`,
	`{"type":"events","events":[{"id":"bad` + "\xff" + `utf8\n"}]}`,
	`{"type":"events","events":[{"id":"ctl` + "\x01" + `"}]}`,
	`{"type":"events","events":[{"extra":1}]}`,
	`{"type":"events","events":[{"id":"a"},]}`,
	`{"type":"events","events":[{}],"pad":1}`,
	`{"type":"events","events":[{}]}x`,
	`{"type":"events","events":[{}]`,
	`{"events":[],"type":"events"}`,
	`{"type":"\u0065vents","events":[]}`,
	`{"type":"ack","results":[{"id":"a","seq":3}]}`,
	`{"type":"caughtUp","cursor":{"epoch":"e","seq":9}}`,
}

// decodeFor returns the decoder of frames of type typ.
func decodeFor(typ string) func([]byte) ([]conv.Event, bool) {
	if typ == TypePush {
		return DecodePush
	}
	return DecodeEvents
}

// checkEvents asserts that when DecodeEvents takes b, encoding/json makes
// the same of it, field by field and byte by byte in Data.
func checkEvents(t *testing.T, b []byte, typ string) (ok bool) {
	t.Helper()
	got, ok := decodeFor(typ)(b)
	if !ok {
		return false
	}
	var want Events
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("DecodeEvents(%q, %q) accepted it; encoding/json says %v", b, typ, err)
	}
	if want.Type != typ {
		t.Fatalf("DecodeEvents(%q, %q) accepted a %q frame", b, typ, want.Type)
	}
	if !reflect.DeepEqual(got, want.Events) {
		t.Fatalf("DecodeEvents(%q, %q)\n = %#v\nencoding/json: %#v", b, typ, got, want.Events)
	}
	return true
}

// FuzzDecodeEvents: DecodeEvents never disagrees with encoding/json.
//
//	go test -run '^$' -fuzz FuzzDecodeEvents -fuzztime 60s ./sync/protocol/
func FuzzDecodeEvents(f *testing.F) {
	for _, s := range eventsSeeds {
		f.Add([]byte(s))
		f.Add([]byte(strings.Replace(s, `"events"`, `"push"`, 1)))
	}
	f.Add(eventsFrame(f, TypeEvents, 3))
	f.Add(eventsFrame(f, TypePush, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEvents(t, b, TypeEvents)
		checkEvents(t, b, TypePush)
	})
}

// TestDecodeEventsTakesTheCommonShape: what encoding/json and the relay
// write takes the fast path, escapes in strings included; what it refuses,
// it refuses.
func TestDecodeEventsTakesTheCommonShape(t *testing.T) {
	for _, typ := range []string{TypeEvents, TypePush} {
		for _, n := range []int{0, 1, 7} {
			if !checkEvents(t, eventsFrame(t, typ, n), typ) {
				t.Errorf("DecodeEvents refused a %s frame of %d events", typ, n)
			}
		}
	}
	e := conv.Event{ID: "a", Conv: "c", Kind: conv.KindMessageSent, Device: "d", Mid: 4, At: -5, Base: 6,
		Actor: conv.Participant{ID: "x", Role: conv.RoleContact, Name: "Tom & \"Jerry\" <x> \\ é"},
		Data:  conv.MustData(conv.Message{Text: "x <y> & \"z\""})}
	b, _ := json.Marshal(Push{Type: TypePush, Events: []conv.Event{e}})
	if got, ok := DecodePush(b); !ok || len(got) != 1 || !reflect.DeepEqual(got[0], e) {
		t.Errorf("DecodeEvents(%s) = %+v, %v; want %+v", b, got, ok, e)
	}
	for _, s := range eventsSeeds[:9] {
		if !checkEvents(t, []byte(s), TypeEvents) {
			t.Errorf("DecodeEvents refused %s", s)
		}
	}
	if _, ok := DecodePush(eventsFrame(t, TypeEvents, 1)); ok {
		t.Error("DecodePush took an events frame")
	}
	if _, ok := DecodeEvents(eventsFrame(t, TypePush, 1)); ok {
		t.Error("DecodeEvents took a push frame")
	}
}

// TestDecodeEventsMatchesEncodingJSON runs the seeds, and says which ones
// the fast path takes (go test -v), so a change in what it refuses shows.
func TestDecodeEventsMatchesEncodingJSON(t *testing.T) {
	for _, s := range eventsSeeds {
		t.Logf("fast=%v %s", checkEvents(t, []byte(s), TypeEvents), s)
		checkEvents(t, []byte(strings.Replace(s, `"events"`, `"push"`, 1)), TypePush)
	}
}

func BenchmarkDecodeEvents(b *testing.B) {
	for _, c := range []struct {
		name, typ string
		n         int
	}{{"page", TypeEvents, BacklogPage}, {"push", TypePush, MaxPushEvents}} {
		raw := eventsFrame(b, c.typ, c.n)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for range b.N {
				if evs, ok := decodeFor(c.typ)(raw); !ok || len(evs) != c.n {
					b.Fatal("refused")
				}
			}
		})
		b.Run(c.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for range b.N {
				var f Events
				if err := json.Unmarshal(raw, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
