package relay

import (
	"encoding/json"
	"strconv"

	"github.com/threadline/threadline/sync/protocol"
)

// Frames the relay sends, encoded once and shared by every session that
// gets them (a frame is never modified after it is built).

const (
	eventsHead = `{"type":"events","events":[`
	eventsTail = `]}`
	// frameBudget keeps an events frame under the protocol's frame limit.
	frameBudget = protocol.MaxFrameBytes - len(eventsHead) - len(eventsTail) - 16
)

// eventsFrames packs events (their JSON) into as few events frames as the
// page size and frame limit allow.
func eventsFrames(raws [][]byte) [][]byte {
	var frames [][]byte
	for len(raws) > 0 {
		n := pageLen(raws)
		frames = append(frames, eventsFrame(raws[:n], 0))
		raws = raws[n:]
	}
	return frames
}

// pageLen returns how many of raws, from the start, fit one events frame.
func pageLen(raws [][]byte) int {
	n, size := 0, 0
	for n < len(raws) && n < protocol.BacklogPage {
		add := len(raws[n]) + 1
		if n > 0 && size+add > frameBudget {
			break
		}
		size += add
		n++
	}
	return n
}

// eventsFrame builds one events frame of raws; size, if known, is their
// total length plus one separator each.
func eventsFrame(raws [][]byte, size int) []byte {
	if size == 0 {
		for _, r := range raws {
			size += len(r) + 1
		}
	}
	b := make([]byte, 0, len(eventsHead)+size+len(eventsTail))
	b = append(b, eventsHead...)
	for i, r := range raws {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(b, eventsTail...)
}

func caughtUpFrame(epoch string, seq uint64) []byte {
	b := make([]byte, 0, 64+len(epoch))
	b = append(b, `{"type":"caughtUp","cursor":{"epoch":`...)
	b = strconv.AppendQuote(b, epoch) // epochs are hex: quoting is JSON-safe
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, `}}`...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("relay: encode frame: " + err.Error()) // frames are plain structs
	}
	return b
}

func errorFrame(code, message string, fatal bool) []byte {
	return mustJSON(protocol.NewError(code, message, fatal))
}
