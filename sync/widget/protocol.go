package widget

import (
	"fmt"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// ProtocolConfig is what widget.js knows of sync/protocol: its version, path,
// limits and close codes, taken from the Go constants when the bundle is
// built (WIDGET_CONFIG.protocol), so the browser never carries a copy made
// by hand. The widget's node unit tests read the same values from
// frontend/widget/unit/protocol.json, which TestProtocolFile keeps equal to
// this.
type ProtocolConfig struct {
	Version       int    `json:"version"`
	Path          string `json:"path"`
	MaxFrameBytes int    `json:"maxFrameBytes"`
	MaxPushEvents int    `json:"maxPushEvents"`
	MaxTextBytes  int    `json:"maxTextBytes"`
	MaxTopicChars int    `json:"maxTopicChars"`
	MaxNameChars  int    `json:"maxNameChars"`  // a contact's name (the relay truncates longer ones)
	MaxEmailBytes int    `json:"maxEmailBytes"` // a contact's email (the relay drops longer ones)
	TypingTTLMs   int64  `json:"typingTtlMs"`   // typing lapses this long after its last renewal
	MaxFileBytes  int    `json:"maxFileBytes"`  // one attachment's bytes (DESIGN §10)
	MaxFiles      int    `json:"maxFiles"`      // attachments on one message
	FilesPath     string `json:"filesPath"`     // the relay's file routes: PUT/GET {filesPath}{ws}/{sha256}
	// CloseCodes names the protocol's close codes.
	CloseCodes map[string]int `json:"closeCodes"`
	// FatalCloseCodes maps a fatal session error code to the close code that
	// follows it (protocol.CloseCodeFor); any other code closes with
	// CloseCodes["reconnect"].
	FatalCloseCodes map[string]int `json:"fatalCloseCodes"`
	// NoRetry is the first and last close code after which a client must not
	// reconnect as is (protocol.Retryable is false); every other code means
	// "reconnect and resume".
	NoRetry [2]int `json:"noRetry"`
}

// FilesPath starts the relay's file routes (relay.FilesPath, which this
// package may not import: TestFilesPath keeps the two equal).
const FilesPath = "/v1/files/"

// Protocol returns the protocol's values for widget.js.
func Protocol() (ProtocolConfig, error) {
	p := ProtocolConfig{
		Version:       protocol.Version,
		Path:          protocol.Path,
		MaxFrameBytes: protocol.MaxFrameBytes,
		MaxPushEvents: protocol.MaxPushEvents,
		MaxTextBytes:  protocol.MaxTextBytes,
		MaxTopicChars: protocol.MaxTopicChars,
		MaxNameChars:  conv.MaxNameChars,
		MaxEmailBytes: conv.MaxEmailBytes,
		TypingTTLMs:   protocol.TypingTTL.Milliseconds(),
		MaxFileBytes:  conv.MaxFileBytes,
		MaxFiles:      conv.MaxAttachments,
		FilesPath:     FilesPath,
		CloseCodes: map[string]int{
			"reconnect":           protocol.CloseReconnect,
			"slowReader":          protocol.CloseSlowReader,
			"tooLarge":            protocol.CloseTooLarge,
			"shuttingDown":        protocol.CloseShuttingDown,
			"idle":                protocol.CloseIdle,
			"unauthorized":        protocol.CloseUnauthorized,
			"unknownWorkspace":    protocol.CloseUnknownWorkspace,
			"unsupportedProtocol": protocol.CloseUnsupportedProtocol,
			"notReady":            protocol.CloseNotReady,
		},
		FatalCloseCodes: map[string]int{},
	}
	for _, code := range []string{protocol.CodeUnauthorized, protocol.CodeUnknownWorkspace, protocol.CodeUnsupportedProtocol, protocol.CodeNotReady, protocol.CodeTooLarge} {
		p.FatalCloseCodes[code] = protocol.CloseCodeFor(code)
	}
	// protocol.Retryable is a function: find the one range of close codes
	// (the WebSocket's are 16 bits) it refuses.
	first, last := -1, -1
	for c := 0; c <= 0xffff; c++ {
		if protocol.Retryable(c) {
			if first >= 0 && last < 0 {
				last = c - 1
			}
			continue
		}
		if last >= 0 {
			return p, fmt.Errorf("widget: protocol.Retryable refuses more than one range of close codes (%d–%d, then %d)", first, last, c)
		}
		if first < 0 {
			first = c
		}
	}
	if first < 0 {
		return p, fmt.Errorf("widget: protocol.Retryable refuses no close code")
	}
	if last < 0 {
		last = 0xffff
	}
	p.NoRetry = [2]int{first, last}
	return p, nil
}
