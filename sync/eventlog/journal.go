package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/threadline/threadline/internal/fsync"
)

// The journal is Badger's write-ahead file. Badger runs without
// SyncWrites: its own write-ahead log is a memory-mapped file synced with
// msync, which costs about twice a plain fdatasync of a preallocated file on
// the disks we measured. So every write is first appended to the journal as
// one record (the keys and values it sets or deletes) and fdatasync'd, then
// applied to Badger. After a crash, Open replays the journal into Badger;
// replaying is idempotent because a record only sets or deletes whole keys.
//
// The journal is a series of segment files, NNNNNNNNNNNNNNNN.wal, each
// preallocated (64 MiB; the first of a run 4 MiB). A record is
//
//	length(4) crc32c(4) segment(8) payload
//
// where the checksum covers the segment number and the payload; replay of a
// segment stops at the first record whose length is zero or whose checksum or
// segment number does not match (the unwritten, zero-filled tail, or a write
// torn by a crash). The payload is a list of operations:
//
//	1 uvarint(len key) key uvarint(len value) value   (set)
//	2 uvarint(len key) key                             (delete)
//
// A segment may be deleted once Badger holds all of its records durably.
// Badger's own write-ahead files are not synced here, so that is once its
// memtables holding them have been flushed to tables, which Badger syncs.
// The journal learns it from Badger's public API: when a segment is sealed,
// a new read transaction's ReadTs is the newest version committed, at or
// above every record of the segment; DB.Tables gives each table's highest
// version (MaxVersion); and memtables flush in the order they filled, so a
// table at or above that version means every memtable that held the
// segment's records is flushed. The segment then goes. A quiet relay whose
// memtable never fills keeps its segments until Close, which flushes
// everything and deletes them all.
//
// A new segment's blocks are best written before it is used: fdatasync of a
// record that lands in never-written (fallocated) blocks must also commit
// the file system's journal, which here doubled the p99 of a sync. So the
// journal keeps one spare segment whose blocks are written: a full segment
// Badger no longer needs is renamed to be the spare instead of deleted, and
// when there is none, one is filled with zeros in the background once the
// current segment is a quarter full. A new segment takes the spare when it
// is ready, else a freshly fallocated file. A recycled spare still holds
// its old records; they carry their old segment number, so replay stops at
// them as at zeros.
type journal struct {
	dir     string
	segSize int64

	f    *os.File
	seg  uint64
	size int64 // of f
	off  int64
	buf  []byte

	// mu guards what the writer, the background checkpoints, the janitor
	// and the spare's filler share.
	mu         sync.Mutex
	sealed     []sealedSegment
	spareReady bool // dir/spare is complete
	filling    bool // a goroutine is writing dir/spare.tmp
	fills      sync.WaitGroup
	stop       atomic.Bool
}

// sealedSegment is a full segment and the Badger version that must be in
// Badger's tables (flushed) before it may be deleted.
type sealedSegment struct {
	seg     uint64
	written uint64 // Badger's newest version when it was sealed
	full    bool   // written to its end: fit to be the spare
}

const (
	journalHeader    = 16
	opSet            = 1
	opDelete         = 2
	defaultSegSize   = 64 << 20
	journalExtension = ".wal"
	spareName        = "spare"
	firstSegSize     = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptRecord ends the replay of a segment at a record that does not
// decode (a torn write).
var errCorruptRecord = errors.New("eventlog: corrupt journal record")

// journalOp is one operation of a journal record.
type journalOp struct {
	del        bool
	key, value []byte
}

// segments lists the journal's segment numbers, ascending.
func (j *journal) segments() ([]uint64, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("eventlog: read journal directory: %w", err)
	}
	var segs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), journalExtension)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

func (j *journal) path(seg uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016x%s", seg, journalExtension))
}

// replay calls apply with the operations of every intact record, segment by
// segment, in the order they were written.
func (j *journal) replay(segs []uint64, apply func([]journalOp) error) (records int, err error) {
	for _, seg := range segs {
		data, err := os.ReadFile(j.path(seg))
		if err != nil {
			return records, fmt.Errorf("eventlog: read journal segment %x: %w", seg, err)
		}
		for off := 0; ; {
			ops, n, err := decodeRecord(data[off:], seg)
			if err != nil || n == 0 {
				break
			}
			if err := apply(ops); err != nil {
				return records, fmt.Errorf("eventlog: replay journal segment %x: %w", seg, err)
			}
			records++
			off += n
		}
	}
	return records, nil
}

