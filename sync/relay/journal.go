package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The journal is BadgerLog's write-ahead file. Badger runs without
// SyncWrites: its own write-ahead log is a memory-mapped file synced with
// msync, which costs about twice a plain fdatasync of a preallocated file on
// the disks we measured. So every write is first appended to the journal as
// one record (the keys and values it sets or deletes) and fdatasync'd, then
// applied to Badger. After a crash, Open replays the journal into Badger;
// replaying is idempotent because a record only sets or deletes whole keys.
//
// The journal is a series of segment files, NNNNNNNNNNNNNNNN.wal, each
// preallocated to segmentSize. A record is
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
// A segment may be deleted once Badger holds all of its records durably. A
// full segment is sealed: Badger's active memtable is synced (db.Sync) and the
// memtable files older than it are noted; those are flushed to synced tables
// by Badger in the background and then removed. When none of them is left,
// every record of the sealed segment is on disk in Badger, and the segment
// goes.
type journal struct {
	dir     string
	segSize int64

	f   *os.File
	seg uint64
	off int64
	buf []byte

	sealed []sealedSegment
}

// sealedSegment is a full segment and the Badger memtable files that must be
// gone (flushed to tables) before it may be deleted.
type sealedSegment struct {
	seg     uint64
	pending []string
}

const (
	journalHeader    = 16
	opSet            = 1
	opDelete         = 2
	defaultSegSize   = 64 << 20
	journalExtension = ".wal"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptRecord ends the replay of a segment at a record that does not
// decode (a torn write).
var errCorruptRecord = errors.New("relay: corrupt journal record")

// journalOp is one operation of a journal record.
type journalOp struct {
	del        bool
	key, value []byte
}

// segments lists the journal's segment numbers, ascending.
func (j *journal) segments() ([]uint64, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("relay: read journal directory: %w", err)
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
			return records, fmt.Errorf("relay: read journal segment %x: %w", seg, err)
		}
		for off := 0; ; {
			ops, n, err := decodeRecord(data[off:], seg)
			if err != nil || n == 0 {
				break
			}
			if err := apply(ops); err != nil {
				return records, fmt.Errorf("relay: replay journal segment %x: %w", seg, err)
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
	return j.f == nil || j.off+int64(len(j.buf)) > j.segSize
}

// write appends the record in j.buf to the current segment and syncs it.
// The caller seals the segment first when it is full.
func (j *journal) write() error {
	size := len(j.buf) - journalHeader
	if uint64(size) > 1<<31 {
		return fmt.Errorf("relay: journal record of %d bytes", size)
	}
	putHeader(j.buf, size, j.seg)
	if _, err := j.f.WriteAt(j.buf, j.off); err != nil {
		return fmt.Errorf("relay: write journal: %w", err)
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("relay: sync journal: %w", err)
	}
	j.off += int64(len(j.buf))
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
	size := max(j.segSize, need)
	f, err := os.OpenFile(j.path(seg), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("relay: create journal segment: %w", err)
	}
	if err := preallocate(f, size); err != nil {
		f.Close()
		return fmt.Errorf("relay: preallocate journal segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("relay: sync journal segment: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.seg, j.off = f, seg, 0
	return nil
}

// seal notes that segments may go once the memtable files pending are
// gone; the caller has synced Badger's active memtable.
func (j *journal) seal(segs []uint64, pending []string) {
	for _, s := range segs {
		j.sealed = append(j.sealed, sealedSegment{seg: s, pending: pending})
	}
}

// collect deletes the sealed segments Badger no longer needs.
func (j *journal) collect() error {
	keep := j.sealed[:0]
	var firstErr error
	for _, s := range j.sealed {
		if anyExists(s.pending) {
			keep = append(keep, s)
			continue
		}
		if err := os.Remove(j.path(s.seg)); err != nil && !errors.Is(err, os.ErrNotExist) && firstErr == nil {
			firstErr = fmt.Errorf("relay: remove journal segment: %w", err)
		}
	}
	j.sealed = keep
	return firstErr
}

// removeAll deletes every segment: Badger was closed cleanly, so it holds
// them all.
func (j *journal) removeAll() error {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	segs, err := j.segments()
	if err != nil {
		return err
	}
	for _, s := range segs {
		if err := os.Remove(j.path(s)); err != nil {
			return fmt.Errorf("relay: remove journal segment: %w", err)
		}
	}
	return syncDir(j.dir)
}

func (j *journal) close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("relay: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("relay: sync %s: %w", dir, err)
	}
	return nil
}
