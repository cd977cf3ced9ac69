// Package protocol defines Threadline's sync protocol (v1): the frames that
// devices and the relay exchange over WebSocket, their limits, error codes
// and close codes. DESIGN.md §5 is its prose form. The frames sent most
// have encoders and decoders here that skip reflection (encode.go,
// events.go), fuzzed against encoding/json.
package protocol

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/threadline/threadline/backend/conv"
)

// Version is the protocol version a hello names.
const Version = 1

// Path is where the relay serves the sync WebSocket.
const Path = "/v1/sync"

// Limits.
const (
	MaxFrameBytes  = 1 << 20            // one frame, either direction
	MaxPushEvents  = 100                // events in one push
	MaxTextBytes   = conv.MaxTextBytes  // a message or note
	MaxTopicChars  = conv.MaxTopicChars // a thread topic
	RatePerSecond  = 50                 // events a session may push per second…
	RateBurst      = 200                // …with bursts of this many
	TypingTTL      = 6 * time.Second    // typing lapses this long after its last renewal
	PingInterval   = 10 * time.Second   // the relay pings this often
	IdleTimeout    = 30 * time.Second   // a connection silent this long is dropped
	BacklogPage    = 500                // events per backlog events frame
	SendQueueDepth = 256                // frames queued for one connection before it counts as slow
)

// Frame types.
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypeEvents   = "events"
	TypeCaughtUp = "caughtUp"
	TypePush     = "push"
	TypeAck      = "ack"
	TypeTyping   = "typing"
	TypeError    = "error"
)

// Error codes for frames and sessions; rejected events carry conv's codes.
const (
	CodeUnauthorized        = "unauthorized"
	CodeUnknownWorkspace    = "unknown_workspace"
	CodeUnsupportedProtocol = "unsupported_protocol"
	CodeNotReady            = "not_ready"
	CodeBadFrame            = "bad_frame"
	CodeUnknownType         = "unknown_type"
	CodeTooLarge            = "too_large"
	CodeTooMany             = "too_many"
	CodeRateLimited         = "rate_limited"
	// CodeUnavailable refuses a push the log cannot take now (NATS
	// unreachable, a failed write): nothing of it was logged, and the
	// session stays; push it again after a backoff.
	CodeUnavailable = "unavailable"
)

// Close codes: 4000–4499 reconnect and resume; 4500–4999 do not retry as is.
const (
	CloseReconnect           = 4000
	CloseSlowReader          = 4008
	CloseTooLarge            = 4009
	CloseShuttingDown        = 4010
	CloseIdle                = 4011
	CloseUnauthorized        = 4501
	CloseUnknownWorkspace    = 4502
	CloseUnsupportedProtocol = 4503
	CloseNotReady            = 4504
)

// Retryable reports whether a client should reconnect after close code c.
// Codes outside the 4000–4999 range (network errors, 1001 going away, …)
// are retryable.
func Retryable(c int) bool { return c < 4500 || c > 4999 }

// CloseCodeFor maps a fatal session error code to its close code.
func CloseCodeFor(code string) int {
	switch code {
	case CodeUnauthorized:
		return CloseUnauthorized
	case CodeUnknownWorkspace:
		return CloseUnknownWorkspace
	case CodeUnsupportedProtocol:
		return CloseUnsupportedProtocol
	case CodeNotReady:
		return CloseNotReady
	case CodeTooLarge:
		return CloseTooLarge
	}
	return CloseReconnect
}

// Auth kinds.
const (
	AuthAgent     = "agent"
	AuthAssistant = "assistant"
	AuthContact   = "contact"
	AuthVisitor   = "visitor"
)

