package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/client"
)

// Attachments on the device (DESIGN §10).
//
// The bytes of every file the user attaches, and of every file downloaded
// for viewing, live in the profile's files folder, content-addressed:
// <data dir>/files/<sha256 hex>. A file attached offline waits there with its
// event in the outbox; the sync client reads it through localAdapter.OpenFile
// and uploads it before it pushes the event. Downloaded files are a cache
// kept under a size cap (DefaultFileCacheBytes, or the FileCacheBytes
// preference): when a download takes it over the cap, the files read least
// recently go first, never one a pending event names.
//
// The UI reaches the folder over HTTP (the Wails asset server's handler, or
// browser mode's mux), since bindings carry JSON and files are bytes:
//
//	POST /files/?name=<file name>   the bytes → 201 conv.Attachment, or 413 too_large / 415 unsupported_type
//	GET  /files/<sha256>?name=…     the bytes, from the folder or fetched from the relay with the fileToken

// DefaultFileCacheBytes is the downloaded files' cap when no preference sets one.
const DefaultFileCacheBytes int64 = 512 << 20

// fileStore is the profile's content-addressed files folder.
type fileStore struct {
	dir   string
	mu    sync.Mutex // one eviction at a time
	swept sync.Once  // the first put sweeps what a crash left

	fetchMu  sync.Mutex
	fetching map[string]chan struct{} // prefetches under way, closed when done
}

// partTTL is how long an unfinished file (.part-*, written while hashed)
// may go unwritten before it counts as a crash's leftover: a put in
// progress writes to it all the time; one of a process that died never
// will. Leftovers go at the first put of a process and at every eviction,
// so a crash mid-attach or mid-download leaks nothing for long.
const partTTL = time.Minute

// sweepParts removes the unfinished files not written for partTTL, and
// says how many.
func (f *fileStore) sweepParts(now time.Time) int {
	ps, _ := filepath.Glob(filepath.Join(f.dir, ".part-*"))
	n := 0
	for _, p := range ps {
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > partTTL && os.Remove(p) == nil {
			n++
		}
	}
	return n
}

func (f *fileStore) path(sha string) string { return filepath.Join(f.dir, sha) }

// has reports whether the folder holds sha.
func (f *fileStore) has(sha string) bool {
	_, err := os.Stat(f.path(sha))
	return err == nil
}

// open opens sha and marks it read now (for the cache's order).
func (f *fileStore) open(sha string) (*os.File, int64, error) {
	if !conv.IsFileID(sha) {
		return nil, 0, fmt.Errorf("files: %q: %w", sha, client.ErrNoFile)
	}
	fh, err := os.Open(f.path(sha))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("files: %s: %w", sha, client.ErrNoFile)
		}
		return nil, 0, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, err
	}
	now := time.Now()
	_ = os.Chtimes(f.path(sha), now, now)
	return fh, st.Size(), nil
}

// errTooLarge and errUnsupported are the refusals, worded for people.
var (
	errTooLarge    = &Error{Code: "too_large", Message: fmt.Sprintf("the file is larger than %d MB", conv.MaxFileBytes>>20)}
	errUnsupported = &Error{Code: "unsupported_type", Message: "programs and scripts cannot be attached"}
)

// put stores r's bytes under their hash: written to a temp file while
// hashed, synced, then renamed (a file already there is kept as it is).
// want, when set, is the hash the bytes must have.
func (f *fileStore) put(r io.Reader, want string) (sha string, size int64, typ string, err error) {
	return f.putThen(r, want, nil)
}

