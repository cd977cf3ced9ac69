package relay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/fsync"
	"github.com/threadline/threadline/sync/eventlog"
)

// JetStreamBlobs is the Blobs of relays whose log is on NATS JetStream
// (DESIGN §6, §10): every relay sharing the log sees the same files and the
// same refs, and the relay's --data holds only a cache.
//
// Per workspace ws, with tok = eventlog.Token(ws) (the token of its log's
// stream, TL_<tok>):
//
//	object store TLF_<tok>   the bytes, one object per file, named by its
//	                         sha256; its metadata "head" is the first
//	                         sniffLen bytes (base64), so that Stat can sniff
//	                         the type without fetching the object
//	key-value    TLR_<tok>   the refs, one key per ref, written once:
//	                         <sha256>.u<hex of the uploader> for an uploader
//	                         (h<sha256 of it> when that would be long), and
//	                         <sha256>.s<seq> for an event
//
// Both are file storage at the log's replica count, created when the
// workspace first stores a file (a read of a workspace that has none
// creates nothing).
//
// A Put spools the upload to a temporary file in the cache while hashing it
// (and counting it against max), so nothing that is not the file's bytes is
// ever sent; then it puts the object, whose put returns once every chunk and
// the object's meta message are acknowledged: at Replicas 3 on a majority,
// at Replicas 1 on the server's disk when it runs with sync_interval:
// always (as the log needs too). JetStream's own SHA-256 digest of what it
// stored must be the id. The spooled file then becomes the cache's copy.
//
// A ref is a kv.Create of its key: the server writes a key once, so a ref
// recorded already (by this relay or another, even concurrently) is skipped
// without a read-modify-write loop, and the number of refs of a file is not
// bounded by a value's size. Refs reads the file's keys with a watcher,
// which yields them in the order of the bucket's stream, that is, oldest
// first.
//
// The cache, <cacheDir>/<tok>/<sha256>, holds whole, verified files only: a
// fetch (or a Put) writes a temporary file there, checks that it hashes to
// its id, fdatasyncs it and renames it. Open serves from it, fetching the
// object first when it is missing; Stat and Has answer from it when the
// file is there (a cached file is stored: nothing deletes files). Deleting
// the cache loses nothing. It is not bounded: it grows to the size of the
// files this relay has served.
//
// Two relays putting the same new file at once both store it (the object
// store keeps the last put, the same bytes) and may both answer created.
type JetStreamBlobs struct {
	js       jetstream.JetStream
	replicas int
	cache    string
	seed     maphash.Seed
	locks    [64]sync.Mutex // by id: one Put or fetch of a file at a time
	bufs     sync.Pool

	mu     sync.Mutex
	spaces map[string]*jsFiles // workspaces whose buckets exist
}

// jsFiles is one workspace's buckets.
type jsFiles struct {
	obs jetstream.ObjectStore
	kv  jetstream.KeyValue
}

var _ Blobs = (*JetStreamBlobs)(nil)

const (
	// jsBlobsTimeout bounds each JetStream call that moves no file.
	jsBlobsTimeout = 10 * time.Second
	// jsBlobsRate is the slowest transfer a Put or fetch allows for before
	// it times out: its deadline is jsBlobsTimeout plus size/jsBlobsRate.
	jsBlobsRate = 256 << 10 // bytes a second
	// jsHeadMeta is the object metadata holding the file's first bytes.
	jsHeadMeta = "head"
	// jsCacheTmp prefixes the cache's temporary files (never a file id).
	jsCacheTmp = "tmp-"
)

// OpenJetStreamBlobs opens the store on js (the log's JetStream, e.g.
// (*eventlog.JetStream).JetStream()) with the log's replica count, caching
// files in cacheDir (created), whose unfinished temporary files it removes.
func OpenJetStreamBlobs(js jetstream.JetStream, replicas int, cacheDir string) (*JetStreamBlobs, error) {
	if js == nil {
		return nil, errors.New("relay: files: no JetStream")
	}
	if replicas < 1 || replicas > 5 {
		return nil, fmt.Errorf("relay: files: replicas %d: want 1 to 5", replicas)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: files: %w", err)
	}
	tmps, err := filepath.Glob(filepath.Join(cacheDir, "*", jsCacheTmp+"*"))
	if err != nil {
		return nil, fmt.Errorf("relay: files: %w", err)
	}
	for _, p := range tmps {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("relay: files: remove unfinished cache file: %w", err)
		}
	}
	j := &JetStreamBlobs{
		js: js, replicas: replicas, cache: cacheDir,
		seed: maphash.MakeSeed(), spaces: make(map[string]*jsFiles),
	}
	j.bufs.New = func() any { b := make([]byte, diskCopyBuf); return &b }
	return j, nil
}

