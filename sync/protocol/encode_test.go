package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

// mustMarshal is encoding/json's view of v.
func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameBytes fails t unless the encoder under test wrote what encoding/json
// writes.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s =\n%s\nencoding/json:\n%s", what, got, want)
	}
}

// fuzzData makes fuzzed bytes into event data as the relay holds it:
// valid JSON as encoding/json writes it (compact, <, > and & escaped), or
// none.
func fuzzData(t testing.TB, data []byte) json.RawMessage {
	switch {
	case len(data) == 0:
		return nil
	case json.Valid(data):
		return mustMarshal(t, json.RawMessage(data))
	}
	return conv.MustData(string(data))
}

// FuzzEncodeEvent: AppendEvent, EventsFrame and PushFrame write what
// encoding/json writes, byte for byte, and the decoders take it back: all
// of it, but data they leave to encoding/json (a null, invalid UTF-8,
// nesting over 64).
//
//	go test -run '^$' -fuzz FuzzEncodeEvent -fuzztime 60s ./sync/protocol/
func FuzzEncodeEvent(f *testing.F) {
	type seed struct {
		id, conv, kind, actorID, role, name, device, cause string
		seq, mid, base                                     uint64
		at                                                 int64
		data                                               string
	}
	for _, s := range []seed{
		{},
		{"a", "c", "message.sent", "contact:1", "contact", "", "", "", 1, 0, 0, -5, `{"text":"hé \"quoted\" <b>\n\u2028","thread":"t"}`},
		{"é\x01", "\\", "k", "x", "r", "Zoë <z@x>", "d", "c&c", 1 << 63, 7, 9, 1 << 60, ""},
		{"bad utf8 \xff\xfe", "", "", "", "", "", "", "", 0, 0, 0, 0, `{"a":[1,2,{"b":null}]}`},
		{"0190f0a4-7c1e-7abc-8def-100000000000", "0190f0a4-0000-7abc-8def-000000000001", "seen.marked", "agent:ana", "agent", "Ana", "laptop", "", 42, 3, 41, 1700000000000, `{"upTo":41}`},
		{"\u2028\u2029", "</script>", "x", "y", "z", "Tom & Jerry", "\t", "\"", 0, 1<<64 - 1, 0, -1 << 63, `null`},
		{"a", "b", "c", "d", "e", "f", "g", "h", 1, 2, 3, 4, ` { "x" : [ 1 , 2e3 , "\u00e9" ] } `},
		{"a", "", "", "", "", "", "", "", 0, 0, 0, 0, strings.Repeat("[", 70) + strings.Repeat("]", 70)},
		{"a", "", "", "", "", "", "", "", 0, 0, 0, 0, `"` + "\xff" + `"`},
		{"a", "", "", "", "", "", "", "", 0, 0, 0, 0, "not json"},
	} {
		f.Add(s.id, s.conv, s.kind, s.actorID, s.role, s.name, s.device, s.cause, s.seq, s.mid, s.base, s.at, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, id, convID, kind, actorID, role, name, device, cause string, seq, mid, base uint64, at int64, data []byte) {
		e := conv.Event{ID: id, Seq: seq, Conv: convID, Kind: conv.Kind(kind),
			Actor:  conv.Participant{ID: actorID, Role: conv.Role(role), Name: name},
			Device: device, Mid: mid, At: at, Base: base, Cause: cause, Data: fuzzData(t, data)}
		raw := AppendEvent(nil, &e)
		sameBytes(t, "AppendEvent", raw, mustMarshal(t, e))
		if got := AppendEvent([]byte("x"), &e); !bytes.Equal(got[1:], raw) || got[0] != 'x' {
			t.Fatalf("AppendEvent(x, e) = %s; want x%s", got, raw)
		}

		evs := []conv.Event{e, e}
		raws := [][]byte{raw, raw}
		events, push := EventsFrame(raws), PushFrame(raws)
		sameBytes(t, "EventsFrame", events, mustMarshal(t, Events{Type: TypeEvents, Events: evs}))
		sameBytes(t, "PushFrame", push, mustMarshal(t, Push{Type: TypePush, Events: evs}))

		// The decoders take back what the encoders write (checkEvents: as
		// encoding/json does), data aside.
		okEvents, okPush := checkEvents(t, events, TypeEvents), checkEvents(t, push, TypePush)
		if !okEvents || !okPush {
			e.Data = nil
			raw := AppendEvent(nil, &e)
			if _, ok := DecodeEvents(EventsFrame([][]byte{raw})); !ok {
				t.Fatalf("DecodeEvents refused %s", EventsFrame([][]byte{raw}))
			}
			if _, ok := DecodePush(PushFrame([][]byte{raw})); !ok {
				t.Fatalf("DecodePush refused %s", PushFrame([][]byte{raw}))
			}
		}
	})
}

