package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// The file routes (DESIGN §10). A device uploads an attachment's bytes
// before it pushes the event that names them, and fetches the files of the
// events it receives:
//
//	PUT /v1/files/{ws}/{sha256}   Authorization: Bearer <fileToken or API key>, the bytes
//	  → 201 {id, sha256, size, type} stored, 200 already there;
//	    400 invalid (not the sha256's bytes), 413 too_large (over 25 MiB),
//	    415 unsupported_type (an executable: fileTypeAllowed), 401 unauthorized
//	GET /v1/files/{ws}/{id}       Authorization: Bearer <token>, or ?token=<fileToken> where no header can be sent
//	  → the bytes (Range, If-None-Match), or 404 not_found when the file is
//	    not one this identity may see (whether or not it exists)
//
// Who may fetch a file: the API key, any file of its workspace; a link
// token (Server.FileLink), its one file; anyone who uploaded it (they hold
// the bytes); and whoever may see a logged event that names it (the team:
// any; a contact or visitor: a message of its own conversations, never a
// note). The relay knows the events from the refs it writes while it
// validates them (FileRef), each checked against the log when read.
//
// An event names only files its pusher uploaded or may fetch; the relay
// sets each attachment's size and type from the stored file (files.attach).

// FilesPath starts every file route.
const FilesPath = "/v1/files/"

const (
	// fileSessionLife is how long a session lasts at most: the relay then
	// closes it (4000, reconnect and resume), and the new welcome carries a
	// new fileToken. A session's fileToken expires fileSessionLife plus
	// fileTokenGrace after its welcome.
	fileSessionLife = 24 * time.Hour
	fileTokenGrace  = time.Hour
	// fileTransferTime is how long one upload or download may take: the
	// relay binary's 30 s read and write timeouts are for JSON, not for 25
	// MiB on a slow line.
	fileTransferTime = 15 * time.Minute
)

// codeUnsupportedType refuses a file the relay does not keep (415).
const codeUnsupportedType = "unsupported_type"

// fileOptions tune the file routes; tests shorten them.
type fileOptions struct {
	life time.Duration    // fileSessionLife (sessions' age is real time)
	now  func() time.Time // time.Now: the file tokens' clock
}

