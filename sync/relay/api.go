package relay

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// The HTTP API for a website's backend (DESIGN §9) is the log over HTTP:
// every write is a push through the workspace's writer, as from a device
// whose identity is the API key's participant ({id: "api:<id>", role:
// "agent"}), so the same reducer, rules and error codes apply; every read
// is what an agent's device would read. This file routes, authenticates,
// limits and answers; api_write.go and api_read.go serve the routes;
// openapi.json describes them (api_openapi_test.go holds it true).

// APIPath starts every route of the HTTP API.
const APIPath = "/v1/api/"

// maxAPIBody is the largest request body: the protocol's frame limit.
const maxAPIBody = protocol.MaxFrameBytes

// Error codes of the HTTP API itself (DESIGN §9), beside the event codes
// of conv and protocol's unauthorized, rate_limited and too_large.
const (
	codeBadRequest  = "bad_request"
	codeNotFound    = "not_found"
	codeUnavailable = "unavailable" // the log cannot take writes now, or the relay is stopping: retry
)

//go:embed openapi.json
var openAPIDoc []byte

// apiRoute is one route: what the OpenAPI document names it, what it takes
// and who serves it. The routes table is the one list both the mux and the
// document's test read.
type apiRoute struct {
	method, path string   // path as the mux and the document write it
	op           string   // the document's operationId, and the metrics' route label
	query        []string // the query parameters it takes; any other is bad_request
	body         any      // a zero value of its request body's type; nil: none
	public       bool     // served without a key (the document itself)
	serve        func(a *api, c *apiCall)
}

var apiRoutes = []*apiRoute{
	{method: http.MethodGet, path: "/v1/api/openapi.json", op: "getOpenAPI", public: true,
		serve: (*api).openAPI},
	{method: http.MethodPost, path: "/v1/api/workspaces/{ws}/conversations", op: "createConversation",
		body: createRequest{}, serve: (*api).createConversation},
	{method: http.MethodGet, path: "/v1/api/workspaces/{ws}/conversations", op: "listConversations",
		query: []string{"contact", "status", "after", "limit"}, serve: (*api).listConversations},
	{method: http.MethodGet, path: "/v1/api/workspaces/{ws}/conversations/{id}", op: "getConversation",
		serve: (*api).getConversation},
	{method: http.MethodGet, path: "/v1/api/workspaces/{ws}/conversations/{id}/events", op: "listEvents",
		query: []string{"after", "limit"}, serve: (*api).listEvents},
	{method: http.MethodPost, path: "/v1/api/workspaces/{ws}/conversations/{id}/events", op: "postEvent",
		body: eventRequest{}, serve: (*api).postEvent},
}

// api serves APIPath.
type api struct {
	srv *Server
	mux *http.ServeMux

	limMu  sync.Mutex
	limits map[string]*tokenBucket // by workspace and key: requests a second
}

func newAPI(s *Server) *api {
	a := &api{srv: s, mux: http.NewServeMux(), limits: map[string]*tokenBucket{}}
	for _, rt := range apiRoutes {
		a.mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) { a.handle(rt, w, r) })
	}
	return a
}

// ServeHTTP answers a path no route has with not_found, a method a path
// does not take with 405 (and Allow), and hands the rest to its route.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	c := &apiCall{w: w, r: r, start: time.Now(), op: "unrouted"}
	defer c.done(a)
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := a.mux.Handler(r2); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		c.fail(http.StatusNotFound, codeNotFound, "no such route: "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	c.fail(http.StatusMethodNotAllowed, codeBadRequest, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, " or "), r.Method))
}

// apiCall is one request on its way through a route.
type apiCall struct {
	w      http.ResponseWriter
	r      *http.Request
	start  time.Time
	op     string
	status int

	ws  *workspace
	who conv.Participant // the API key's participant
}

func (c *apiCall) done(a *api) { a.srv.m.api.observe(c.op, c.status, time.Since(c.start)) }

