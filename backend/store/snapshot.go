package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// The snapshot is every conversation row (the 'c' table's values) in one
// file next to Badger's, in inbox order, written when the store closes.
// Opening reads it instead of 100,000 Badger keys when it is current: its
// gen is the meta's, which every write that changes a row moves. It is a
// cache: missing, stale or damaged, it is ignored (and written again), and
// nothing is lost. (Kept in Badger, the 35 MB of a big store cost seconds of
// compaction at every close.)
//
//	magic "TLSNAP" | version[1] | gen uvarint | count uvarint | (len uvarint, row value)*count | crc32c[4] of all before
const snapshotFile = "inbox.snapshot"

var (
	snapMagic     = []byte("TLSNAP")
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
	errNoSnapshot = errors.New("store: no current snapshot")
)

func (s *Store) snapshotPath() string { return filepath.Join(s.dir, snapshotFile) }

// removeSnapshot deletes the snapshot file (Reset and Rebuild make it
// stale; deleting it frees the space at once).
func (s *Store) removeSnapshot() {
	if s.dir != "" {
		os.Remove(s.snapshotPath())
	}
}

// readSnapshot reads the rows of the snapshot file if it is current (gen),
// decoding them on every core; errNoSnapshot if there is none.
func (s *Store) readSnapshot(gen uint64) ([]*Row, error) {
	if s.dir == "" {
		return nil, errNoSnapshot
	}
	b, err := os.ReadFile(s.snapshotPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoSnapshot
	}
	if err != nil {
		return nil, err
	}
	if len(b) < len(snapMagic)+1+4 || !bytes.Equal(b[:len(snapMagic)], snapMagic) {
		return nil, fmt.Errorf("store: snapshot: %w", errCorrupt)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("store: snapshot checksum: %w", errCorrupt)
	}
	r := decoder{s: string(body), i: len(snapMagic)} // every row's strings share this one
	if v := r.byte1(); v != codecVersion {
		return nil, errNoSnapshot
	}
	if g := r.uvarint(); g != gen || r.err != nil {
		return nil, errNoSnapshot
	}
	n, _ := r.count()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = r.str()
	}
	if r.err != nil || r.i != len(r.s) {
		return nil, fmt.Errorf("store: snapshot: %w", errCorrupt)
	}
	rows := make([]*Row, n)
	workers := min(runtime.GOMAXPROCS(0), 8)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				id, unread, k, err := decodeRow(vals[i])
				if err != nil {
					errs[w] = fmt.Errorf("store: snapshot row %d: %w", i, err)
					return
				}
				rows[i] = &Row{ID: id, Sum: k.sum, CanonUnread: unread, Unread: unread, canon: k}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rows, nil
}

// writeSnapshot writes the snapshot file unless it is current. It reads
// one memdb snapshot (rows and gen agree), so writers go on meanwhile; if
// they change a row, the gen moves past the file's and opening ignores it.
// The file is written aside, synced, and renamed into place.
func (s *Store) writeSnapshot() error {
	if s.dir == "" {
		return nil
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	txn := s.mdb.Txn(false)
	m, err := txn.First(tableMeta, indexID, "m")
	if err != nil {
		return err
	}
	gen := m.(*Meta).Gen
	if cur, err := s.snapshotGen(); err == nil && cur == gen {
		return nil
	}
	it, err := txn.Get(tableConvs, indexID+"_prefix", "")
	if err != nil {
		return err
	}
	type kv struct {
		key []byte
		r   *Row
	}
	var all []kv
	size := 0
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*Row)
		if r.canon == nil {
			continue
		}
		size += len(r.canon.enc) + 48
		all = append(all, kv{inboxKeyOf(r.ID, r.canon.sum), r})
	}
	slices.SortFunc(all, func(a, b kv) int { return bytes.Compare(a.key, b.key) })
	var scratch []byte
	return writeSnapshotFile(s.snapshotPath(), gen, len(all), size, func(w *encoder, i int) {
		r := all[i].r
		scratch = appendRow(scratch[:0], r.CanonUnread, r.canon)
		w.bytes(scratch)
	})
}

// snapshotGen reads the gen of the snapshot file.
func (s *Store) snapshotGen() (uint64, error) {
	f, err := os.Open(s.snapshotPath())
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, len(snapMagic)+1+binary.MaxVarintLen64)
	n, _ := f.Read(head)
	r := decoder{s: string(head[:n]), i: len(snapMagic)}
	if !bytes.Equal(head[:min(n, len(snapMagic))], snapMagic) || r.byte1() != codecVersion {
		return 0, errCorrupt
	}
	g := r.uvarint()
	return g, r.err
}

// writeSnapshotFile writes n rows (row(w, i) appends the i-th, in inbox
// order) as the snapshot of gen at path, atomically. size is a guess of
// the file's size.
func writeSnapshotFile(path string, gen uint64, n, size int, row func(w *encoder, i int)) error {
	w := encoder{b: make([]byte, 0, size+64)}
	w.b = append(w.b, snapMagic...)
	w.byte1(codecVersion)
	w.uvarint(gen)
	w.count(n, false)
	for i := range n {
		row(&w, i)
	}
	w.b = binary.BigEndian.AppendUint32(w.b, crc32.Checksum(w.b, crcTable))
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	_, err = f.Write(w.b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: snapshot: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}
