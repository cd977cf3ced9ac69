package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

// API keys of the test relays: backend and crm in acme, one in globex.
const (
	tokAPI    = "api-key-backend-0123456789abcdef"
	tokCRM    = "api-key-crm-0123456789abcdef"
	tokGlobex = "api-key-globex-0123456789abcdef"
	globexWS  = "globex"
)

// apiConfig adds the API keys, and a second workspace, to testConfig's.
func apiConfig(c *Config) {
	c.Workspaces[0].APIKeys = []APIKey{{ID: "backend", Token: tokAPI}, {ID: "crm", Token: tokCRM}}
	c.Workspaces = append(c.Workspaces, WorkspaceConfig{
		ID:             globexWS,
		Name:           "Globex",
		IdentitySecret: "globex-identity-secret-0123456789",
		Agents:         []Member{{ID: "gus", Name: "Gus", Token: "token-gus-0123456789abcdef"}},
		APIKeys:        []APIKey{{ID: "backend", Token: tokGlobex}},
	})
}

// newAPIRelay is a test relay with apiConfig.
func newAPIRelay(t testing.TB, opts ...func(*Options)) *testRelay {
	t.Helper()
	r := &testRelay{t: t, dir: t.TempDir(), conf: apiConfig}
	for _, o := range opts {
		o(&r.opts)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// apiClient makes real HTTP requests to a relay's API with a key, and
// checks every answer against the OpenAPI document (see
// api_openapi_test.go): its status is documented for the route, its body
// valid against that status's schema.
type apiClient struct {
	t    testing.TB
	base string // the relay's http URL
	key  string
	ws   string
}

func (r *testRelay) api(key string) *apiClient {
	return &apiClient{t: r.t, base: r.hs.URL, key: key, ws: testWS}
}

// apiAnswer is one response.
type apiAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode decodes the body into a T.
func decodeAnswer[T any](t testing.TB, a apiAnswer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", trunc(a.Body), err)
	}
	return v
}

// errCode returns an error answer's code ("" for none).
func (a apiAnswer) errCode() string {
	var e apiErrorBody
	_ = json.Unmarshal(a.Body, &e)
	return e.Error.Code
}

// do sends method path (relative to /v1/api/workspaces/<ws>, unless it
// starts with /) with body (a string is sent as it is; anything else as
// JSON; nil: none) and headers (name, value pairs).
func (c *apiClient) do(method, path string, body any, headers ...string) apiAnswer {
	c.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = "/v1/api/workspaces/" + c.ws + "/" + path
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	a := apiAnswer{Status: res.StatusCode, Header: res.Header, Body: b}
	checkAgainstDocument(c.t, method, req.URL.Path, a)
	return a
}

// must fails unless the answer has status.
func (a apiAnswer) must(t testing.TB, status int) apiAnswer {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d %s; want %d", a.Status, trunc(a.Body), status)
	}
	return a
}

// mustErr fails unless the answer is status with error code.
func (a apiAnswer) mustErr(t testing.TB, status int, code string) apiAnswer {
	t.Helper()
	if a.Status != status || a.errCode() != code {
		t.Fatalf("got %d %s; want %d %s", a.Status, trunc(a.Body), status, code)
	}
	return a
}

// create makes a conversation for contact with a message and returns it.
func (c *apiClient) create(contact, message string) createdResponse {
	c.t.Helper()
	body := map[string]any{"contact": contact}
	if message != "" {
		body["message"] = message
	}
	return decodeAnswer[createdResponse](c.t, c.do("POST", "conversations", body).must(c.t, 201))
}

// post logs an event and returns its answer.
func (c *apiClient) post(convID string, kind conv.Kind, data any, extra ...string) apiAnswer {
	c.t.Helper()
	body := map[string]any{"kind": kind, "data": data}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	return c.do("POST", "conversations/"+convID+"/events", body)
}

// events reads a conversation's whole timeline through the API.
func (c *apiClient) events(convID string) []conv.Event {
	c.t.Helper()
	var all []conv.Event
	after := uint64(0)
	for {
		p := decodeAnswer[struct {
			Events []conv.Event
			Next   *uint64
		}](c.t, c.do("GET", fmt.Sprintf("conversations/%s/events?after=%d&limit=3", convID, after), nil).must(c.t, 200))
		all = append(all, p.Events...)
		if p.Next == nil {
			return all
		}
		after = *p.Next
	}
}

// state reads a conversation's state through the API.
func (c *apiClient) state(convID string) conv.Conversation {
	c.t.Helper()
	return decodeAnswer[conv.Conversation](c.t, c.do("GET", "conversations/"+convID, nil).must(c.t, 200))
}

// coverage records which documented (operation, status) pairs the tests'
// answers showed.
var coverage = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

func covered(op string, status int) {
	coverage.Lock()
	coverage.seen[fmt.Sprintf("%s %d", op, status)] = true
	coverage.Unlock()
}