func (o *fileOptions) defaults() {
	if o.life <= 0 {
		o.life = fileSessionLife
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// files serves FilesPath, and gives the writer and the sessions what they
// need of the file store.
type files struct {
	srv   *Server
	blobs Blobs // nil: the relay keeps no files
	mux   *http.ServeMux
	opts  fileOptions
}

func newFiles(s *Server) *files {
	f := &files{srv: s, blobs: s.opts.Blobs, mux: http.NewServeMux(), opts: s.opts.files}
	f.mux.HandleFunc("PUT /v1/files/{ws}/{id}", f.put)
	f.mux.HandleFunc("GET /v1/files/{ws}/{id}", f.get) // and HEAD
	f.mux.HandleFunc("OPTIONS /v1/files/{ws}/{id}", f.preflight)
	return f
}

// ServeHTTP answers a path no route has with not_found, a method the route
// does not take with 405, and hands the rest to their route.
func (f *files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, pattern := f.mux.Handler(r); pattern != "" {
		f.mux.ServeHTTP(w, r)
		return
	}
	if strings.Count(strings.TrimPrefix(r.URL.Path, FilesPath), "/") != 1 {
		fileFail(w, http.StatusNotFound, codeNotFound, "no such route: "+r.URL.Path+" (files are at "+FilesPath+"{workspace}/{sha256})")
		return
	}
	w.Header().Set("Allow", "GET, HEAD, PUT, OPTIONS")
	fileFail(w, http.StatusMethodNotAllowed, codeBadRequest, r.Method+" is not served here: PUT a file, GET it")
}

// fileErrorBody is an error's shape, as the HTTP API's: {"error": {"code", "message"}}.
type fileErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func fileFail(w http.ResponseWriter, status int, code, message string) {
	var e fileErrorBody
	e.Error.Code, e.Error.Message = code, message
	fileJSON(w, status, e)
}

func fileJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	h := w.Header()
	h.Del("Content-Disposition")
	h.Del("ETag")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fileCaller is who a request speaks for.
type fileCaller struct {
	who   conv.Participant // the identity (an API key's: api:<id>); zero for a link token
	alias string           // the visitor a contact was, whose uploads count as its own (the writer's)
	key   bool             // an API key: every file of its workspace
	file  string           // a link token: the one file it fetches
}

// auth reads the bearer of r (the header, or ?token= when query is set:
// file tokens only, never an API key in a URL) and says why it is refused.
func (f *files) auth(w *workspace, r *http.Request, query bool) (fileCaller, string) {
	tok, hasHeader := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !hasHeader && query {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		return fileCaller{}, "send Authorization: Bearer <the welcome's fileToken, or an API key>"
	}
	if !isFileToken(tok) {
		if !hasHeader {
			return fileCaller{}, "?token= takes a file token; an API key goes in the Authorization header"
		}
		if who, ok := w.settings().apiKey(tok); ok {
			return fileCaller{who: who, key: true}, ""
		}
		return fileCaller{}, "not a file token nor an API key of this workspace"
	}
	c, err := verifyFileToken(w, tok, f.opts.now())
	if err != nil {
		return fileCaller{}, err.Error()
	}
	if c.File != "" {
		return fileCaller{file: c.File}, ""
	}
	who := conv.Participant{ID: c.ID, Role: c.Role}
	if who.IsTeam() && !slices.ContainsFunc(w.settings().members, func(m member) bool { return m.who.ID == who.ID }) {
		return fileCaller{}, "this token's " + string(who.Role) + " is no longer in the workspace"
	}
	return fileCaller{who: who}, ""
}

// cors lets a page of an allowed origin (the workspace's allowedOrigins;
// any when it has none) read the answer: the widget uploads and fetches
// from customers' sites. Authentication is the bearer, never a cookie.
func cors(w http.ResponseWriter, r *http.Request, ws *workspace) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "" || ws == nil || !ws.settings().originAllowed(origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Content-Disposition, Content-Length, Content-Range, Content-Type, ETag, Accept-Ranges")
	return true
}

func (f *files) preflight(w http.ResponseWriter, r *http.Request) {
	if cors(w, r, f.srv.workspace(r.PathValue("ws"))) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range, If-None-Match, If-Range")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// errUploadRead marks a failure to read the request's body (the client
// went away), as opposed to the store's.
var errUploadRead = errors.New("read upload")

type uploadBody struct{ r io.Reader }

func (u uploadBody) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errUploadRead, err)
	}
	return n, err
}

