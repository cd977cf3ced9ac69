package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/threadline/threadline/internal/fsync"
)

// WebhookCursor is where delivery to one webhook endpoint stands.
type WebhookCursor struct {
	// Done is the seq up to which every event of the workspace is done
	// with: answered 2xx, dropped after failing for a day, or not of a kind
	// the endpoint takes. Delivery resumes at Done+1.
	Done uint64
	// FailingSince is when delivery of the event after Done first failed;
	// zero while it has not. It survives a restart, so an event is dropped
	// a day after its first failure however often the relay restarts.
	FailingSince time.Time
}

// cursorFiles keeps the Badger's webhook cursors outside Badger, one
// small file per endpoint under <log dir>/webhooks/<hex ws>/<hex endpoint>,
// so that saving one never takes the log's write lock nor adds a record to
// its journal: a cursor's fdatasync does not queue behind a group commit,
// nor a group commit behind it.
//
// A file holds two 32-byte slots, written in turn: a save overwrites the
// older slot in place and fdatasyncs. A save torn by a crash spoils only the
// slot it was writing (its checksum fails), and the other one, the previous
// save, is read instead: a torn save delivers again, it never skips.
//
//	slot: "TLwc"(4) gen(8) done(8) failingSince unix ns(8) crc32c of the 28 bytes before(4)
type cursorFiles struct {
	dir string

	mu     sync.Mutex
	files  map[string]*cursorFile // by path
	closed bool
}

type cursorFile struct {
	mu  sync.Mutex
	f   *os.File
	gen uint64 // of the newest valid slot
}

const (
	cursorSlot  = 32
	cursorMagic = "TLwc"
)

var (
	errCursorClosed = errors.New("eventlog: webhook cursors are closed")
)

func (cs *cursorFiles) path(ws, endpoint string) string {
	return filepath.Join(cs.dir, hex.EncodeToString([]byte(ws)), hex.EncodeToString([]byte(endpoint)))
}

// load returns the cursor saved for (ws, endpoint).
func (cs *cursorFiles) load(ws, endpoint string) (WebhookCursor, bool, error) {
	cs.mu.Lock()
	cf := cs.files[cs.path(ws, endpoint)]
	cs.mu.Unlock()
	if cf != nil {
		cf.mu.Lock()
		defer cf.mu.Unlock()
		c, _, ok, err := readCursor(cf.f)
		return c, ok, err
	}
	f, err := os.Open(cs.path(ws, endpoint))
	if errors.Is(err, os.ErrNotExist) {
		return WebhookCursor{}, false, nil
	}
	if err != nil {
		return WebhookCursor{}, false, fmt.Errorf("eventlog: webhook cursor: %w", err)
	}
	defer f.Close()
	c, _, ok, err := readCursor(f)
	return c, ok, err
}

// save writes c durably for (ws, endpoint).
func (cs *cursorFiles) save(ws, endpoint string, c WebhookCursor) error {
	cf, err := cs.file(ws, endpoint)
	if err != nil {
		return err
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.f == nil {
		return errCursorClosed
	}
	cf.gen++
	slot := encodeCursorSlot(cf.gen, c)
	if _, err := cf.f.WriteAt(slot, int64(cf.gen%2)*cursorSlot); err != nil {
		return fmt.Errorf("eventlog: save webhook cursor: %w", err)
	}
	if err := fsync.Data(cf.f); err != nil {
		return fmt.Errorf("eventlog: save webhook cursor: %w", err)
	}
	return nil
}

// file returns the open cursor file of (ws, endpoint), creating it (synced,
// with its directories) the first time.
func (cs *cursorFiles) file(ws, endpoint string) (*cursorFile, error) {
	p := cs.path(ws, endpoint)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return nil, errCursorClosed
	}
	if cf := cs.files[p]; cf != nil {
		return cf, nil
	}
	if err := cs.mkdirs(filepath.Dir(p)); err != nil {
		return nil, fmt.Errorf("eventlog: webhook cursor directory: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("eventlog: webhook cursor: %w", err)
	}
	_, gen, ok, err := readCursor(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if !ok {
		// New (or never completely saved): give it both slots now, so
		// that a save never changes its size and fdatasync has no
		// metadata to write; then make the file itself durable.
		if err := f.Truncate(2 * cursorSlot); err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = fsync.Dir(filepath.Dir(p))
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("eventlog: webhook cursor: %w", err)
		}
	}
	cf := &cursorFile{f: f, gen: gen}
	cs.files[p] = cf
	return cf, nil
}

// mkdirs creates dir and its parents up to cs.dir's, syncing each parent
// that gained an entry.
func (cs *cursorFiles) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir != cs.dir {
		if err := cs.mkdirs(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return fsync.Dir(filepath.Dir(dir))
}

// close closes every cursor file; saves fail afterwards.
func (cs *cursorFiles) close() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	var errs []error
	for p, cf := range cs.files {
		cf.mu.Lock()
		errs = append(errs, cf.f.Close())
		cf.f = nil
		cf.mu.Unlock()
		delete(cs.files, p)
	}
	return errors.Join(errs...)
}

func encodeCursorSlot(gen uint64, c WebhookCursor) []byte {
	b := make([]byte, 0, cursorSlot)
	b = append(b, cursorMagic...)
	b = binary.BigEndian.AppendUint64(b, gen)
	b = binary.BigEndian.AppendUint64(b, c.Done)
	var since int64
	if !c.FailingSince.IsZero() {
		since = c.FailingSince.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(since))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCursorSlot reads a slot; ok is false for a torn or empty one.
func decodeCursorSlot(b []byte) (gen uint64, c WebhookCursor, ok bool) {
	if len(b) < cursorSlot || string(b[:4]) != cursorMagic ||
		binary.BigEndian.Uint32(b[28:32]) != crc32.Checksum(b[:28], castagnoli) {
		return 0, c, false
	}
	gen = binary.BigEndian.Uint64(b[4:12])
	c.Done = binary.BigEndian.Uint64(b[12:20])
	if since := int64(binary.BigEndian.Uint64(b[20:28])); since != 0 {
		c.FailingSince = time.Unix(0, since)
	}
	return gen, c, true
}

// readCursor returns the newest valid slot of f.
func readCursor(f *os.File) (c WebhookCursor, gen uint64, ok bool, err error) {
	var b [2 * cursorSlot]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return c, 0, false, fmt.Errorf("eventlog: read webhook cursor: %w", err)
	}
	for i := 0; i+cursorSlot <= n; i += cursorSlot {
		if g, sc, valid := decodeCursorSlot(b[i : i+cursorSlot]); valid && (!ok || g > gen) {
			c, gen, ok = sc, g, true
		}
	}
	return c, gen, ok, nil
}
