package store

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

// FuzzEventCodec: any bytes decode to an event or an error, never a panic;
// any JSON event survives the binary codec.
func FuzzEventCodec(f *testing.F) {
	f.Add([]byte(`{"id":"e1","seq":3,"conv":"c1","kind":"message.sent","actor":{"id":"contact:a","role":"contact"},"at":5,"base":2,"data":{"text":"hi"}}`))
	f.Add(encodeEvent(nil, conv.Event{ID: "x", Conv: "c", Kind: conv.KindNoteAdded, Data: json.RawMessage(`{"text":"n"}`)}))
	f.Add([]byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte(`{"id":"e1","seq":18446744073709551615,"conv":"c1","kind":"k","at":-9223372036854775808,"mid":300,"base":128,"data":null}`))
	f.Add([]byte(`{"id":"e1","at":-1,"data":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeEvent(string(b)); err == nil {
			again, err := decodeEvent(string(encodeEvent(nil, e)))
			if err != nil || !reflect.DeepEqual(e, again) {
				t.Fatalf("decode(encode(%+v)) = %+v, %v", e, again, err)
			}
		}
		var e conv.Event
		if json.Unmarshal(b, &e) != nil {
			return
		}
		enc := encodeEvent(nil, e)
		got, err := decodeEvent(string(enc))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", e, got, err)
		}
		if len(enc) != eventLen(e) || len(enc) != cap(enc) {
			t.Fatalf("encodeEvent(%+v) is %d bytes (capacity %d); eventLen says %d", e, len(enc), cap(enc), eventLen(e))
		}
		conv.Decode(e) // never panics either
	})
}

// FuzzRowCodec: any bytes decode to a row or an error, never a panic, and a
// decoded row's state decodes (or fails) without panicking.
func FuzzRowCodec(f *testing.F) {
	c := &conv.Conversation{ID: "c1", Contact: conv.Participant{ID: "contact:a", Role: conv.RoleContact}, Status: conv.StatusOpen,
		Priority: conv.PriorityHigh, Tags: []string{"vip"}, Seen: map[string]uint64{"agent:me": 3}, Attributes: map[string]any{"plan": "pro"},
		Thread: &conv.Thread{ID: "t", Topic: "x"}}
	f.Add(encodeRow(2, newCanonical(c, history{activity: 5, needsHuman: true})))
	f.Add([]byte{codecVersion, 1, 0, 0, 0, 0, 0, codecVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, _, k, err := decodeRow(string(b))
		if err != nil {
			return
		}
		if c := k.get(); c != nil && c.ID != id {
			t.Fatalf("row %q holds conversation %q", id, c.ID)
		}
	})
}

// Every field of conv.Conversation survives the codec: a field added to the
// domain without a line in encodeConversation fails here.
func TestConversationCodecCoversEveryField(t *testing.T) {
	c := &conv.Conversation{}
	fill(reflect.ValueOf(c).Elem())
	got, err := (&decoder{s: string(encodeConversation(nil, c))}).conversation()
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("decode(encode(c)):\n got %+v, %v\nwant %+v", got, err, c)
	}
	for _, c := range []*conv.Conversation{{}, {Tags: []string{}, Participants: []conv.Participant{}, Attributes: map[string]any{}, Seen: map[string]uint64{}}} {
		got, err := (&decoder{s: string(encodeConversation(nil, c))}).conversation()
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("nil and empty collections: decode(encode(%+v)) = %+v, %v", c, got, err)
		}
	}
}

// fill sets every field of v to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint64:
		v.SetUint(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		k.SetString("k")
		e := reflect.New(v.Type().Elem()).Elem()
		if e.Kind() == reflect.Interface {
			e.Set(reflect.ValueOf("v"))
		} else {
			fill(e)
		}
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	}
}

// FuzzItemRun: any value decodes to a run or an error, never a panic, and
// a run survives appendRun and itemRun.
func FuzzItemRun(f *testing.F) {
	f.Add(uint64(7), []byte{})
	f.Add(uint64(7), appendRun(nil, []uint64{7, 8, 300, 1 << 40}))
	f.Add(uint64(1<<64-2), []byte{runTag, 1, 5})
	f.Add(uint64(3), []byte{codecVersion, 1})
	f.Fuzz(func(t *testing.T, first uint64, v []byte) {
		seqs, held, err := itemRun(nil, first, v)
		if err != nil || held != nil {
			return
		}
		if len(seqs) == 0 || seqs[0] != first {
			t.Fatalf("itemRun(%d, %x) = %v; want a run from %d", first, v, seqs, first)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("itemRun(%d, %x) = %v; not ascending", first, v, seqs)
			}
		}
		again, held, err := itemRun(nil, first, appendRun(nil, seqs))
		if err != nil || held != nil || !slices.Equal(again, seqs) {
			t.Fatalf("itemRun(appendRun(%v)) = %v, %v", seqs, again, err)
		}
	})
}