// Close implements Blobs. The JetStream connection is the log's: it stays.
func (j *JetStreamBlobs) Close() error { return nil }

// jsObjectBucket is the object store holding ws's files.
func jsObjectBucket(ws string) string { return "TLF_" + eventlog.Token(ws) }

// jsRefBucket is the key-value bucket holding the refs of ws's files.
func jsRefBucket(ws string) string { return "TLR_" + eventlog.Token(ws) }

func jsCtx(size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), jsBlobsTimeout+time.Duration(size/jsBlobsRate)*time.Second)
}

func (j *JetStreamBlobs) lock(id string) *sync.Mutex {
	return &j.locks[maphash.String(j.seed, id)%uint64(len(j.locks))]
}

func (j *JetStreamBlobs) cacheDir(ws string) string {
	return filepath.Join(j.cache, eventlog.Token(ws))
}

func (j *JetStreamBlobs) cachePath(ws, id string) string {
	return filepath.Join(j.cacheDir(ws), id)
}

// errNoBucket: the workspace has no buckets (it never stored a file).
var errNoBucket = errors.New("relay: files: no bucket")

// space returns ws's buckets, creating them when create is set; else
// errNoBucket when they do not exist.
func (j *JetStreamBlobs) space(ws string, create bool) (*jsFiles, error) {
	j.mu.Lock()
	s := j.spaces[ws]
	j.mu.Unlock()
	if s != nil {
		return s, nil
	}
	ctx, cancel := jsCtx(0)
	defer cancel()
	obs, err := j.js.ObjectStore(ctx, jsObjectBucket(ws))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if !create {
			return nil, errNoBucket
		}
		obs, err = j.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      jsObjectBucket(ws),
			Description: "Threadline workspace files: " + ws,
			Storage:     jetstream.FileStorage,
			Replicas:    j.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another relay's, just made
			obs, err = j.js.ObjectStore(ctx, jsObjectBucket(ws))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("relay: files: object store %s: %w", jsObjectBucket(ws), err)
	}
	kv, err := j.js.KeyValue(ctx, jsRefBucket(ws))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if !create {
			return nil, errNoBucket
		}
		kv, err = j.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      jsRefBucket(ws),
			Description: "Threadline workspace file refs: " + ws,
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    j.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = j.js.KeyValue(ctx, jsRefBucket(ws))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("relay: files: key-value %s: %w", jsRefBucket(ws), err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if have := j.spaces[ws]; have != nil {
		return have, nil
	}
	s = &jsFiles{obs: obs, kv: kv}
	j.spaces[ws] = s
	return s, nil
}

// objectDigest is JetStream's digest of bytes hashing to id.
func objectDigest(id string) string {
	raw, _ := hex.DecodeString(id)
	return "SHA-256=" + base64.URLEncoding.EncodeToString(raw)
}

// info describes object id of ws from the object store: ErrNoFile when it
// is not there. head is nil when the object has no head metadata.
func (j *JetStreamBlobs) info(ws, id string) (*jetstream.ObjectInfo, []byte, error) {
	s, err := j.space(ws, false)
	if errors.Is(err, errNoBucket) {
		return nil, nil, ErrNoFile
	}
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := jsCtx(0)
	defer cancel()
	oi, err := s.obs.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil, ErrNoFile
	}
	if err != nil {
		return nil, nil, fmt.Errorf("relay: files: %s: %w", jsObjectBucket(ws), err)
	}
	if oi.Digest != objectDigest(id) {
		return nil, nil, fmt.Errorf("relay: files: %s: object %s has digest %s", jsObjectBucket(ws), id, oi.Digest)
	}
	var head []byte
	if h, ok := oi.Metadata[jsHeadMeta]; ok {
		if head, err = base64.StdEncoding.DecodeString(h); err != nil {
			head = nil
		}
	}
	return oi, head, nil
}

