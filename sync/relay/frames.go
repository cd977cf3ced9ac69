package relay

import "github.com/threadline/threadline/sync/protocol"

// How the relay packs events into frames. The frames themselves are
// sync/protocol's (protocol.EventsFrame and the others), encoded once and
// shared by every session that gets them: a frame is never modified after
// it is built.

// eventOverhead is about what protocol.AppendEvent writes besides an
// event's data (field names, ids, numbers): it sizes a group's buffer.
const eventOverhead = 320

// eventsFrames packs events (their JSON) into as few events frames as the
// page size and frame limit allow.
func eventsFrames(raws [][]byte) [][]byte {
	var frames [][]byte
	for len(raws) > 0 {
		n := pageLen(raws)
		frames = append(frames, protocol.EventsFrame(raws[:n]))
		raws = raws[n:]
	}
	return frames
}

// pageLen returns how many of raws, from the start, fit one events frame:
// at most a backlog page, and under the frame limit (an event alone over it
// is sent alone).
func pageLen(raws [][]byte) int {
	n, size := 0, 0
	for n < len(raws) && n < protocol.BacklogPage {
		add := len(raws[n]) + 1
		if n > 0 && size+add > protocol.MaxEventsBytes {
			break
		}
		size += add
		n++
	}
	return n
}