// putThen is put, calling verified (when not nil) once the bytes are known
// to be the file's, before they are synced.
func (f *fileStore) putThen(r io.Reader, want string, verified func()) (sha string, size int64, typ string, err error) {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return "", 0, "", err
	}
	f.swept.Do(func() { f.sweepParts(time.Now()) })
	tmp, err := os.CreateTemp(f.dir, ".part-*")
	if err != nil {
		return "", 0, "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	var head bytes.Buffer
	n, err := io.Copy(io.MultiWriter(tmp, h, &limitedBuffer{b: &head, n: 512}), io.LimitReader(r, conv.MaxFileBytes+1))
	if err != nil {
		return "", 0, "", err
	}
	if n > conv.MaxFileBytes {
		return "", 0, "", errTooLarge
	}
	typ = sniff(head.Bytes())
	if typ == "" {
		return "", 0, "", errUnsupported
	}
	sha = hex.EncodeToString(h.Sum(nil))
	if want != "" && sha != want {
		return "", 0, "", fmt.Errorf("files: the bytes hash to %s, not %s", sha, want)
	}
	if verified != nil {
		verified()
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, "", err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, "", err
	}
	if f.has(sha) {
		os.Remove(tmp.Name())
		return sha, n, typ, nil
	}
	if err := os.Rename(tmp.Name(), f.path(sha)); err != nil {
		return "", 0, "", err
	}
	if d, err := os.Open(f.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return sha, n, typ, nil
}

// evict removes the least recently read files until the folder's files
// not in keep add up to at most limit bytes.
func (f *fileStore) evict(limit int64, keep map[string]bool) (removed int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweepParts(time.Now())
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	type file struct {
		sha  string
		size int64
		at   time.Time
	}
	var files []file
	var total int64
	for _, e := range ents {
		if !conv.IsFileID(e.Name()) || keep[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{e.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].at.Before(files[j].at) })
	for _, fl := range files {
		if total <= limit {
			break
		}
		if err := os.Remove(f.path(fl.sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		total -= fl.size
		removed++
	}
	return removed, nil
}

type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// sniff names the type of a file from its first bytes, "" for programs the
// relay refuses (the relay sniffs again, and its word wins).
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")),
		bytes.HasPrefix(head, []byte("MZ")) && !strings.HasPrefix(http.DetectContentType(head), "text/"),
		bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(head, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe}),
		bytes.HasPrefix(head, []byte("#!")), bytes.HasPrefix(head, []byte("\x00asm")):
		return ""
	}
	return http.DetectContentType(head)
}

// inlineType reports whether a file of type t may be shown in the app's
// page (images, PDF, plain text); anything else downloads.
func inlineType(t string) bool {
	t, _, _ = strings.Cut(t, ";")
	switch t {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain":
		return true
	}
	return false
}

// OpenFile lets the sync client upload a pending event's files.
func (l localAdapter) OpenFile(sha string) (io.ReadCloser, int64, error) {
	if l.files == nil {
		return nil, 0, client.ErrNoFile
	}
	return l.files.open(sha)
}

var _ client.FileSource = localAdapter{}

// SendFiles sends a public reply carrying files the UI stored through
// POST /files/ (text may be empty). Offline, the files wait on the device
// with the reply and are uploaded before it is pushed.
func (a *App) SendFiles(id, text string, files []conv.Attachment) error {
	atts, err := a.checkFiles(files)
	if err != nil {
		return err
	}
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.SendAttachments(id, text, atts) })
}

// AddNoteFiles adds a private note carrying files (text may be empty).
func (a *App) AddNoteFiles(id, text string, files []conv.Attachment) error {
	atts, err := a.checkFiles(files)
	if err != nil {
		return err
	}
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.AddNoteAttachments(id, text, atts) })
}

// checkFiles keeps the attachments the files folder holds, with their id
// and hash made one.
func (a *App) checkFiles(files []conv.Attachment) ([]conv.Attachment, error) {
	if len(files) > conv.MaxAttachments {
		return nil, &Error{Code: "too_large", Message: fmt.Sprintf("at most %d files on one message", conv.MaxAttachments)}
	}
	out := make([]conv.Attachment, 0, len(files))
	for _, f := range files {
		sha := f.SHA256
		if sha == "" {
			sha = f.ID
		}
		if !conv.IsFileID(sha) || !a.fileStore.has(sha) {
			return nil, &Error{Code: "invalid", Message: fmt.Sprintf("the file %q is not on this device: attach it again", f.Name)}
		}
		f.ID, f.SHA256 = sha, sha
		if f.Name == "" {
			f.Name = "file"
		}
		out = append(out, f)
	}
	return out, nil
}

func (a *App) setFileToken(tok string) {
	a.mu.Lock()
	a.fileToken = tok
	a.mu.Unlock()
}