// decodeRecord reads the record at the start of b. n is 0 at the end of the
// written part of a segment.
func decodeRecord(b []byte, seg uint64) (ops []journalOp, n int, err error) {
	if len(b) < journalHeader {
		return nil, 0, nil
	}
	size := int(binary.LittleEndian.Uint32(b))
	if size == 0 {
		return nil, 0, nil
	}
	if size > len(b)-journalHeader || binary.LittleEndian.Uint64(b[8:]) != seg {
		return nil, 0, errCorruptRecord
	}
	if crc32.Checksum(b[8:journalHeader+size], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errCorruptRecord
	}
	p := b[journalHeader : journalHeader+size]
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		var o journalOp
		var ok bool
		if o.key, p, ok = cutBytes(p); !ok {
			return nil, 0, errCorruptRecord
		}
		switch op {
		case opSet:
			if o.value, p, ok = cutBytes(p); !ok {
				return nil, 0, errCorruptRecord
			}
		case opDelete:
			o.del = true
		default:
			return nil, 0, errCorruptRecord
		}
		ops = append(ops, o)
	}
	return ops, journalHeader + size, nil
}

func cutBytes(p []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}

// begin starts a record in j.buf.
func (j *journal) begin() {
	j.buf = append(j.buf[:0], make([]byte, journalHeader)...)
}

func (j *journal) set(k, v []byte) {
	j.buf = append(j.buf, opSet)
	j.buf = binary.AppendUvarint(j.buf, uint64(len(k)))
	j.buf = append(j.buf, k...)
	j.buf = binary.AppendUvarint(j.buf, uint64(len(v)))
	j.buf = append(j.buf, v...)
}

func (j *journal) delete(k []byte) {
	j.buf = append(j.buf, opDelete)
	j.buf = binary.AppendUvarint(j.buf, uint64(len(k)))
	j.buf = append(j.buf, k...)
}

// full reports whether the record in j.buf does not fit in the current
// segment.
func (j *journal) full() bool {
	return j.f == nil || j.off+int64(len(j.buf)) > j.size
}

// write appends the record in j.buf to the current segment and syncs it.
// The caller seals the segment first when it is full.
func (j *journal) write() error {
	size := len(j.buf) - journalHeader
	if uint64(size) > 1<<31 {
		return fmt.Errorf("eventlog: journal record of %d bytes", size)
	}
	putHeader(j.buf, size, j.seg)
	if _, err := j.f.WriteAt(j.buf, j.off); err != nil {
		return fmt.Errorf("eventlog: write journal: %w", err)
	}
	if err := fsync.Data(j.f); err != nil {
		return fmt.Errorf("eventlog: sync journal: %w", err)
	}
	j.off += int64(len(j.buf))
	j.maybeFill()
	return nil
}

// putHeader fills in the header of the record in rec.
func putHeader(rec []byte, size int, seg uint64) {
	binary.LittleEndian.PutUint32(rec, uint32(size))
	binary.LittleEndian.PutUint64(rec[8:], seg)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], castagnoli))
}

