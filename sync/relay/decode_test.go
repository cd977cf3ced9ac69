package relay

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

var pushSeeds = []string{
	`{"type":"push","events":[]}`,
	` { "type" : "push" , "events" : [ ] } `,
	`{"type":"push","events":[{"id":"a","seq":0,"conv":"c","kind":"message.sent","actor":{"id":"x","role":"agent"},"device":"d","mid":1,"at":-17,"base":3,"data":{"text":"hé \"you\"\n","n":[1,2.5e-3,true,null,{}]}}]}`,
	`{"type":"push","events":[{"id":"a","mid":18446744073709551615,"at":-9223372036854775808,"data":"str"},{"kind":"x","cause":"c","actor":{"name":"Zoë"}}]}`,
	`{"type":"push","events":[{"id":"a\\u0041"}]}`,
	`{"type":"push","events":[{"id":"a","id":"b"}]}`,
	`{"type":"push","events":[{"ID":"a"}]}`,
	`{"type":"push","events":[{"mid":01}]}`,
	`{"type":"push","events":[{"mid":1.0}]}`,
	`{"type":"push","events":[{"mid":-1}]}`,
	`{"type":"push","events":[{"mid":18446744073709551616}]}`,
	`{"type":"push","events":[{"data":null}]}`,
	`{"type":"push","events":[{"data":{"a":}}]}`,
	`{"type":"push","events":[{"data":[1,]}]}`,
	`{"type":"push","events":[{"data":"\x"}]}`,
	`{"type":"push","events":[{"data":"\ud800"}]}`,
	`{"type":"push","events":[{"id":"` + "\xff" + `"}]}`,
	`{"type":"push","events":[{"extra":1}]}`,
	`{"type":"push","events":[{}],"pad":1}`,
	`{"type":"push","events":[{}]}x`,
	`{"events":[],"type":"push"}`,
	`{"type":"push","events":[{"data":1e400}]}`,
	`{"type":"push","events":[{"data":-0.0E+1}]}`,
}

func FuzzDecodePush(f *testing.F) {
	for _, s := range pushSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodePush(b)
		if !ok {
			return
		}
		var want protocol.Push
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decodePush accepted %q; encoding/json says %v", b, err)
		}
		if len(got) == 0 && len(want.Events) == 0 {
			return
		}
		if !reflect.DeepEqual(normalize(got), normalize(want.Events)) {
			t.Fatalf("decodePush(%q)\n = %+v\nencoding/json: %+v", b, got, want.Events)
		}
	})
}

// normalize compacts Data so that whitespace inside it does not count.
func normalize(evs []conv.Event) []conv.Event {
	out := make([]conv.Event, len(evs))
	for i, e := range evs {
		if len(e.Data) > 0 {
			var v any
			if json.Unmarshal(e.Data, &v) == nil {
				e.Data, _ = json.Marshal(v)
			}
		}
		out[i] = e
	}
	return out
}

func TestDecodePushAcceptsTheCommonShape(t *testing.T) {
	for _, s := range pushSeeds[:4] {
		if _, ok := decodePush([]byte(s)); !ok {
			t.Errorf("decodePush refused %s", s)
		}
	}
	e := conv.Event{ID: "a", Conv: "c", Kind: conv.KindMessageSent, Device: "d", Mid: 4, At: 5, Base: 6, Data: conv.MustData(conv.Message{Text: "x <y> & \"z\""})}
	b := mustJSON(protocol.Push{Type: protocol.TypePush, Events: []conv.Event{e}})
	got, ok := decodePush(b)
	if !ok || !reflect.DeepEqual(got[0], e) {
		t.Errorf("decodePush(%s) = %+v, %v", b, got, ok)
	}
}
