package relay

import (
	"errors"
	"io"
)

// Blobs keeps the bytes of attachments (DESIGN §10), content-addressed per
// workspace: a file's id is the SHA-256 of its bytes in lowercase hex, and
// the same bytes are stored once. Beside the bytes it keeps what the relay
// must know of each file to decide who may fetch it: the identities that
// uploaded it and the events that name it (FileRef). It sits beside the Log
// and is safe for concurrent use.
//
// The embedded implementation is DiskBlobs, under the relay's data
// directory; relays whose log is on NATS JetStream share JetStreamBlobs (an
// object store and a key-value bucket per workspace, with --data holding
// only a cache), so that every relay sharing the log answers the same.
type Blobs interface {
	// Put stores what r yields as file sha of ws, reading at most max
	// bytes. When it returns nil, the file is durable: it survives a crash
	// of the process and of the machine. created is false when the file was
	// already there; its bytes are still read and checked (so a Put proves
	// that the caller holds them), and nothing is written. Errors:
	// ErrFileHash when the bytes do not hash to sha, ErrFileTooLarge when r
	// yields more than max bytes, ErrBadFileID for a sha that is not 64
	// lowercase hex digits; nothing is stored then.
	Put(ws, sha string, r io.Reader, max int64) (b Blob, created bool, err error)

	// Open returns file id of ws for reading, and its description;
	// ErrNoFile when it is not stored. The caller closes it.
	Open(ws, id string) (io.ReadSeekCloser, Blob, error)

	// Stat describes file id of ws; ErrNoFile when it is not stored.
	Stat(ws, id string) (Blob, error)

	// Has reports whether file id of ws is stored.
	Has(ws, id string) bool

	// Refer records refs of file id (stored), durably, before it returns
	// nil; refs recorded already (the same uploader, the same seq) are
	// skipped.
	Refer(ws, id string, refs ...FileRef) error

	// Refs returns what was recorded of file id, oldest first.
	Refs(ws, id string) ([]FileRef, error)

	// Close releases the store. Nothing may be called afterwards.
	Close() error
}

// Blob describes a stored file: the JSON of a PUT's answer.
type Blob struct {
	ID     string `json:"id"`     // the SHA-256 of the bytes, 64 lowercase hex digits
	SHA256 string `json:"sha256"` // the same
	Size   int64  `json:"size"`
	Type   string `json:"type"` // sniffed from the bytes (sniffType): the relay's, whatever a client says
}

// FileRef is one thing the relay remembers of a stored file: an identity
// that uploaded it (Uploader), or an event that names it (Seq, Conv). An
// event ref is written while its event is validated, before the event is
// logged, so a logged event always has its ref; a ref whose event did not
// make it to the log (its group commit failed) is ignored, since a reader
// checks every event ref against the log.
type FileRef struct {
	Uploader string `json:"u,omitempty"` // a participant id: "contact:42", "api:backend"
	Seq      uint64 `json:"s,omitempty"`
	Conv     string `json:"c,omitempty"`
}

var (
	ErrNoFile       = errors.New("relay: no such file")
	ErrFileHash     = errors.New("relay: the bytes do not hash to the file's sha256")
	ErrFileTooLarge = errors.New("relay: the file is too large")
	ErrBadFileID    = errors.New("relay: a file id is 64 lowercase hex digits")
)