func (f *files) put(w http.ResponseWriter, r *http.Request) {
	ws := f.srv.workspace(r.PathValue("ws"))
	cors(w, r, ws)
	if ws == nil {
		fileFail(w, http.StatusNotFound, codeNotFound, "no such workspace here")
		return
	}
	sha := r.PathValue("id")
	if !conv.IsFileID(sha) {
		fileFail(w, http.StatusBadRequest, string(conv.CodeInvalid), "a file is PUT at its SHA-256: 64 lowercase hex digits")
		return
	}
	caller, why := f.auth(ws, r, false)
	if why == "" && caller.file != "" {
		why = "a link token only fetches its file"
	}
	if why != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="threadline"`)
		f.srv.lg.Info("file upload refused", "workspace", ws.id, "remote", r.RemoteAddr, "why", why)
		fileFail(w, http.StatusUnauthorized, protocol.CodeUnauthorized, why)
		return
	}
	if f.blobs == nil {
		fileFail(w, http.StatusServiceUnavailable, codeUnavailable, "this relay keeps no files")
		return
	}
	tooLarge := fmt.Sprintf("a file is at most %d bytes (25 MiB)", conv.MaxFileBytes)
	if r.ContentLength > conv.MaxFileBytes {
		fileFail(w, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, tooLarge)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(fileTransferTime))
	_ = rc.SetWriteDeadline(time.Now().Add(fileTransferTime))

	body := uploadBody{r.Body}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(body, head)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		fileFail(w, http.StatusBadRequest, codeBadRequest, "the upload broke off: "+err.Error())
		return
	}
	head = head[:n]
	if t := sniffType(head); !fileTypeAllowed(t) {
		fileFail(w, http.StatusUnsupportedMediaType, codeUnsupportedType, fmt.Sprintf("the relay keeps no programs (this file is %s)", t))
		return
	}
	b, created, err := f.blobs.Put(ws.id, sha, io.MultiReader(bytes.NewReader(head), body), conv.MaxFileBytes)
	switch {
	case errors.Is(err, ErrFileTooLarge):
		fileFail(w, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, tooLarge)
		return
	case errors.Is(err, ErrFileHash):
		fileFail(w, http.StatusBadRequest, string(conv.CodeInvalid), "the bytes do not hash to the URL's sha256 ("+strings.TrimPrefix(err.Error(), ErrFileHash.Error()+": ")+")")
		return
	case errors.Is(err, errUploadRead):
		fileFail(w, http.StatusBadRequest, codeBadRequest, "the upload broke off: "+err.Error())
		return
	case err != nil:
		f.srv.lg.Error("file store failed", "workspace", ws.id, "err", err)
		fileFail(w, http.StatusServiceUnavailable, codeUnavailable, "the relay cannot store files now; retry")
		return
	}
	if err := f.blobs.Refer(ws.id, sha, FileRef{Uploader: caller.who.ID}); err != nil {
		f.srv.lg.Error("file store failed", "workspace", ws.id, "err", err)
		fileFail(w, http.StatusServiceUnavailable, codeUnavailable, "the relay cannot store files now; retry")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	fileJSON(w, status, b)
}

func (f *files) get(w http.ResponseWriter, r *http.Request) {
	ws := f.srv.workspace(r.PathValue("ws"))
	cors(w, r, ws)
	if ws == nil {
		fileFail(w, http.StatusNotFound, codeNotFound, "no such workspace here")
		return
	}
	caller, why := f.auth(ws, r, true)
	if why != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="threadline"`)
		fileFail(w, http.StatusUnauthorized, protocol.CodeUnauthorized, why)
		return
	}
	id := r.PathValue("id")
	notFound := func() {
		fileFail(w, http.StatusNotFound, codeNotFound, "no file "+id+" that this identity may see")
	}
	if f.blobs == nil || !conv.IsFileID(id) {
		notFound()
		return
	}
	name, ok, err := f.mayFetch(r.Context(), ws, caller, id, true)
	if err != nil {
		f.srv.lg.Error("file access check failed", "workspace", ws.id, "err", err)
		fileFail(w, http.StatusServiceUnavailable, codeUnavailable, "the relay cannot read files now; retry")
		return
	}
	if !ok {
		notFound()
		return
	}
	rd, b, err := f.blobs.Open(ws.id, id)
	if errors.Is(err, ErrNoFile) {
		notFound()
		return
	}
	if err != nil {
		f.srv.lg.Error("file store failed", "workspace", ws.id, "err", err)
		fileFail(w, http.StatusServiceUnavailable, codeUnavailable, "the relay cannot read files now; retry")
		return
	}
	defer rd.Close()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(fileTransferTime))
	h := w.Header()
	h.Set("Content-Type", b.Type)
	h.Set("ETag", `"`+id+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("Referrer-Policy", "no-referrer")
	disposition := "attachment"
	if fileInline(b.Type) {
		disposition = "inline"
	}
	if name == "" {
		name = id
	}
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": name}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disposition+`; filename="`+id+`"`)
	}
	if mediaType(b.Type) != "application/pdf" { // a sandbox keeps browsers' PDF viewers out
		h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox")
	}
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// mayFetch reports whether caller may fetch file id of ws, with the name
// the newest event it may see gives the file ("" when none does). With
// wait, a ref to an event that is acknowledged but not yet readable from the
// log waits for it (microseconds; a device may ask as soon as it has the
// event); without, such refs are not counted (the writer asks so).
func (f *files) mayFetch(ctx context.Context, ws *workspace, caller fileCaller, id string, wait bool) (string, bool, error) {
	refs, err := f.blobs.Refs(ws.id, id)
	if err != nil {
		return "", false, err
	}
	team := caller.key || caller.file != "" || caller.who.IsTeam()
	uploaded := caller.key || caller.file == id
	var top uint64
	for _, r := range refs {
		if r.Uploader != "" && (r.Uploader == caller.who.ID || caller.alias != "" && r.Uploader == caller.alias) {
			uploaded = true
		}
		top = max(top, r.Seq)
	}
	if caller.file != "" && caller.file != id {
		return "", false, nil
	}
	pub := ws.published()
	if wait && top > pub {
		pub = ws.readableUpTo(ctx, top)
	}
	var seqs []uint64
	for i := len(refs) - 1; i >= 0; i-- { // newest first
		if r := refs[i]; r.Uploader == "" && r.Seq <= pub && !slices.Contains(seqs, r.Seq) {
			seqs = append(seqs, r.Seq)
		}
	}
	if len(seqs) == 0 {
		return "", uploaded, nil
	}
	raws, err := f.srv.log.Events(ws.id, seqs)
	if err != nil {
		return "", false, err
	}
	for _, raw := range raws {
		var e conv.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return "", false, fmt.Errorf("relay: decode stored event: %w", err)
		}
		name, ok := attachmentName(e, id)
		if !ok {
			continue // a ref whose group commit failed: its seq went to another event
		}
		if team {
			return name, true, nil
		}
		c, err := ws.state(e.Conv)
		if err != nil {
			return "", false, err
		}
		if conv.Visible(caller.who, c, e) {
			return name, true, nil
		}
	}
	return "", uploaded, nil
}