// handle authenticates, limits and serves one request of route rt.
func (a *api) handle(rt *apiRoute, w http.ResponseWriter, r *http.Request) {
	c := &apiCall{w: w, r: r, start: time.Now(), op: rt.op}
	defer c.done(a)
	if rt.public {
		rt.serve(a, c)
		return
	}
	if c.ws = a.srv.workspace(r.PathValue("ws")); c.ws == nil {
		c.fail(http.StatusNotFound, codeNotFound, "no such workspace here")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if c.who, ok = c.ws.settings().apiKey(strings.TrimSpace(token)); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="threadline"`)
		a.srv.lg.Info("api request refused", "workspace", c.ws.id, "route", rt.op, "remote", r.RemoteAddr, "why", "bad key")
		c.fail(http.StatusUnauthorized, protocol.CodeUnauthorized, "send Authorization: Bearer <an API key of this workspace>")
		return
	}
	for k := range r.URL.Query() {
		if !slices.Contains(rt.query, k) {
			c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("unknown query parameter %q", k))
			return
		}
	}
	if !a.allow(c.ws.id, c.who.ID, c.start) {
		w.Header().Set("Retry-After", "1")
		c.fail(http.StatusTooManyRequests, protocol.CodeRateLimited,
			fmt.Sprintf("at most %g requests a second per key (bursts of %g)", a.srv.opts.RatePerSecond, a.srv.opts.RateBurst))
		return
	}
	rt.serve(a, c)
}

// allow takes one request from the key's bucket: the sessions' rate
// (Options.RatePerSecond, RateBurst), per API key.
func (a *api) allow(ws, key string, now time.Time) bool {
	a.limMu.Lock()
	defer a.limMu.Unlock()
	k := ws + "\x00" + key
	b := a.limits[k]
	if b == nil {
		nb := newTokenBucket(a.srv.opts.RatePerSecond, a.srv.opts.RateBurst)
		b = &nb
		a.limits[k] = b
	}
	return b.take(1, now)
}

func (a *api) openAPI(c *apiCall) {
	c.raw(http.StatusOK, openAPIDoc)
}

// apiErrorBody is every error's shape: {"error": {"code", "message"}}.
type apiErrorBody struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail answers an error.
func (c *apiCall) fail(status int, code, message string) {
	c.json(status, apiErrorBody{Error: apiErrorDetail{Code: code, Message: message}})
}

// reject answers an event's rejection with its code's status.
func (c *apiCall) reject(e *conv.Error) {
	c.fail(eventStatus(e.Code), string(e.Code), e.Message)
}

// eventStatus is the HTTP status of a rejected event's code (DESIGN §9).
func eventStatus(code conv.Code) int {
	switch code {
	case conv.CodeForbidden:
		return http.StatusForbidden
	case conv.CodeConflict:
		return http.StatusConflict
	case conv.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}

// unavailable answers a write the writer could not take (shutting down, or
// a log failure): nothing was logged, and a retry may succeed.
func (c *apiCall) unavailable(err error) {
	msg := "the relay cannot log now; retry"
	if errors.Is(err, errStopped) {
		msg = "the relay is shutting down; retry"
	}
	c.w.Header().Set("Retry-After", "1")
	c.fail(http.StatusServiceUnavailable, codeUnavailable, msg)
}

// json answers v as JSON with status (<, > and & as they are: the answer
// is not HTML).
func (c *apiCall) json(status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"error":{"code":"internal","message":"encode answer"}}`)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), newline)
	}
	c.raw(status, b)
}

// raw answers b, which is JSON, with status.
func (c *apiCall) raw(status int, b []byte) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	c.status = status
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b) // b may be shared (the document): never appended to
	_, _ = c.w.Write(newline)
}

var newline = []byte{'\n'}

// decode reads the request body, at most maxAPIBody bytes of one JSON
// object with no unknown fields, into v. It answers and returns false when
// the body is not that.
func (c *apiCall) decode(v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxAPIBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		c.fail(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, fmt.Sprintf("a request body is at most %d bytes", maxAPIBody))
		return false
	case err != nil:
		c.fail(http.StatusBadRequest, codeBadRequest, "read body: "+err.Error())
		return false
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		c.fail(http.StatusBadRequest, codeBadRequest, "the body must be a JSON object")
		return false
	}
	if err := strictJSON(b, v); err != nil {
		c.fail(http.StatusBadRequest, codeBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

// strictJSON decodes b, one JSON value and nothing after it, into v,
// refusing fields v does not have.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeDecodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more after the JSON value")
	}
	return nil
}

// describeDecodeError words encoding/json's errors for people.
func describeDecodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("not JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("%s must be %s, not %s", typ.Field, jsonKind(typ.Type.String()), typ.Value)
		}
		return fmt.Errorf("must be %s, not %s", jsonKind(typ.Type.String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("not JSON: it ends too soon")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type as JSON would.
func jsonKind(goType string) string {
	switch {
	case goType == "string" || strings.HasSuffix(goType, ".Kind") || strings.HasSuffix(goType, ".Priority") || strings.HasSuffix(goType, ".Status"):
		return "a string"
	case strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// uintParam reads query parameter name as an integer from lo to hi (def
// when absent); it answers and returns false when it is not one.
func (c *apiCall) uintParam(name string, def, lo, hi uint64) (uint64, bool) {
	s := c.r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < lo || n > hi {
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
		return 0, false
	}
	return n, true
}
