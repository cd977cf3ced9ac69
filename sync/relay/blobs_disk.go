package relay

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/fsync"
)

// DiskBlobs is the embedded Blobs: files under a directory of the relay's
// data folder (the relay binary uses DIR/files).
//
// Layout, per workspace (its id as the folder name when it is a plain name,
// else "x-" and its hex):
//
//	<ws>/<aa>/<sha256>        the bytes; aa is the id's first two hex digits
//	<ws>/<aa>/<sha256>.refs   JSON lines, one FileRef each, appended
//	<ws>/tmp/                 uploads in progress; emptied when the store opens
//
// A Put writes to a temporary file while hashing, fdatasyncs it, renames it
// to its id (unless the id is there by then: the same bytes are stored
// once) and fsyncs the folder, so a file is whole and durable under its
// name, or absent. A Refer appends its lines and fdatasyncs the refs file
// (and fsyncs the folder when it made the file). A torn last line, which no
// Refer acknowledged, is skipped when read.
type DiskBlobs struct {
	dir   string
	seed  maphash.Seed
	locks [64]sync.Mutex // by id: a Put's rename, a Refer's append
	bufs  sync.Pool

	// synced, when set (tests), is told of every fdatasync or fsync, after
	// it, with the path.
	synced func(path string)
}

var _ Blobs = (*DiskBlobs)(nil)

// diskCopyBuf is the size of the buffer a Put copies through.
const diskCopyBuf = 1 << 20

// OpenDiskBlobs opens (creating it) the store in dir and removes the
// uploads a crash left unfinished.
func OpenDiskBlobs(dir string) (*DiskBlobs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: files: %w", err)
	}
	d := &DiskBlobs{dir: dir, seed: maphash.MakeSeed()}
	if err := d.syncDir(filepath.Dir(dir)); err != nil { // the store's own folder, if just made
		return nil, err
	}
	d.bufs.New = func() any { b := make([]byte, diskCopyBuf); return &b }
	tmps, err := filepath.Glob(filepath.Join(dir, "*", "tmp", "*"))
	if err != nil {
		return nil, fmt.Errorf("relay: files: %w", err)
	}
	for _, p := range tmps {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("relay: files: remove unfinished upload: %w", err)
		}
	}
	return d, nil
}

// Close implements Blobs.
func (d *DiskBlobs) Close() error { return nil }

