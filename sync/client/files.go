package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// FileSource is implemented by a Local whose pending events may name files
// (DESIGN §10). Before the Client pushes an event that carries attachments,
// it uploads each of them that it has not uploaded during its lifetime to
// the relay (PUT /v1/files/{ws}/{sha256} with the welcome's fileToken),
// reading the bytes through OpenFile. A PUT the relay answers 200 stored
// nothing new, so resending is harmless: an upload cut by a lost connection
// starts again from the first byte after the reconnect, and the event waits
// for it. A file the relay refuses (too_large, unsupported_type, invalid)
// fails its event with that code, as a rejected push would, so the user
// sees why; a file OpenFile cannot find fails it as invalid.
//
// A Local that is no FileSource pushes attachments as they are: the relay
// accepts an event naming a file only if this identity uploaded it (or may
// see it) already.
//
// Uploads run beside the session's loop, so events keep arriving and
// typing keeps going while a big file goes up: OpenFile is the one method
// of Local the Client may call concurrently with the others.
type FileSource interface {
	// OpenFile opens the bytes whose SHA-256 is sha (lowercase hex) and says
	// how many there are. The Client closes the reader.
	OpenFile(sha string) (io.ReadCloser, int64, error)
}

// ErrNoFile is what an OpenFile returns (wrapped or not) for a file it does not hold.
var ErrNoFile = errors.New("client: no such file")

// fileURL is where the relay keeps files of workspace ws: the sync URL's
// origin, with http(s) for ws(s), and the path before protocol.Path.
func fileURL(syncURL, ws, sha string) (string, error) {
	u, err := url.Parse(syncURL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), protocol.Path)
	u.Path = base + "/v1/files/" + url.PathEscape(ws) + "/" + sha
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String(), nil
}

// FileURL is the relay's address for the file sha of workspace ws, given the
// relay URL a Client was made with (ws:// or http://): for downloads with
// the welcome's fileToken as a bearer.
func FileURL(relayURL, ws, sha string) (string, error) { return fileURL(relayURL, ws, sha) }

// attachmentsOf returns the attachments an event's data names (messages and notes).
func attachmentsOf(e *conv.Event) []conv.Attachment {
	if e.Kind != conv.KindMessageSent && e.Kind != conv.KindNoteAdded {
		return nil
	}
	var d struct {
		Attachments []conv.Attachment `json:"attachments"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return nil
	}
	return d.Attachments
}

// uploadResult is how an upload ended: the files it stored, a rejection for
// its event, or an error (the relay could not be reached).
type uploadResult struct {
	id   string
	shas []string
	rej  *Outcome
	err  error
}

// needUpload returns the files of e this Client has not uploaded yet; none
// when Local is no FileSource.
func (s *session) needUpload(e *conv.Event) []conv.Attachment {
	if _, ok := s.c.opts.Local.(FileSource); !ok {
		return nil
	}
	var need []conv.Attachment
	for _, a := range attachmentsOf(e) {
		if a.SHA256 == "" {
			a.SHA256 = a.ID
		}
		if !s.c.uploaded[a.SHA256] {
			need = append(need, a)
		}
	}
	return need
}

// startUpload uploads files of e on a goroutine; its result comes to the
// loop on uploadDone.
func (s *session) startUpload(ctx context.Context, e conv.Event, files []conv.Attachment) {
	ctx, cancel := context.WithCancel(ctx)
	s.uploading, s.uploadCancel = e.ID, cancel
	src := s.c.opts.Local.(FileSource)
	go func() {
		defer cancel()
		res := uploadResult{id: e.ID}
		res.shas, res.rej, res.err = s.upload(ctx, src, e.ID, files)
		s.uploadDone <- res // buffered: never blocks
	}()
}

// uploaded takes an upload's result in the loop: the files are up (push
// again), its event is refused (failed, as a rejected push), or the relay
// could not be reached (the connection ends; the upload starts again after
// the reconnect).
func (s *session) uploaded(res uploadResult) error {
	s.uploading, s.uploadCancel = "", nil
	for _, sha := range res.shas {
		s.c.uploaded[sha] = true
	}
	if res.err != nil {
		return res.err
	}
	if res.rej != nil {
		s.log.Warn("sync: a file was refused; its event is failed", "id", res.id, "code", res.rej.Err.Code)
		if err := s.c.opts.Local.Acknowledged([]Outcome{*res.rej}); err != nil {
			return fmt.Errorf("client: record a refused file: %w", err)
		}
		s.c.rememberOutcomes([]Outcome{*res.rej})
	}
	s.wantPush = true
	return nil
}

// upload sends files (of event id) to the relay, in order, and returns those
// it stored, a rejection for the event when the relay (or Local) refuses one
// of them, or an error when the relay could not be reached. It runs on its
// own goroutine: it reads only the session's welcome, set before.
func (s *session) upload(ctx context.Context, src FileSource, id string, files []conv.Attachment) (done []string, rej *Outcome, err error) {
	for _, a := range files {
		sha := a.SHA256
		if !conv.IsFileID(sha) {
			return done, &Outcome{ID: id, Err: &conv.Error{Code: conv.CodeInvalid,
				Message: fmt.Sprintf("attachment %q names no file", a.Name)}}, nil
		}
		r, size, err := src.OpenFile(sha)
		if err != nil {
			if errors.Is(err, ErrNoFile) || errors.Is(err, fs.ErrNotExist) {
				return done, &Outcome{ID: id, Err: &conv.Error{Code: conv.CodeInvalid,
					Message: fmt.Sprintf("the file %q is no longer on this device", a.Name)}}, nil
			}
			return done, nil, fmt.Errorf("client: open file %s: %w", sha, err)
		}
		rej, err := s.put(ctx, sha, a.Name, r, size)
		r.Close()
		if err != nil {
			return done, nil, err
		}
		if rej != nil {
			rej.ID = id
			return done, rej, nil
		}
		done = append(done, sha)
	}
	return done, nil, nil
}

func (s *session) put(ctx context.Context, sha, name string, r io.Reader, size int64) (*Outcome, error) {
	c := s.c
	u, err := fileURL(c.url, c.opts.Workspace, sha)
	if err != nil {
		return nil, err
	}
	if s.welcome.FileToken == "" {
		return nil, errors.New("client: the relay gave no fileToken: cannot upload files")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, r)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+s.welcome.FileToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	hc := c.opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: upload %s: %w", name, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode == http.StatusOK || res.StatusCode == http.StatusCreated:
		s.log.Info("sync: file uploaded", "sha256", sha, "size", size, "status", res.StatusCode)
		return nil, nil
	case res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusRequestEntityTooLarge ||
		res.StatusCode == http.StatusUnsupportedMediaType:
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		code, msg := e.Error.Code, e.Error.Message
		if code == "" {
			code, msg = e.Code, e.Message
		}
		if code == "" {
			switch res.StatusCode {
			case http.StatusRequestEntityTooLarge:
				code = string(conv.CodeTooLarge)
			case http.StatusUnsupportedMediaType:
				code = "unsupported_type"
			default:
				code = string(conv.CodeInvalid)
			}
		}
		if msg == "" {
			msg = fmt.Sprintf("the relay refused the file %q", name)
		}
		return &Outcome{Err: &conv.Error{Code: conv.Code(code), Message: msg}}, nil
	}
	return nil, fmt.Errorf("client: upload %s: relay answered %s: %s", name, res.Status, strings.TrimSpace(string(body)))
}