// Put implements Blobs.
func (j *JetStreamBlobs) Put(ws, sha string, r io.Reader, max int64) (Blob, bool, error) {
	if !conv.IsFileID(sha) {
		return Blob{}, false, ErrBadFileID
	}
	bp := j.bufs.Get().(*[]byte)
	defer j.bufs.Put(bp)
	if b, err := j.Stat(ws, sha); err == nil {
		// Stored already: the bytes must still be the file's.
		var head headBuf
		if err := copyHashed(io.Discard, &head, r, max, sha, *bp); err != nil {
			return Blob{}, false, err
		}
		return b, false, nil
	} else if !errors.Is(err, ErrNoFile) {
		return Blob{}, false, err
	}

	// Spool and check before anything is stored.
	dir := j.cacheDir(ws)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	f, err := os.CreateTemp(dir, jsCacheTmp)
	if err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		os.Remove(tmp) // gone when it became the cache's copy
	}()
	var head headBuf
	if err := copyHashed(f, &head, r, max, sha, *bp); err != nil {
		return Blob{}, false, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	b := Blob{ID: sha, SHA256: sha, Size: size, Type: sniffType(head.b)}

	s, err := j.space(ws, true)
	if err != nil {
		return Blob{}, false, err
	}
	mu := j.lock(sha)
	mu.Lock()
	defer mu.Unlock()
	if _, _, err := j.info(ws, sha); err == nil {
		return b, false, nil // another Put of the same bytes won
	} else if !errors.Is(err, ErrNoFile) {
		return Blob{}, false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: %w", err)
	}
	ctx, cancel := jsCtx(size)
	defer cancel()
	oi, err := s.obs.Put(ctx, jetstream.ObjectMeta{
		Name:     sha,
		Metadata: map[string]string{jsHeadMeta: base64.StdEncoding.EncodeToString(head.b)},
	}, f)
	if err != nil {
		return Blob{}, false, fmt.Errorf("relay: files: put %s in %s: %w", sha, jsObjectBucket(ws), err)
	}
	if oi.Digest != objectDigest(sha) || int64(oi.Size) != size {
		// The spooled file changed under us: nothing to do but say so.
		return Blob{}, false, fmt.Errorf("relay: files: %s stored as %d bytes with digest %s", sha, oi.Size, oi.Digest)
	}
	// The spooled file, checked, is the cache's copy (best effort).
	if fsync.Data(f) == nil && f.Close() == nil {
		os.Rename(tmp, j.cachePath(ws, sha))
	}
	return b, true, nil
}

// Stat implements Blobs.
func (j *JetStreamBlobs) Stat(ws, id string) (Blob, error) {
	if !conv.IsFileID(id) {
		return Blob{}, ErrNoFile
	}
	if b, err := statCached(j.cachePath(ws, id), id); err == nil {
		return b, nil
	}
	oi, head, err := j.info(ws, id)
	if err != nil {
		return Blob{}, err
	}
	if head == nil || (int64(len(head)) < sniffLen && int64(len(head)) != int64(oi.Size)) {
		// Not put by a relay: sniff the bytes themselves.
		f, b, err := j.Open(ws, id)
		if err != nil {
			return Blob{}, err
		}
		f.Close()
		return b, nil
	}
	return Blob{ID: id, SHA256: id, Size: int64(oi.Size), Type: sniffType(head)}, nil
}

// statCached describes the cache's copy at p.
func statCached(p, id string) (Blob, error) {
	f, b, err := openCached(p, id)
	if err != nil {
		return Blob{}, err
	}
	f.Close()
	return b, nil
}

// openCached opens the cache's copy at p; fs.ErrNotExist when missing.
func openCached(p, id string) (*os.File, Blob, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, Blob{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Blob{}, err
	}
	head := make([]byte, min(fi.Size(), sniffLen))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		f.Close()
		return nil, Blob{}, err
	}
	return f, Blob{ID: id, SHA256: id, Size: fi.Size(), Type: sniffType(head)}, nil
}

// Has implements Blobs.
func (j *JetStreamBlobs) Has(ws, id string) bool {
	if !conv.IsFileID(id) {
		return false
	}
	if _, err := os.Stat(j.cachePath(ws, id)); err == nil {
		return true
	}
	_, _, err := j.info(ws, id)
	return err == nil
}

