package client

import (
	"bytes"
	"encoding/json"
	"sync/atomic"

	"github.com/threadline/threadline/sync/protocol"
)

// decodeFrame decodes a frame from the relay into f.
//
// Events frames, nearly all of the bytes a device receives, take
// protocol.DecodeEvents when they start as the relay writes them. Anything
// it does not take sends the whole frame to encoding/json, so the result is
// always what encoding/json makes of the frame (TestDecodeFrame checks the
// wrapper, protocol's FuzzDecodeEvents the decoder). The fast path decodes a
// catch-up's events several times faster, which is most of a catch-up's cost
// on the device.
func decodeFrame(data []byte, f *inFrame) error {
	if bytes.HasPrefix(data, eventsPrefix) {
		if evs, ok := protocol.DecodeEvents(data); ok {
			*f = inFrame{Type: protocol.TypeEvents, Events: evs}
			return nil
		}
		slowEventsFrames.Add(1)
	}
	return json.Unmarshal(data, f)
}

// eventsPrefix is how the relay starts every events frame.
var eventsPrefix = []byte(`{"type":"events","events":[`)

// slowEventsFrames counts the events frames the fast path handed to
// encoding/json (tests check that the relay's frames never need it).
var slowEventsFrames atomic.Int64
