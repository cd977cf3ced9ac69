package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"sync"
	"time"
)

// Browser mode: the same bound methods over HTTP, for development and the
// end-to-end tests that drive the real backend from a browser.
//
//	POST /api/call   {"method": "Send", "args": ["<conv id>", "hello"]}
//	                 → 200 {"result": …} or 4xx/5xx {"error": {"code", "message"}}
//	GET  /api/events text/event-stream: "event: <name>" and "data: <JSON array of the args>"
//	GET  /…          the frontend's files
//
// Only the methods a Wails window could call are served; the lifecycle hooks are not.

// notBound are the exported methods of *App that are not part of the API.
var notBound = map[string]bool{"OnStartup": true, "OnShutdown": true}

// Handler serves a's API and the frontend's files (assets rooted at the
// folder holding index.html). It becomes the App's emitter: events go to
// every /api/events stream.
func Handler(a *App, assets fs.FS) http.Handler {
	hub := &sseHub{subs: map[chan []byte]struct{}{}}
	a.setEmitter(hub)
	methods := map[string]reflect.Value{}
	v := reflect.ValueOf(a)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		if !notBound[m.Name] {
			methods[m.Name] = v.Method(i)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/call", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string            `json:"method"`
			Args   []json.RawMessage `json:"args"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, &Error{Code: "bad_request", Message: "body: " + err.Error()})
			return
		}
		m, ok := methods[req.Method]
		if !ok {
			writeErr(w, http.StatusNotFound, &Error{Code: "unknown_method", Message: "no method " + req.Method})
			return
		}
		res, err := call(m, req.Args)
		if err != nil {
			status := http.StatusUnprocessableEntity
			var e *Error
			if errors.As(err, &e) && (e.Code == "bad_request" || e.Code == "error") {
				status = http.StatusBadRequest
			}
			writeErr(w, status, wireError(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"result": res})
	})
	mux.HandleFunc("GET /api/events", hub.serve)
	files := FilesHandler(a)
	mux.Handle("GET /files/", files)
	mux.Handle("POST /files/", files)
	mux.Handle("GET /", http.FileServerFS(assets))
	return mux
}

// call invokes m with args decoded into its parameter types and returns its
// result and error.
func call(m reflect.Value, args []json.RawMessage) (any, error) {
	t := m.Type()
	if len(args) != t.NumIn() {
		return nil, &Error{Code: "bad_request", Message: fmt.Sprintf("want %d arguments, got %d", t.NumIn(), len(args))}
	}
	in := make([]reflect.Value, t.NumIn())
	for i := range in {
		p := reflect.New(t.In(i))
		if err := json.Unmarshal(args[i], p.Interface()); err != nil {
			return nil, &Error{Code: "bad_request", Message: fmt.Sprintf("argument %d: %v", i+1, err)}
		}
		in[i] = p.Elem()
	}
	out := m.Call(in)
	if errV := out[len(out)-1]; !errV.IsNil() {
		return nil, errV.Interface().(error)
	}
	if len(out) == 2 {
		return out[0].Interface(), nil
	}
	return nil, nil
}

func writeErr(w http.ResponseWriter, status int, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// sseHub is an Emitter that fans events out to server-sent-event streams.
// A stream that falls behind loses events, never blocks the App: the UI
// reloads what it shows on the next one.
type sseHub struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

func (h *sseHub) Emit(name string, data ...any) {
	if data == nil {
		data = []any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	msg := []byte("event: " + name + "\ndata: " + string(b) + "\n\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

func (h *sseHub) serve(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = io.WriteString(w, ": connected\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg := <-ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