// Cursor is a position in a workspace's log: the last seq a device applied,
// in the log named by Epoch. A fresh device sends {"", 0}.
type Cursor struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Auth is how a hello proves who it speaks for.
type Auth struct {
	Kind         string `json:"kind"`
	Token        string `json:"token,omitempty"`     // agent, assistant
	ContactID    string `json:"contactId,omitempty"` // contact: the website's own id
	Hash         string `json:"hash,omitempty"`      // contact: hex HMAC-SHA256(identity secret, contactId)
	Name         string `json:"name,omitempty"`
	Email        string `json:"email,omitempty"`
	VisitorToken string `json:"visitorToken,omitempty"` // visitor; or a contact identifying a visitor
}

// Frame is the envelope every frame shares; decode it first to learn the type.
type Frame struct {
	Type string `json:"type"`
}

// Hello is the client's first frame.
type Hello struct {
	Type      string `json:"type"`
	Protocol  int    `json:"protocol"`
	Workspace string `json:"workspace"`
	Device    string `json:"device"`
	Cursor    Cursor `json:"cursor"`
	Auth      Auth   `json:"auth"`
}

// Welcome answers a good hello.
type Welcome struct {
	Type         string           `json:"type"`
	Identity     conv.Participant `json:"identity"`
	Epoch        string           `json:"epoch"`
	Head         uint64           `json:"head"`
	Backlog      uint64           `json:"backlog"`
	LastMid      uint64           `json:"lastMid"`
	VisitorToken string           `json:"visitorToken,omitempty"`
	// FileToken is a bearer for this session's identity on the relay's file
	// routes (PUT and GET /v1/files/{ws}/…, DESIGN §10): it works while the
	// session lasts and an hour after, on every relay sharing the log.
	FileToken string `json:"fileToken,omitempty"`
	// Workspace describes the workspace to agents' and assistants' devices
	// (typed attribute inputs, an assign list). The relay never sends it to
	// contacts or visitors.
	Workspace *WorkspaceInfo `json:"workspace,omitempty"`
}

// WorkspaceInfo is what a team device needs to know of its workspace: its
// attribute definitions and its members (every agent, role agent, and
// assistant, role assistant, with names; never tokens or secrets).
type WorkspaceInfo struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Attributes []conv.AttributeDef `json:"attributes"`
	Members    []conv.Participant  `json:"members"`
}

// Events carries canonical events in log order: backlog pages, then live ones.
type Events struct {
	Type   string       `json:"type"`
	Events []conv.Event `json:"events"`
}

// CaughtUp ends the backlog.
type CaughtUp struct {
	Type   string `json:"type"`
	Cursor Cursor `json:"cursor"`
}

// Push carries a device's events, in mid order.
type Push struct {
	Type   string       `json:"type"`
	Events []conv.Event `json:"events"`
}

// Result is the outcome of one pushed event: its seq (0 for an event that
// changed nothing), or its error.
type Result struct {
	ID    string      `json:"id"`
	Seq   uint64      `json:"seq"`
	Error *conv.Error `json:"error,omitempty"`
}

// MarshalJSON writes {id, seq} or {id, error}, as DESIGN §5 shows them.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.Error != nil {
		return json.Marshal(struct {
			ID    string      `json:"id"`
			Error *conv.Error `json:"error"`
		}{r.ID, r.Error})
	}
	return json.Marshal(struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}{r.ID, r.Seq})
}

// Ack answers a push, one result per event in the push's order.
type Ack struct {
	Type    string   `json:"type"`
	Results []Result `json:"results"`
}

// Typing is relayed, never stored. The client sends {conv, on}; the relay
// adds the participant.
type Typing struct {
	Type        string            `json:"type"`
	Conv        string            `json:"conv"`
	Participant *conv.Participant `json:"participant,omitempty"`
	On          bool              `json:"on"`
}

// Error reports a bad frame or a failed session. A fatal one is followed by
// a close with CloseCodeFor(Code).
type Error struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Fatal   bool   `json:"fatal"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// NewError builds an error frame.
func NewError(code, message string, fatal bool) Error {
	return Error{Type: TypeError, Code: code, Message: message, Fatal: fatal}
}