// attachmentName returns the name e gives file id, if e names it.
func attachmentName(e conv.Event, id string) (string, bool) {
	for _, a := range attachmentsOf(e) {
		if a.ID == id {
			return a.Name, true
		}
	}
	return "", false
}

// attachmentsOf returns the attachments of a message or note.
func attachmentsOf(e conv.Event) []conv.Attachment {
	if e.Kind != conv.KindMessageSent && e.Kind != conv.KindNoteAdded {
		return nil
	}
	d, err := conv.Decode(e)
	if err != nil {
		return nil
	}
	switch d := d.(type) {
	case *conv.Message:
		return d.Attachments
	case *conv.Note:
		return d.Attachments
	}
	return nil
}

// readableUpTo waits until seq, acknowledged, is readable from the log, or
// ctx ends; it returns the published head.
func (w *workspace) readableUpTo(ctx context.Context, seq uint64) uint64 {
	for {
		w.mu.RLock()
		pub, fanned, unread := w.pub, w.fanned, w.unread
		w.mu.RUnlock()
		if seq <= pub || seq > fanned || unread == nil {
			return pub
		}
		select {
		case <-unread:
		case <-ctx.Done():
			return pub
		}
	}
}

// attach checks the files a pushed message or note names, for the writer
// (group.push, before conv.Apply): each must be stored and uploaded by the
// pusher (r.who, or the visitor it was) or one it may fetch; otherwise the
// event is invalid, as not uploaded (a file it may not fetch is not told
// apart from a missing one). It sets each attachment's size and type to the
// stored file's, and returns the files' ids. What conv.Apply rejects anyway
// (more than MaxAttachments, a malformed id) is left to it; err is the
// store's failure.
func (f *files) attach(w *workspace, r *request, e *conv.Event) (ids []string, reject, err error) {
	if e.Kind != conv.KindMessageSent && e.Kind != conv.KindNoteAdded {
		return nil, nil, nil
	}
	d, derr := conv.Decode(*e)
	if derr != nil {
		return nil, nil, nil
	}
	var atts []conv.Attachment
	switch d := d.(type) {
	case *conv.Message:
		atts = d.Attachments
	case *conv.Note:
		atts = d.Attachments
	}
	if len(atts) == 0 || len(atts) > conv.MaxAttachments {
		return nil, nil, nil
	}
	if f.blobs == nil {
		return nil, &conv.Error{Code: conv.CodeInvalid, Message: "this relay keeps no files"}, nil
	}
	caller := fileCaller{who: r.who, alias: r.alias, key: strings.HasPrefix(r.who.ID, APIPrefix)}
	for i := range atts {
		a := &atts[i]
		if !conv.IsFileID(a.ID) || a.SHA256 != a.ID {
			return nil, nil, nil
		}
		b, err := f.blobs.Stat(w.id, a.ID)
		ok := err == nil
		if ok && !slices.Contains(ids, a.ID) {
			if _, ok, err = f.mayFetch(context.Background(), w, caller, a.ID, false); err != nil {
				return nil, nil, err
			}
		}
		switch {
		case errors.Is(err, ErrNoFile), err == nil && !ok:
			return nil, &conv.Error{Code: conv.CodeInvalid, Message: fmt.Sprintf(
				"attachment %q: file %s was not uploaded (PUT it to %s%s/%s first)", a.Name, a.ID, FilesPath, w.id, a.ID)}, nil
		case err != nil:
			return nil, nil, err
		}
		a.Size, a.Type = b.Size, b.Type // the relay's, whatever the device said
		if !slices.Contains(ids, a.ID) {
			ids = append(ids, a.ID)
		}
	}
	e.Data = conv.MustData(d)
	return ids, nil, nil
}