// create starts segment seg, large enough for a record of need bytes, and
// makes its existence durable.
func (j *journal) create(seg uint64, need int64) error {
	if need <= j.segSize {
		f, err := j.takeSpare(seg)
		if err != nil {
			return err
		}
		if f != nil {
			j.use(f, seg)
			return nil
		}
	}
	// Without a spare: a fallocated file, or, for the first segment of a
	// run, a small one written with zeros (a relay that stays quiet never
	// writes a whole segment of them; a busy one has a spare by the time
	// this one is full).
	size, zero := max(j.segSize, need), false
	if j.f == nil {
		size, zero = max(min(j.segSize, firstSegSize), need), true
	}
	f, err := os.OpenFile(j.path(seg), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("eventlog: create journal segment: %w", err)
	}
	if err := fsync.Preallocate(f, size); err != nil {
		f.Close()
		return fmt.Errorf("eventlog: preallocate journal segment: %w", err)
	}
	if zero {
		if err := j.zero(f, size, false); err != nil {
			f.Close()
			return fmt.Errorf("eventlog: write journal segment: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("eventlog: sync journal segment: %w", err)
	}
	if err := fsync.Dir(j.dir); err != nil {
		f.Close()
		return err
	}
	j.use(f, seg)
	return nil
}

func (j *journal) use(f *os.File, seg uint64) {
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.seg, j.off, j.size = f, seg, 0, j.segSize
	if st, err := f.Stat(); err == nil {
		j.size = st.Size()
	}
}

// takeSpare renames the spare, when ready, to segment seg and opens it; it
// returns nil when there is none.
func (j *journal) takeSpare(seg uint64) (*os.File, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.spareReady {
		return nil, nil
	}
	j.spareReady = false
	spare := filepath.Join(j.dir, spareName)
	if st, err := os.Stat(spare); err != nil || st.Size() < j.segSize {
		os.Remove(spare)
		return nil, nil
	}
	if err := os.Rename(spare, j.path(seg)); err != nil {
		return nil, fmt.Errorf("eventlog: use the spare journal segment: %w", err)
	}
	if err := fsync.Dir(j.dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(j.path(seg), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open journal segment: %w", err)
	}
	return f, nil
}

// findSpare notes a spare left by an earlier run, and removes a half-filled
// one.
func (j *journal) findSpare() {
	os.Remove(filepath.Join(j.dir, spareName+".tmp"))
	if st, err := os.Stat(filepath.Join(j.dir, spareName)); err == nil && st.Size() >= j.segSize {
		j.spareReady = true
	}
}

// maybeFill starts filling a spare with zeros in the background when the
// current segment is a quarter full and there is no spare.
func (j *journal) maybeFill() {
	if j.off < j.size/4 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.spareReady || j.filling || j.stop.Load() {
		return
	}
	j.filling = true
	j.fills.Add(1)
	go func() {
		defer j.fills.Done()
		err := j.fill()
		j.mu.Lock()
		j.filling = false
		j.spareReady = err == nil
		j.mu.Unlock()
	}()
}

// zero writes zeros over the first size bytes of f. Paced, it syncs each
// mebibyte and pauses after it, so that the disk is never busy with a burst
// of zeros long enough to hold up the syncs that acknowledge events.
func (j *journal) zero(f *os.File, size int64, paced bool) error {
	zero := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zero)) {
		if j.stop.Load() {
			return errors.New("eventlog: journal closed")
		}
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
			return err
		}
		if paced {
			if err := fsync.Data(f); err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// fill writes a spare: zeros over a fallocated file, synced, then renamed
// into place.
func (j *journal) fill() error {
	tmp := filepath.Join(j.dir, spareName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = fsync.Preallocate(f, j.segSize)
	if err == nil {
		err = j.zero(f, j.segSize, true)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(j.dir, spareName))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return fsync.Dir(j.dir)
}

// seal notes that segs may go once Badger's tables hold version written.
// full says they were written to their end.
func (j *journal) seal(segs []uint64, written uint64, full bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range segs {
		j.sealed = append(j.sealed, sealedSegment{seg: s, written: written, full: full})
	}
}

// collect deletes the sealed segments Badger no longer needs: those sealed
// at or below flushed, the newest version in Badger's tables.
func (j *journal) collect(flushed uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	keep := j.sealed[:0]
	var firstErr error
	for _, s := range j.sealed {
		if s.written > flushed {
			keep = append(keep, s)
			continue
		}
		if err := j.retire(s); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	j.sealed = keep
	return firstErr
}

// retire makes a segment Badger no longer needs the spare, or deletes it;
// j.mu is held.
// Either is made durable before the next record is written: a segment that
// came back after a crash would be replayed over newer writes.
func (j *journal) retire(s sealedSegment) error {
	recycle := s.full && !j.spareReady && !j.filling && !j.stop.Load()
	if st, err := os.Stat(j.path(s.seg)); err != nil || st.Size() < j.segSize {
		recycle = false // the small first segment
	}
	var err error
	if recycle {
		if err = os.Rename(j.path(s.seg), filepath.Join(j.dir, spareName)); err == nil {
			j.spareReady = true
		}
	} else {
		err = os.Remove(j.path(s.seg))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("eventlog: retire journal segment: %w", err)
	}
	return fsync.Dir(j.dir)
}

// removeAll deletes every segment (and keeps the spare): Badger was closed
// cleanly, so it holds them all.
func (j *journal) removeAll() error {
	j.close()
	segs, err := j.segments()
	if err != nil {
		return err
	}
	for _, s := range segs {
		if err := os.Remove(j.path(s)); err != nil {
			return fmt.Errorf("eventlog: remove journal segment: %w", err)
		}
	}
	return fsync.Dir(j.dir)
}

func (j *journal) close() error {
	j.stop.Store(true)
	j.fills.Wait()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
