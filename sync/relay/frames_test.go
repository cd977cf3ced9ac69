package relay

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// mustJSON is encoding/json's view of v, for frames tests write by hand.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("relay test: encode: " + err.Error())
	}
	return b
}

// TestEventsFrames: events go out in as few frames as a backlog page and the
// frame limit allow, in order, each frame under MaxFrameBytes.
func TestEventsFrames(t *testing.T) {
	small := protocol.AppendEvent(nil, &conv.Event{ID: "s"})
	big := protocol.AppendEvent(nil, &conv.Event{ID: "b", Data: conv.MustData(strings.Repeat("x", protocol.MaxFrameBytes/3))})
	huge := protocol.AppendEvent(nil, &conv.Event{ID: "h", Data: conv.MustData(strings.Repeat("x", protocol.MaxFrameBytes))})
	rep := func(r []byte, n int) [][]byte {
		rs := make([][]byte, n)
		for i := range rs {
			rs[i] = r
		}
		return rs
	}
	for _, c := range []struct {
		name  string
		raws  [][]byte
		sizes []int // events per frame
	}{
		{"none", nil, nil},
		{"one", rep(small, 1), []int{1}},
		{"a page and one", rep(small, protocol.BacklogPage+1), []int{protocol.BacklogPage, 1}},
		{"big", rep(big, 7), []int{2, 2, 2, 1}},
		{"huge alone", [][]byte{small, huge, small}, []int{1, 1, 1}},
	} {
		frames := eventsFrames(c.raws)
		var sizes []int
		var got [][]byte
		for _, f := range frames {
			evs, ok := protocol.DecodeEvents(f)
			if !ok {
				t.Fatalf("%s: DecodeEvents refused a frame", c.name)
			}
			if len(evs) > 1 && len(f) > protocol.MaxFrameBytes {
				t.Errorf("%s: a frame of %d events is %d bytes", c.name, len(evs), len(f))
			}
			sizes = append(sizes, len(evs))
			for i := range evs {
				got = append(got, protocol.AppendEvent(nil, &evs[i]))
			}
		}
		if !slices.Equal(sizes, c.sizes) {
			t.Errorf("eventsFrames(%s) makes frames of %v events; want %v", c.name, sizes, c.sizes)
		}
		if !bytes.Equal(bytes.Join(got, nil), bytes.Join(c.raws, nil)) {
			t.Errorf("eventsFrames(%s) does not carry the events in order", c.name)
		}
	}
}