// named records that e, just validated and given its seq, names the files
// ids, before e can be logged (the refs are durable when it returns).
func (f *files) named(w *workspace, ids []string, e conv.Event) error {
	if len(ids) == 0 {
		return nil
	}
	ref := FileRef{Seq: e.Seq, Conv: e.Conv}
	if len(ids) == 1 {
		return f.blobs.Refer(w.id, ids[0], ref)
	}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = f.blobs.Refer(w.id, id, ref) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sessionToken is the welcome's fileToken for who, or "" when the relay
// keeps no files.
func (f *files) sessionToken(w *workspace, who conv.Participant) string {
	if f.blobs == nil {
		return ""
	}
	exp := f.opts.now().Add(f.opts.life + fileTokenGrace)
	return signFileToken(w.settings(), fileClaims{WS: w.id, ID: who.ID, Role: who.Role, Exp: exp.Unix()})
}

// sessionExpired reports whether a session accepted at accepted has lived
// its fileSessionLife: its fileToken then has an hour left, and the
// session is closed for the device to resume with a new one.
func (f *files) sessionExpired(accepted time.Time) bool {
	return f.blobs != nil && time.Since(accepted) >= f.opts.life
}

// FileLink returns the path and query of a link that fetches file id of
// workspace ws without a header, as the team, until ttl has passed:
// "/v1/files/{ws}/{id}?token=…", to be put after the relay's public origin
// (which the relay does not know: behind a proxy it is not its own). A
// webhook can carry it beside an attachment's metadata, since webhook
// receivers get the team's view of events.
func (s *Server) FileLink(ws, id string, ttl time.Duration) (string, error) {
	w := s.workspace(ws)
	if w == nil {
		return "", fmt.Errorf("relay: file link: no workspace %q", ws)
	}
	if !conv.IsFileID(id) {
		return "", fmt.Errorf("relay: file link: %w", ErrBadFileID)
	}
	exp := s.files.opts.now().Add(ttl)
	tok := signFileToken(w.settings(), fileClaims{WS: ws, File: id, Exp: exp.Unix()})
	return FilesPath + url.PathEscape(ws) + "/" + id + "?token=" + url.QueryEscape(tok), nil
}