// wsDir is the folder of workspace ws.
func (d *DiskBlobs) wsDir(ws string) string {
	plain := ws != "" && ws != "." && ws != ".." && ws != "tmp" && len(ws) <= 100
	for i := 0; plain && i < len(ws); i++ {
		c := ws[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if plain && ws[0] != 'x' { // "x-…" names the others
		return filepath.Join(d.dir, ws)
	}
	return filepath.Join(d.dir, "x-"+hex.EncodeToString([]byte(ws)))
}

// path is where file id of ws lives; id is a valid file id.
func (d *DiskBlobs) path(ws, id string) string {
	return filepath.Join(d.wsDir(ws), id[:2], id)
}

func (d *DiskBlobs) lock(id string) *sync.Mutex {
	return &d.locks[maphash.String(d.seed, id)%uint64(len(d.locks))]
}

// Put implements Blobs.
func (d *DiskBlobs) Put(ws, sha string, r io.Reader, max int64) (Blob, bool, error) {
	if !conv.IsFileID(sha) {
		return Blob{}, false, ErrBadFileID
	}
	final := d.path(ws, sha)
	bp := d.bufs.Get().(*[]byte)
	defer d.bufs.Put(bp)
	if b, err := d.Stat(ws, sha); err == nil {
		// Stored already: the bytes must still be the file's.
		var head headBuf
		if err := copyHashed(io.Discard, &head, r, max, sha, *bp); err != nil {
			return Blob{}, false, err
		}
		now := time.Now() // uploaded now: Collect counts its grace from here
		_ = os.Chtimes(final, now, now)
		return b, false, nil
	} else if !errors.Is(err, ErrNoFile) {
		return Blob{}, false, err
	}

	tmpDir := filepath.Join(d.wsDir(ws), "tmp")
	if err := d.mkdirs(tmpDir); err != nil {
		return Blob{}, false, err
	}
	f, err := os.CreateTemp(tmpDir, "up-")
	if err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var head headBuf
	if err := copyHashed(f, &head, r, max, sha, *bp); err != nil {
		return Blob{}, false, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	if err := fsync.Data(f); err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: sync %s: %w", tmp, err)
	}
	d.told(tmp)
	if err := f.Close(); err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	dir := filepath.Dir(final)
	if err := d.mkdirs(dir); err != nil {
		return Blob{}, false, err
	}
	b := Blob{ID: sha, SHA256: sha, Size: size, Type: sniffType(head.b)}
	mu := d.lock(sha)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(final); err == nil {
		done = true
		os.Remove(tmp)
		return b, false, nil // another Put of the same bytes won
	}
	if err := os.Rename(tmp, final); err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	done = true
	if err := d.syncDir(dir); err != nil {
		return Blob{}, false, err
	}
	return b, true, nil
}

// headBuf keeps the first sniffLen bytes written to it.
type headBuf struct{ b []byte }

func (h *headBuf) keep(p []byte) {
	if n := sniffLen - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
}

// copyHashed copies at most max bytes of r to w, keeping the head, and
// checks that they hash to sha.
func copyHashed(w io.Writer, head *headBuf, r io.Reader, max int64, sha string, buf []byte) error {
	h := sha256.New()
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(k)
			if n > max {
				return fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, max)
			}
			head.keep(buf[:k])
			h.Write(buf[:k])
			if _, werr := w.Write(buf[:k]); werr != nil {
				return fmt.Errorf("relay: files: write: %w", werr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("relay: files: read upload: %w", err)
		}
	}
	var sum [sha256.Size]byte
	if got := hex.EncodeToString(h.Sum(sum[:0])); got != sha {
		return fmt.Errorf("%w: %d bytes hash to %s", ErrFileHash, n, got)
	}
	return nil
}

// mkdirs makes dir and the folders above it that are missing, down from
// the store's own, fsyncing each parent that got a new entry.
func (d *DiskBlobs) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != d.dir && len(parent) > len(d.dir) {
		if err := d.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("relay: files: %w", err)
	}
	return d.syncDir(filepath.Dir(dir))
}

func (d *DiskBlobs) syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("relay: files: sync %s: %w", dir, err)
	}
	d.told(dir)
	return nil
}

func (d *DiskBlobs) told(path string) {
	if d.synced != nil {
		d.synced(path)
	}
}

// Stat implements Blobs.
func (d *DiskBlobs) Stat(ws, id string) (Blob, error) {
	f, b, err := d.Open(ws, id)
	if err != nil {
		return Blob{}, err
	}
	f.Close()
	return b, nil
}

// Has implements Blobs.
func (d *DiskBlobs) Has(ws, id string) bool {
	if !conv.IsFileID(id) {
		return false
	}
	_, err := os.Stat(d.path(ws, id))
	return err == nil
}

// Open implements Blobs.
func (d *DiskBlobs) Open(ws, id string) (io.ReadSeekCloser, Blob, error) {
	if !conv.IsFileID(id) {
		return nil, Blob{}, ErrNoFile
	}
	f, err := os.Open(d.path(ws, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Blob{}, ErrNoFile
	}
	if err != nil {
		return nil, Blob{}, fmt.Errorf("relay: files: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Blob{}, fmt.Errorf("relay: files: %w", err)
	}
	head := make([]byte, min(fi.Size(), sniffLen))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		f.Close()
		return nil, Blob{}, fmt.Errorf("relay: files: %w", err)
	}
	return f, Blob{ID: id, SHA256: id, Size: fi.Size(), Type: sniffType(head)}, nil
}

// Refer implements Blobs.
func (d *DiskBlobs) Refer(ws, id string, refs ...FileRef) error {
	if !conv.IsFileID(id) {
		return ErrBadFileID
	}
	mu := d.lock(id)
	mu.Lock()
	defer mu.Unlock()
	have, err := d.refs(ws, id)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range refs {
		if slices.ContainsFunc(have, func(h FileRef) bool { return sameRef(h, r) }) {
			continue
		}
		have = append(have, r)
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("relay: files: %w", err)
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	p := d.path(ws, id) + ".refs"
	_, serr := os.Stat(p)
	made := errors.Is(serr, fs.ErrNotExist)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	defer f.Close()
	lines := buf.Bytes()
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		// A torn last line (a crash mid-append, never acknowledged) must
		// not swallow this one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			lines = append([]byte{'\n'}, lines...)
		}
	}
	if _, err := f.Write(lines); err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	if err := fsync.Data(f); err != nil {
		return fmt.Errorf("relay: files: sync %s: %w", p, err)
	}
	d.told(p)
	if made {
		return d.syncDir(filepath.Dir(p))
	}
	return nil
}

