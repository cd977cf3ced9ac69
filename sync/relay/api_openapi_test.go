package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
)

// The OpenAPI document is held true in three ways:
//
//   - its operations are the routes table's, with the same query
//     parameters, and its request and response schemas have the fields of
//     the Go types the handlers decode and encode (TestOpenAPIMatchesRoutes);
//   - every answer any API test gets is checked against it: its status must
//     be documented for its route and its body valid against that status's
//     schema (apiClient.do → checkAgainstDocument);
//   - TestOpenAPIEveryResponse makes every documented (route, status)
//     happen on a real relay.

// oaDoc is the parts of an OpenAPI 3.1 document the tests read.
type oaDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]oaOpOrAny `json:"paths"`
	Components struct {
		Schemas map[string]*oaSchema `json:"schemas"`
	} `json:"components"`
}

// oaOpOrAny is a path item's member: an operation, or its parameters.
type oaOpOrAny = json.RawMessage

type oaOperation struct {
	OperationID string        `json:"operationId"`
	Parameters  []oaParameter `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema *oaSchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema *oaSchema `json:"schema"`
		} `json:"content"`
		Headers map[string]any `json:"headers"`
	} `json:"responses"`
}

type oaParameter struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

// oaSchema is the JSON Schema subset the document uses.
type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 any                  `json:"type"` // a string or a list of them
	Enum                 []any                `json:"enum"`
	Properties           map[string]*oaSchema `json:"properties"`
	Required             []string             `json:"required"`
	AdditionalProperties any                  `json:"additionalProperties"` // bool or a schema
	Items                *oaSchema            `json:"items"`
	Minimum              *float64             `json:"minimum"`
	Maximum              *float64             `json:"maximum"`
	MinLength            *int                 `json:"minLength"`
	MaxLength            *int                 `json:"maxLength"`
	MaxItems             *int                 `json:"maxItems"`
	Format               string               `json:"format"`
}

var (
	docOnce sync.Once
	doc     oaDoc
	docOps  map[string]map[string]*oaOperation // path → method → operation
	docErr  error
)

func loadDoc() error {
	docOnce.Do(func() {
		if docErr = json.Unmarshal(openAPIDoc, &doc); docErr != nil {
			return
		}
		docOps = map[string]map[string]*oaOperation{}
		for p, item := range doc.Paths {
			var shared []oaParameter
			if raw, ok := item["parameters"]; ok {
				if docErr = json.Unmarshal(raw, &shared); docErr != nil {
					return
				}
			}
			docOps[p] = map[string]*oaOperation{}
			for m, raw := range item {
				if m == "parameters" {
					continue
				}
				op := new(oaOperation)
				if docErr = json.Unmarshal(raw, op); docErr != nil {
					return
				}
				op.Parameters = append(slices.Clone(shared), op.Parameters...)
				docOps[p][strings.ToUpper(m)] = op
			}
		}
	})
	return docErr
}

// docOperation finds the documented operation for method and a request
// path, matching the document's path templates.
func docOperation(method, path string) (string, *oaOperation) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for p, ops := range docOps {
		ts := strings.Split(strings.Trim(p, "/"), "/")
		if len(ts) != len(segs) {
			continue
		}
		ok := true
		for i, s := range ts {
			if !(strings.HasPrefix(s, "{") && segs[i] != "") && s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			if method == http.MethodHead {
				method = http.MethodGet
			}
			return p, ops[method]
		}
	}
	return "", nil
}

// checkAgainstDocument fails t unless answer a, to method path, is
// documented and valid. An answer to a route the document does not have
// must be not_found or the 405 of a wrong method.
func checkAgainstDocument(t testing.TB, method, path string, a apiAnswer) {
	t.Helper()
	if err := loadDoc(); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	_, op := docOperation(method, path)
	if op == nil {
		if a.Status != http.StatusNotFound && a.Status != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s is not documented, yet answered %d", method, path, a.Status)
		}
		if err := validate(doc.Components.Schemas["Error"], a.Body); err != nil {
			t.Fatalf("%s %s: %d answer is not an Error: %v: %s", method, path, a.Status, err, trunc(a.Body))
		}
		return
	}
	res, ok := op.Responses[strconv.Itoa(a.Status)]
	if !ok {
		t.Fatalf("%s %s (%s) answered %d, which the document does not list: %s", method, path, op.OperationID, a.Status, trunc(a.Body))
	}
	covered(op.OperationID, a.Status)
	if ct := a.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	for h := range res.Headers {
		if h == "WWW-Authenticate" || h == "Retry-After" {
			if a.Header.Get(h) == "" {
				t.Fatalf("%s %s: %d answer lacks its documented %s header", method, path, a.Status, h)
			}
		}
	}
	sch := res.Content["application/json"].Schema
	if sch == nil {
		t.Fatalf("%s %s: status %d has no JSON schema", method, path, a.Status)
	}
	if err := validate(sch, a.Body); err != nil {
		t.Fatalf("%s %s: %d answer does not match the document: %v\n%s", method, path, a.Status, err, trunc(a.Body))
	}
}

func validate(s *oaSchema, body []byte) error {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	return check(s, v, "$")
}

func resolve(s *oaSchema) *oaSchema {
	for s != nil && s.Ref != "" {
		s = doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// check validates v against s (the subset oaSchema has).
func check(s *oaSchema, v any, at string) error {
	s = resolve(s)
	if s == nil {
		return fmt.Errorf("%s: unresolved schema", at)
	}
	got := typeOf(v)
	if s.Type != nil {
		var types []string
		switch t := s.Type.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		ok := slices.Contains(types, got) || (got == "integer" && slices.Contains(types, "number"))
		if !ok {
			return fmt.Errorf("%s: %s, want %v", at, got, types)
		}
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, s.Enum)
	}
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		if s.Minimum != nil && f < *s.Minimum || s.Maximum != nil && f > *s.Maximum {
			return fmt.Errorf("%s: %v out of range", at, x)
		}
	case string:
		n := len([]rune(x))
		if s.MinLength != nil && n < *s.MinLength || s.MaxLength != nil && n > *s.MaxLength {
			return fmt.Errorf("%s: length %d out of range", at, n)
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return fmt.Errorf("%s: %q is not RFC 3339", at, x)
			}
		}
	case []any:
		if s.MaxItems != nil && len(x) > *s.MaxItems {
			return fmt.Errorf("%s: %d items", at, len(x))
		}
		if s.Items != nil {
			for i, e := range x {
				if err := check(s.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		for _, r := range s.Required {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		for k, e := range x {
			if ps, ok := s.Properties[k]; ok {
				if err := check(ps, e, at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s.AdditionalProperties.(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q is not in the document", at, k)
				}
			case map[string]any:
				b, _ := json.Marshal(ap)
				var as oaSchema
				_ = json.Unmarshal(b, &as)
				if err := check(&as, e, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFields lists the JSON names of struct type t's fields.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func schemaFields(s *oaSchema) []string {
	s = resolve(s)
	var out []string
	for k := range s.Properties {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The document's operations are the served routes, with their parameters,
// and its schemas have the fields of the Go types behind them.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	if err := loadDoc(); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q; want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range docOps {
		for m := range ops {
			documented[m+" "+p] = true
		}
	}
	for _, rt := range apiRoutes {
		key := rt.method + " " + rt.path
		op := docOps[rt.path][rt.method]
		if op == nil {
			t.Errorf("route %s is not in the document", key)
			continue
		}
		delete(documented, key)
		if op.OperationID != rt.op {
			t.Errorf("%s: operationId %q; the route says %q", key, op.OperationID, rt.op)
		}
		var query, path []string
		for _, p := range op.Parameters {
			switch p.In {
			case "query":
				query = append(query, p.Name)
			case "path":
				path = append(path, p.Name)
				if !p.Required {
					t.Errorf("%s: path parameter %s must be required", key, p.Name)
				}
			}
		}
		sort.Strings(query)
		want := slices.Sorted(slices.Values(rt.query))
		if !slices.Equal(query, want) {
			t.Errorf("%s: documented query parameters %v; the route takes %v", key, query, want)
		}
		var inPath []string
		for _, s := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(s, "{") {
				inPath = append(inPath, strings.Trim(s, "{}"))
			}
		}
		sort.Strings(path)
		sort.Strings(inPath)
		if !slices.Equal(path, inPath) {
			t.Errorf("%s: documented path parameters %v; the path has %v", key, path, inPath)
		}
		switch {
		case rt.body == nil && op.RequestBody != nil:
			t.Errorf("%s: documents a body the route does not read", key)
		case rt.body != nil && op.RequestBody == nil:
			t.Errorf("%s: reads a body the document does not describe", key)
		case rt.body != nil:
			got := schemaFields(op.RequestBody.Content["application/json"].Schema)
			if want := jsonFields(reflect.TypeOf(rt.body)); !slices.Equal(got, want) {
				t.Errorf("%s: request body fields %v in the document; the route decodes %v", key, got, want)
			}
		}
	}
	for k := range documented {
		t.Errorf("the document has %s, which no route serves", k)
	}
	// The schemas of answers and the Go types encoded into them.
	for name, typ := range map[string]reflect.Type{
		"Error":                      reflect.TypeOf(apiErrorBody{}),
		"Participant":                reflect.TypeOf(conv.Participant{}),
		"Conversation":               reflect.TypeOf(conv.Conversation{}),
		"Event":                      reflect.TypeOf(conv.Event{}),
		"CreateConversationResponse": reflect.TypeOf(createdResponse{}),
		"PostEventResponse":          reflect.TypeOf(eventResponse{}),
		"ConversationPage":           reflect.TypeOf(conversationPage{}),
	} {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Errorf("schema %s is missing", name)
			continue
		}
		if got, want := schemaFields(s), jsonFields(typ); !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; %s encodes %v", name, got, typ, want)
		}
	}
	if got, want := schemaFields(doc.Components.Schemas["Conversation"].Properties["thread"]), jsonFields(reflect.TypeOf(conv.Thread{})); !slices.Equal(got, want) {
		t.Errorf("schema Conversation.thread has %v; conv.Thread encodes %v", got, want)
	}
	if got, want := schemaFields(doc.Components.Schemas["Error"].Properties["error"]), jsonFields(reflect.TypeOf(apiErrorDetail{})); !slices.Equal(got, want) {
		t.Errorf("schema Error.error has %v; %v", got, want)
	}
	// Every event kind the reducer knows is in the document's Event.kind.
	for _, k := range conv.Kinds {
		if !slices.ContainsFunc(doc.Components.Schemas["Event"].Properties["kind"].Enum, func(e any) bool { return e == string(k) }) {
			t.Errorf("Event.kind does not list %s", k)
		}
	}
}

// Every (route, status) the document lists happens on a real relay, and
// each answer is checked against the document as it comes (apiClient.do).
func TestOpenAPIEveryResponse(t *testing.T) {
	if err := loadDoc(); err != nil {
		t.Fatal(err)
	}
	coverage.Lock()
	coverage.seen = map[string]bool{}
	coverage.Unlock()

	r := newAPIRelay(t)
	c := r.api(tokAPI)
	anon := &apiClient{t: t, base: c.base, ws: testWS}
	nows := *c
	nows.ws = "initech"
	doc := c.do("GET", "/v1/api/openapi.json", nil).must(t, 200)
	if string(doc.Body) != string(openAPIDoc)+"\n" {
		t.Error("the served document is not the embedded one")
	}
	anon.do("GET", "/v1/api/openapi.json", nil).must(t, 200)

	// createConversation
	cv := c.create("1", "hello").ConversationID
	c.do("POST", "conversations", `{"contact":`).must(t, 400)
	anon.do("POST", "conversations", `{"contact":"1"}`).must(t, 401)
	nows.do("POST", "conversations", `{"contact":"1"}`).must(t, 404)
	c.post(cv, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 201)
	c.do("POST", "conversations/"+cv+"/events", map[string]any{"kind": "note.added", "data": map[string]any{"text": "k"}}, "Idempotency-Key", "k1").must(t, 201)
	c.do("POST", "conversations", `{"contact":"1"}`, "Idempotency-Key", "k1").must(t, 409)
	c.do("POST", "conversations", `{"contact":"1","message":"`+strings.Repeat("x", maxAPIBody)+`"}`).must(t, 413)
	c.do("POST", "conversations", `{"contact":"1","priority":"soon"}`).must(t, 422)

	// listConversations
	c.do("GET", "conversations?limit=1", nil).must(t, 200)
	c.do("GET", "conversations?limit=x", nil).must(t, 400)
	anon.do("GET", "conversations", nil).must(t, 401)
	nows.do("GET", "conversations", nil).must(t, 404)

	// getConversation
	c.do("GET", "conversations/"+cv, nil).must(t, 200)
	anon.do("GET", "conversations/"+cv, nil).must(t, 401)
	c.do("GET", "conversations/nope", nil).must(t, 404)

	// listEvents
	c.do("GET", "conversations/"+cv+"/events?limit=2", nil).must(t, 200)
	c.do("GET", "conversations/"+cv+"/events?after=x", nil).must(t, 400)
	anon.do("GET", "conversations/"+cv+"/events", nil).must(t, 401)
	c.do("GET", "conversations/nope/events", nil).must(t, 404)

	// postEvent
	c.post(cv, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusOpen}).must(t, 200)
	c.post(cv, conv.KindMessageSent, conv.Message{Text: "hi"}).must(t, 201)
	c.do("POST", "conversations/"+cv+"/events", `{"kind":`).must(t, 400)
	anon.post(cv, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 401)
	c.post(cv, conv.KindContactUpdated, conv.ContactUpdated{Contact: conv.Participant{ID: "contact:1", Role: conv.RoleContact}, Name: "N"}).must(t, 403)
	c.post("nope", conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 404)
	th := c.state(cv).Thread
	c.post(cv, conv.KindThreadStarted, conv.ThreadStarted{Thread: th.ID, Topic: "again"}).must(t, 409)
	c.post(cv, conv.KindNoteAdded, conv.Note{Text: strings.Repeat("x", conv.MaxTextBytes+1)}).must(t, 413)
	c.post(cv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: "asap"}).must(t, 422)

	// 429 on every route: a key with a budget of one request.
	slow := newAPIRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 0.001, 1 })
	s := slow.api(tokAPI)
	s.do("GET", "conversations", nil).must(t, 200)
	s.do("POST", "conversations", `{"contact":"1"}`).must(t, 429)
	s.do("GET", "conversations", nil).must(t, 429)
	s.do("GET", "conversations/"+cv, nil).must(t, 429)
	s.do("GET", "conversations/"+cv+"/events", nil).must(t, 429)
	s.post(cv, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 429)

	// 503: writes while the relay shuts down.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.do("POST", "conversations", `{"contact":"1"}`).must(t, 503)
	c.post(cv, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 503)

	coverage.Lock()
	defer coverage.Unlock()
	for p, ops := range docOps {
		for m, op := range ops {
			for st := range op.Responses {
				if !coverage.seen[op.OperationID+" "+st] {
					t.Errorf("%s %s (%s): documented status %s never happened", m, p, op.OperationID, st)
				}
			}
		}
	}
}
