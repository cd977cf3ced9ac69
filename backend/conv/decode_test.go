package conv

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzFastData: whatever fastData accepts, encoding/json decodes to the
// same value (and accepts too).
func FuzzFastData(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi","thread":"t1"}`, `{"text":"h\u00e9"}`, `{"text":"a\nb"}`, ` { "text" : "x" , "text":"y" } `,
		`{"thread":"t","topic":"Billing"}`, `{"topic":""}`, `{"status":"resolved"}`, `{"priority":"high"}`,
		`{"upTo":42}`, `{"upTo":042}`, `{"upTo":18446744073709551616}`, `{"upTo":1e3}`, `{"Text":"x"}`,
		`{"text":null}`, `{"text":"x"}x`, `{"text":"\xff"}`, `{}`, `{"text":"x",}`, `{"attachments":[]}`,
		`{"text":"\u003cb\u003e \"q\" \\ \ud83d\ude00 \ud800"}`, `{"text":"\x"}`, `{"te\u0078t":"x"}`, `{"text":"a","text":1}`,
	} {
		for _, k := range []Kind{KindMessageSent, KindNoteAdded, KindThreadStarted, KindThreadEnded, KindStatusChanged, KindPriorityChanged, KindSeenMarked} {
			f.Add(string(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		got, ok := fastData(Kind(kind), data)
		if !ok {
			return
		}
		want := NewData(Kind(kind))
		if err := json.Unmarshal(data, want); err != nil {
			t.Fatalf("fastData(%s, %q) = %+v; encoding/json fails: %v", kind, data, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fastData(%s, %q) = %+v; encoding/json gives %+v", kind, data, got, want)
		}
	})
}

// TestFastDataTakesWhatMustDataWrites: the data conv.MustData makes for
// these kinds, escapes included, takes the fast path.
func TestFastDataTakesWhatMustDataWrites(t *testing.T) {
	for _, e := range []Event{
		{Kind: KindMessageSent, Data: MustData(Message{Text: "x <y> & \"z\" \\ \n é 😀", Thread: "t"})},
		{Kind: KindNoteAdded, Data: MustData(Note{Text: "\u2028"})},
		{Kind: KindThreadStarted, Data: MustData(ThreadStarted{Thread: "t", Topic: "Billing & co"})},
		{Kind: KindThreadEnded, Data: MustData(ThreadEnded{})},
		{Kind: KindStatusChanged, Data: MustData(StatusChanged{Status: StatusResolved})},
		{Kind: KindPriorityChanged, Data: MustData(PriorityChanged{Priority: PriorityHigh})},
		{Kind: KindSeenMarked, Data: MustData(SeenMarked{UpTo: 1<<64 - 1})},
	} {
		if _, ok := fastData(e.Kind, e.Data); !ok {
			t.Errorf("fastData(%s, %s) refused it", e.Kind, e.Data)
		}
	}
}

// FuzzJSONScanner: what Value takes is valid JSON, and the bytes it
// returns are the value's; what Int and Str take decodes as encoding/json
// decodes it.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{
		`0`, `-0`, ` 12 `, `-9223372036854775808`, `9223372036854775808`, `18446744073709551616`, `01`, `1.5`, `1e3`, `-`,
		`"a"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, `"\x"`, "\"\xff\"", "\"\x01\"", `"`,
		`{"a":[1,2.5e-3,true,false,null,{}]}`, `[1,]`, `{"a":}`, `{"a" 1}`, `tru`, `nul`,
		strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 70) + strings.Repeat("]", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewJSONScanner(b)
		if v, ok := s.Value(); ok && s.End() {
			if !json.Valid(b) {
				t.Fatalf("Value took %q; encoding/json says it is not JSON", b)
			}
			if !bytes.Equal(v, bytes.TrimSpace(b)) {
				t.Fatalf("Value(%q) = %q", b, v)
			}
		}
		s = NewJSONScanner(b)
		if n, ok := s.Int(); ok && s.End() {
			var want int64
			if err := json.Unmarshal(b, &want); err != nil || want != n {
				t.Fatalf("Int(%q) = %d; encoding/json: %d, %v", b, n, want, err)
			}
		}
		s = NewJSONScanner(b)
		if v, ok := s.Str(); ok && s.End() {
			var want string
			if err := json.Unmarshal(b, &want); err != nil || want != v {
				t.Fatalf("Str(%q) = %q; encoding/json: %q, %v", b, v, want, err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		e    Event
	}{
		{"message", Event{Kind: KindMessageSent, Data: MustData(Message{Text: "Thanks, that fixed it. One more question about invoices please", Thread: "0190f0a4-7c1e-7abc-8def-100000000000"})}},
		{"message-escaped", Event{Kind: KindMessageSent, Data: MustData(Message{Text: "Hello — “quoted” \\ / \n tab\t é 😀", Thread: "t1"})}},
		{"seen", Event{Kind: KindSeenMarked, Data: MustData(SeenMarked{UpTo: 123456})}},
		{"status", Event{Kind: KindStatusChanged, Data: MustData(StatusChanged{Status: StatusResolved})}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := Decode(c.e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