// FileCacheLimit is the cap, in bytes, of the files kept for offline viewing.
func (a *App) FileCacheLimit() (int64, error) {
	p, err := a.prefsOrErr()
	if err != nil {
		return 0, err
	}
	if v := p.fileCacheBytes(); v > 0 {
		return v, nil
	}
	return DefaultFileCacheBytes, nil
}

// SetFileCacheLimit sets that cap (0: the default) and trims the folder to it.
func (a *App) SetFileCacheLimit(bytes int64) error {
	p, err := a.prefsOrErr()
	if err != nil {
		return err
	}
	if bytes < 0 {
		return &Error{Code: "bad_request", Message: "the cap cannot be negative"}
	}
	if err := p.setFileCacheBytes(bytes); err != nil {
		return err
	}
	a.mu.RLock()
	in := a.in
	a.mu.RUnlock()
	if in != nil {
		a.trimFiles(in)
	}
	return nil
}

// FilesHandler serves a's files folder to the UI (see the comment at the
// top). main hands it to the Wails asset server; Handler mounts it too.
func FilesHandler(a *App) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /files/", a.serveUpload)
	mux.HandleFunc("PUT /files/", a.serveUpload)
	mux.HandleFunc("GET /files/{sha}", a.serveFile)
	return mux
}

func (a *App) serveUpload(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if name == "" {
		name = "file"
	}
	if r.ContentLength > conv.MaxFileBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, errTooLarge)
		return
	}
	sha, size, typ, err := a.fileStore.put(r.Body, "")
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e) && e.Code == "too_large":
			writeErr(w, http.StatusRequestEntityTooLarge, e)
		case errors.As(err, &e) && e.Code == "unsupported_type":
			writeErr(w, http.StatusUnsupportedMediaType, e)
		default:
			a.log.Warn("files: store an attachment", "err", err)
			writeErr(w, http.StatusInternalServerError, &Error{Code: "error", Message: "the file could not be saved: " + err.Error()})
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(conv.Attachment{ID: sha, SHA256: sha, Name: name, Size: size, Type: typ})
}

func (a *App) serveFile(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !conv.IsFileID(sha) {
		writeErr(w, http.StatusNotFound, &Error{Code: "not_found", Message: "no such file"})
		return
	}
	fh, _, err := a.fileStore.open(sha)
	if done := a.fileStore.inFlight(sha); errors.Is(err, client.ErrNoFile) && done != nil {
		select { // a prefetch of it is under way: it is nearly here
		case <-done:
			fh, _, err = a.fileStore.open(sha)
		case <-r.Context().Done():
			return
		}
	}
	if errors.Is(err, client.ErrNoFile) {
		if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
			// Not here yet (a thumbnail just arrived): its bytes go to the
			// UI as they come from the relay, and into the folder.
			if err = a.streamDownload(w, r, sha); err == nil {
				return
			}
		} else if err = a.download(r.Context(), sha); err == nil {
			fh, _, err = a.fileStore.open(sha)
		}
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			writeErr(w, http.StatusNotFound, e)
			return
		}
		writeErr(w, http.StatusBadGateway, &Error{Code: "unavailable", Message: err.Error()})
		return
	}
	defer fh.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(fh, head)
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		writeErr(w, http.StatusInternalServerError, &Error{Code: "error", Message: err.Error()})
		return
	}
	fileHeaders(w, r, sha, head[:n])
	http.ServeContent(w, r, "", time.Time{}, fh)
}

// Prefetch: the images of the conversation the UI shows are fetched as
// their events arrive, before the UI asks (its timeline is told a moment
// later), so a screenshot sent to an open conversation is on the device by
// the time its thumbnail is drawn. At most prefetchPerBatch a batch (a
// backlog brings many, and the UI shows a few), inline image types only,
// and never for other conversations: those are fetched when shown.
const prefetchPerBatch = 4