// FuzzEncodeFrames: AckFrame, CaughtUpFrame, ErrorFrame and TypingFrame
// write what encoding/json writes, byte for byte.
//
//	go test -run '^$' -fuzz FuzzEncodeFrames -fuzztime 60s ./sync/protocol/
func FuzzEncodeFrames(f *testing.F) {
	f.Add("a", uint64(3), "stale", "a new message arrived \"x\"\n", "e", false)
	f.Add("c\"<é>", uint64(0), "", "", "0123abcd", true)
	f.Add("\xff", uint64(1<<64-1), "bad_frame", "not a frame: invalid character 'x' \u2028", "", true)
	f.Add("", uint64(0), "too_large", "the event is 2000000 bytes; a frame holds at most 1048576", "\x00", false)
	f.Fuzz(func(t *testing.T, s1 string, n uint64, code, message, s2 string, flag bool) {
		for _, rs := range [][]Result{
			{},
			{{ID: s1, Seq: n}},
			{{ID: s1, Seq: n}, {ID: s2, Seq: n, Error: &conv.Error{Code: conv.Code(code), Message: message}}, {ID: s2}},
		} {
			sameBytes(t, "AckFrame", AckFrame(rs), mustMarshal(t, Ack{Type: TypeAck, Results: rs}))
		}
		sameBytes(t, "CaughtUpFrame", CaughtUpFrame(Cursor{Epoch: s1, Seq: n}),
			mustMarshal(t, CaughtUp{Type: TypeCaughtUp, Cursor: Cursor{Epoch: s1, Seq: n}}))
		sameBytes(t, "ErrorFrame", ErrorFrame(code, message, flag), mustMarshal(t, NewError(code, message, flag)))
		p := conv.Participant{ID: s1, Role: conv.Role(code), Name: message}
		for _, ty := range []Typing{
			{Conv: s2, On: flag},
			{Conv: s2, Participant: &p, On: !flag},
		} {
			got := TypingFrame(ty)
			ty.Type = TypeTyping
			sameBytes(t, "TypingFrame", got, mustMarshal(t, ty))
		}
	})
}

func TestWelcomeFrame(t *testing.T) {
	w := Welcome{Identity: ana, Epoch: "e", Head: 3, Backlog: 2, LastMid: 1, VisitorToken: "v<",
		Workspace: &WorkspaceInfo{ID: "acme", Name: "Acme & Co", Members: []conv.Participant{ana},
			Attributes: []conv.AttributeDef{{Key: "plan", Type: "enum", Values: []string{"free", "pro"}}}}}
	got := WelcomeFrame(w)
	w.Type = TypeWelcome
	if want := mustMarshal(t, w); !bytes.Equal(got, want) {
		t.Errorf("WelcomeFrame = %s; want %s", got, want)
	}
}

// TestMaxEventsBytes: events of MaxEventsBytes, a comma after each, make a
// frame of at most MaxFrameBytes.
func TestMaxEventsBytes(t *testing.T) {
	ev := AppendEvent(nil, &conv.Event{ID: "a", Data: conv.MustData(conv.Message{Text: strings.Repeat("x", 1000)})})
	var raws [][]byte
	for size := len(ev) + 1; size <= MaxEventsBytes; size += len(ev) + 1 {
		raws = append(raws, ev)
	}
	for _, f := range [][]byte{EventsFrame(raws), PushFrame(raws)} {
		if len(f) > MaxFrameBytes {
			t.Errorf("a frame of %d events of %d bytes is %d bytes; MaxFrameBytes is %d", len(raws), len(ev), len(f), MaxFrameBytes)
		}
	}
}

// BenchmarkEncode measures the encoders on the frames the relay writes
// most: a page of events (AppendEvent per event into one buffer sized for
// them, as the relay does for a group, then EventsFrame) and the ack of a
// full push; each beside encoding/json.
func BenchmarkEncode(b *testing.B) {
	evs := sampleEvents(BacklogPage)
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		raws := make([][]byte, len(evs))
		size := 0
		for i := range evs {
			size += len(AppendEvent(nil, &evs[i]))
		}
		for range b.N {
			buf := make([]byte, 0, size) // as the relay sizes a group's buffer
			for i := range evs {
				s := len(buf)
				buf = AppendEvent(buf, &evs[i])
				raws[i] = buf[s:]
			}
			_ = EventsFrame(raws)
		}
	})
	b.Run("page/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			mustMarshal(b, Events{Type: TypeEvents, Events: evs})
		}
	})
	rs := make([]Result, MaxPushEvents)
	for i := range rs {
		rs[i] = Result{ID: evs[i].ID, Seq: uint64(i + 1)}
		if i%10 == 0 {
			rs[i].Error = &conv.Error{Code: conv.CodeStale, Message: "a new message arrived"}
		}
	}
	b.Run("ack", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = AckFrame(rs)
		}
	})
	b.Run("ack/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			mustMarshal(b, Ack{Type: TypeAck, Results: rs})
		}
	})
}