func sameRef(a, b FileRef) bool {
	if a.Uploader != "" || b.Uploader != "" {
		return a.Uploader == b.Uploader
	}
	return a.Seq == b.Seq
}

// Refs implements Blobs.
func (d *DiskBlobs) Refs(ws, id string) ([]FileRef, error) {
	if !conv.IsFileID(id) {
		return nil, nil
	}
	return d.refs(ws, id)
}

func (d *DiskBlobs) refs(ws, id string) ([]FileRef, error) {
	return readRefs(d.path(ws, id) + ".refs")
}

// readRefs reads the refs file p; none when there is no such file.
func readRefs(p string) ([]FileRef, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: files: %w", err)
	}
	defer f.Close()
	var out []FileRef
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var r FileRef
		if json.Unmarshal(sc.Bytes(), &r) == nil && (r.Uploader != "" || r.Seq > 0) {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("relay: files: read refs: %w", err)
	}
	return out, nil
}

// Collect removes the files that no event names and that nobody has
// uploaded or named for grace: those whose refs hold no event (only
// uploaders, or none) and whose bytes and refs were last written before
// now-grace. They are uploads whose message never came: a client uploads a
// file right before it pushes the event naming it, so grace (days) leaves
// a device that went offline in between time to come back. A file an event
// names is never removed, whether or not the event made it to the log (its
// ref is written before it is logged). Refs files whose file is gone (a
// crash between the two removals) go too. It returns how many files went
// and their bytes.
//
// Collect must run before the store serves (the relay binary calls it at
// start): an event being validated names a file it has just seen stored,
// and a concurrent Collect could remove it before the event's ref is
// written.
func (d *DiskBlobs) Collect(grace time.Duration, now time.Time) (removed int, freed int64, err error) {
	before := now.Add(-grace)
	old := func(p string) bool {
		fi, err := os.Stat(p)
		return errors.Is(err, fs.ErrNotExist) || err == nil && fi.ModTime().Before(before)
	}
	wss, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, 0, fmt.Errorf("relay: files: %w", err)
	}
	for _, w := range wss {
		if !w.IsDir() {
			continue
		}
		shards, err := os.ReadDir(filepath.Join(d.dir, w.Name()))
		if err != nil {
			return removed, freed, fmt.Errorf("relay: files: %w", err)
		}
		for _, sh := range shards {
			if !sh.IsDir() || len(sh.Name()) != 2 {
				continue // tmp/: emptied at open
			}
			dir := filepath.Join(d.dir, w.Name(), sh.Name())
			ents, err := os.ReadDir(dir)
			if err != nil {
				return removed, freed, fmt.Errorf("relay: files: %w", err)
			}
			for _, e := range ents {
				id, isRefs := strings.CutSuffix(e.Name(), ".refs")
				if !conv.IsFileID(id) || id[:2] != sh.Name() {
					continue
				}
				p := filepath.Join(dir, id)
				if isRefs {
					if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) && old(p+".refs") {
						os.Remove(p + ".refs") // its file went before a crash
					}
					continue
				}
				refs, err := readRefs(p + ".refs")
				if err != nil {
					return removed, freed, err
				}
				if slices.ContainsFunc(refs, func(r FileRef) bool { return r.Seq > 0 }) || !old(p) || !old(p+".refs") {
					continue
				}
				fi, err := os.Stat(p)
				if err != nil {
					continue
				}
				if err := os.Remove(p); err != nil {
					return removed, freed, fmt.Errorf("relay: files: %w", err)
				}
				if err := os.Remove(p + ".refs"); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return removed, freed, fmt.Errorf("relay: files: %w", err)
				}
				removed++
				freed += fi.Size()
			}
		}
	}
	return removed, freed, nil
}