// prefetchImages starts fetching the images that events of the open
// conversation name and the folder does not hold. It does not wait.
func (a *App) prefetchImages(events []conv.Event) {
	a.mu.RLock()
	open := a.openConv
	a.mu.RUnlock()
	if open == "" {
		return
	}
	n := 0
	for _, e := range events {
		if e.Conv != open {
			continue
		}
		for _, at := range eventAttachments(e) {
			sha := at.SHA256
			if sha == "" {
				sha = at.ID
			}
			if !conv.IsFileID(sha) || !strings.HasPrefix(at.Type, "image/") || !inlineType(at.Type) ||
				at.Size > conv.MaxFileBytes || a.fileStore.has(sha) {
				continue
			}
			if n == prefetchPerBatch {
				return
			}
			n++
			a.prefetch(sha)
		}
	}
}

// prefetch downloads sha in the background, once at a time.
func (a *App) prefetch(sha string) {
	f := a.fileStore
	f.fetchMu.Lock()
	if _, ok := f.fetching[sha]; ok {
		f.fetchMu.Unlock()
		return
	}
	if f.fetching == nil {
		f.fetching = map[string]chan struct{}{}
	}
	done := make(chan struct{})
	f.fetching[sha] = done
	f.fetchMu.Unlock()
	go func() {
		defer func() {
			f.fetchMu.Lock()
			delete(f.fetching, sha)
			f.fetchMu.Unlock()
			close(done)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.download(ctx, sha); err != nil {
			a.log.Info("files: prefetch", "sha256", sha, "err", err) // fetched when shown instead
		}
	}()
}

// inFlight is the prefetch of sha under way (closed when it ends), or nil.
func (f *fileStore) inFlight(sha string) chan struct{} {
	f.fetchMu.Lock()
	defer f.fetchMu.Unlock()
	return f.fetching[sha]
}

// fileHeaders sets the headers of file sha's answer, whose first bytes are head.
func fileHeaders(w http.ResponseWriter, r *http.Request, sha string, head []byte) {
	typ := sniff(head)
	if typ == "" {
		typ = "application/octet-stream"
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = sha
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	disp := "inline"
	if !inlineType(typ) || r.URL.Query().Get("download") != "" {
		disp = "attachment"
		w.Header().Set("Content-Security-Policy", "sandbox")
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("%s; filename*=UTF-8''%s", disp, pathEscape(name)))
}

// streamDownload answers a GET of file sha, which the folder does not hold,
// with the relay's bytes as they arrive, while it keeps them in the folder
// (hashed, synced, renamed: as download does). The UI's <img> starts on
// the first bytes instead of waiting for the whole file to be fetched and
// synced. The last 64 KiB are held back until the whole has hashed to sha,
// so the UI never gets a whole file that is not the one named; then they
// go, before the sync. It returns an error only before it has answered:
// the relay cannot be reached, or has no such file for this identity. Once
// the answer has started, a failure (the relay's connection cut, bytes
// that do not hash to sha) leaves it short of its Content-Length, which
// the UI takes for a failed load, and keeps nothing.
func (a *App) streamDownload(w http.ResponseWriter, r *http.Request, sha string) error {
	body, size, err := a.fetchFile(r.Context(), sha)
	if err != nil {
		return err
	}
	defer body.Close()
	a.mu.RLock()
	in := a.in
	a.mu.RUnlock()
	if size < 0 || size > conv.MaxFileBytes { // no length to hold back against: keep it, then serve it
		if _, _, _, err := a.fileStore.put(body, sha); err != nil {
			return fmt.Errorf("files: keep %s: %w", sha, err)
		}
		a.trimFiles(in)
		fh, _, err := a.fileStore.open(sha)
		if err != nil {
			return err
		}
		defer fh.Close()
		head := make([]byte, 512)
		n, _ := io.ReadFull(fh, head)
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return err
		}
		fileHeaders(w, r, sha, head[:n])
		http.ServeContent(w, r, "", time.Time{}, fh)
		return nil
	}
	head := make([]byte, min(512, size))
	if _, err := io.ReadFull(body, head); err != nil {
		return fmt.Errorf("files: read %s from the relay: %w", sha, err)
	}
	fileHeaders(w, r, sha, head)
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.Header().Set("ETag", `"`+sha+`"`)
	w.WriteHeader(http.StatusOK)
	out := &holdTail{w: w, hold: max(0, size-64<<10)}
	_, _, _, err = a.fileStore.putThen(io.TeeReader(io.MultiReader(bytes.NewReader(head), body), out), sha, out.release)
	if err != nil {
		a.log.Warn("files: a download failed midway", "sha256", sha, "err", err)
		return nil // the answer is short of its length
	}
	a.trimFiles(in)
	return nil
}

// holdTail passes the first hold bytes written to it on to an answer and
// keeps the rest until release, which writes them and flushes the answer.
type holdTail struct {
	w    http.ResponseWriter
	hold int64
	n    int64
	tail []byte
	err  error // the answer's first write error: the UI went away
}

func (h *holdTail) Write(p []byte) (int, error) {
	k := len(p)
	if pass := min(int64(len(p)), max(0, h.hold-h.n)); pass > 0 {
		if h.err == nil {
			_, h.err = h.w.Write(p[:pass])
		}
		p = p[pass:]
		h.n += pass
	}
	h.tail = append(h.tail, p...)
	h.n += int64(len(p))
	return k, nil // the folder keeps the file even when the UI stops reading
}

func (h *holdTail) release() {
	if h.err == nil {
		h.w.Write(h.tail)
		if f, ok := h.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	h.tail = nil
}

func pathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// errOfflineFile says why a file not on this device cannot be shown.
var errOfflineFile = &Error{Code: "offline", Message: "this file is not on this device, and the relay cannot be reached to fetch it"}

// download fetches sha from the relay with the session's fileToken into the
// files folder, then keeps the folder under the cache cap.
func (a *App) download(ctx context.Context, sha string) error {
	body, _, err := a.fetchFile(ctx, sha)
	if err != nil {
		return err
	}
	defer body.Close()
	a.mu.RLock()
	in := a.in
	a.mu.RUnlock()
	if _, _, _, err := a.fileStore.put(body, sha); err != nil {
		return fmt.Errorf("files: keep %s: %w", sha, err)
	}
	a.trimFiles(in)
	return nil
}

// fetchFile asks the relay for file sha with the session's fileToken: the
// body and its length (-1 when the relay does not say), or errOfflineFile
// (not connected, or the relay out of reach), or not_found.
func (a *App) fetchFile(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	a.mu.RLock()
	prof, tok := a.prof, a.fileToken
	a.mu.RUnlock()
	if !prof.Connected() || tok == "" {
		return nil, 0, errOfflineFile
	}
	u, err := client.FileURL(prof.RelayURL, prof.Workspace, sha)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	hc, _ := relayHTTPClient(prof)
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, 0, errOfflineFile
	}
	switch res.StatusCode {
	case http.StatusOK:
		return res.Body, res.ContentLength, nil
	case http.StatusNotFound:
		res.Body.Close()
		return nil, 0, &Error{Code: "not_found", Message: "the relay has no such file for you"}
	}
	res.Body.Close()
	return nil, 0, fmt.Errorf("files: the relay answered %s", res.Status)
}

// trimFiles keeps the files folder under the cache cap, sparing the files
// pending events name (they wait to be uploaded).
func (a *App) trimFiles(in interface{ Pending() ([]conv.Event, error) }) {
	limit := DefaultFileCacheBytes
	a.mu.RLock()
	if a.prefs != nil {
		if v := a.prefs.fileCacheBytes(); v > 0 {
			limit = v
		}
	}
	a.mu.RUnlock()
	keep := map[string]bool{}
	if in != nil {
		if pending, err := in.Pending(); err == nil {
			for _, e := range pending {
				for _, at := range eventAttachments(e) {
					keep[at.SHA256] = true
					keep[at.ID] = true
				}
			}
		}
	}
	if n, err := a.fileStore.evict(limit, keep); err != nil {
		a.log.Warn("files: trim the cache", "err", err)
	} else if n > 0 {
		a.log.Info("files: cache trimmed", "removed", n, "limit", limit)
	}
}

// eventAttachments returns the files a message or note names.
func eventAttachments(e conv.Event) []conv.Attachment {
	if e.Kind != conv.KindMessageSent && e.Kind != conv.KindNoteAdded {
		return nil
	}
	var d struct {
		Attachments []conv.Attachment `json:"attachments"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Attachments
}