// Open implements Blobs: from the cache, fetching the object into it first
// when it is not there.
func (j *JetStreamBlobs) Open(ws, id string) (io.ReadSeekCloser, Blob, error) {
	if !conv.IsFileID(id) {
		return nil, Blob{}, ErrNoFile
	}
	p := j.cachePath(ws, id)
	if f, b, err := openCached(p, id); err == nil {
		return f, b, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, Blob{}, fmt.Errorf("relay: files: %w", err)
	}
	mu := j.lock(id)
	mu.Lock()
	defer mu.Unlock()
	if f, b, err := openCached(p, id); err == nil { // another Open fetched it
		return f, b, nil
	}
	var err error
	for try := 0; ; try++ {
		var nuid string
		if nuid, err = j.fetch(ws, id, p); err == nil || nuid == "" || try == 2 {
			break
		}
		// A put of the same bytes by another relay, at once, replaces the
		// chunks being read: then read the new ones.
		if oi, _, ierr := j.info(ws, id); ierr != nil || oi.NUID == nuid {
			break
		}
	}
	if err != nil {
		return nil, Blob{}, err
	}
	f, b, err := openCached(p, id)
	if err != nil {
		return nil, Blob{}, fmt.Errorf("relay: files: %w", err)
	}
	return f, b, nil
}

// fetch gets object id of ws into the cache at p, checked. nuid is the
// object's (its chunks'), once known.
func (j *JetStreamBlobs) fetch(ws, id, p string) (nuid string, err error) {
	oi, _, err := j.info(ws, id)
	if err != nil {
		return "", err
	}
	s, err := j.space(ws, false)
	if err != nil {
		return "", err
	}
	return oi.NUID, j.fetchObject(s, ws, id, p, oi)
}

func (j *JetStreamBlobs) fetchObject(s *jsFiles, ws, id, p string, oi *jetstream.ObjectInfo) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), jsCacheTmp)
	if err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		os.Remove(tmp)
	}()
	ctx, cancel := jsCtx(int64(oi.Size))
	defer cancel()
	res, err := s.obs.Get(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return ErrNoFile
	}
	if err != nil {
		return fmt.Errorf("relay: files: get %s from %s: %w", id, jsObjectBucket(ws), err)
	}
	defer res.Close()
	bp := j.bufs.Get().(*[]byte)
	defer j.bufs.Put(bp)
	var head headBuf
	if err := copyHashed(f, &head, res, int64(oi.Size), id, *bp); err != nil {
		return fmt.Errorf("relay: files: get %s from %s: %w", id, jsObjectBucket(ws), err)
	}
	if err := fsync.Data(f); err != nil {
		return fmt.Errorf("relay: files: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("relay: files: %w", err)
	}
	return nil
}

// refKey is the key of ref r of file id; "" for a ref that names nothing.
func refKey(id string, r FileRef) string {
	switch {
	case r.Uploader != "":
		if h := hex.EncodeToString([]byte(r.Uploader)); len(h) <= 128 {
			return id + ".u" + h
		}
		sum := sha256.Sum256([]byte(r.Uploader))
		return id + ".h" + hex.EncodeToString(sum[:])
	case r.Seq > 0:
		return id + ".s" + strconv.FormatUint(r.Seq, 10)
	}
	return ""
}

// Refer implements Blobs.
func (j *JetStreamBlobs) Refer(ws, id string, refs ...FileRef) error {
	if !conv.IsFileID(id) {
		return ErrBadFileID
	}
	var s *jsFiles
	for _, r := range refs {
		key := refKey(id, r)
		if key == "" {
			continue // Refs would skip it
		}
		if s == nil {
			var err error
			if s, err = j.space(ws, true); err != nil {
				return err
			}
		}
		val, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("relay: files: %w", err)
		}
		ctx, cancel := jsCtx(0)
		_, err = s.kv.Create(ctx, key, val)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("relay: files: refer %s in %s: %w", id, jsRefBucket(ws), err)
		}
	}
	return nil
}

// Refs implements Blobs.
func (j *JetStreamBlobs) Refs(ws, id string) ([]FileRef, error) {
	if !conv.IsFileID(id) {
		return nil, nil
	}
	s, err := j.space(ws, false)
	if errors.Is(err, errNoBucket) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := jsCtx(0)
	defer cancel()
	w, err := s.kv.Watch(ctx, id+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("relay: files: refs of %s in %s: %w", id, jsRefBucket(ws), err)
	}
	defer w.Stop()
	var out []FileRef
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("relay: files: refs of %s in %s: the watcher stopped", id, jsRefBucket(ws))
			}
			if e == nil { // all there is
				return out, nil
			}
			var r FileRef
			if json.Unmarshal(e.Value(), &r) == nil && (r.Uploader != "" || r.Seq > 0) &&
				strings.HasPrefix(e.Key(), id+".") {
				out = append(out, r)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("relay: files: refs of %s in %s: %w", id, jsRefBucket(ws), ctx.Err())
		}
	}
}
