package relay

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/threadline/threadline/backend/conv"
)

// Config is the relay's configuration file (DESIGN §8).
type Config struct {
	Workspaces []WorkspaceConfig `json:"workspaces"`

	warnings []string // what ParseConfig found odd but accepted
}

// WorkspaceConfig is one workspace the relay hosts.
type WorkspaceConfig struct {
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	IdentitySecret string              `json:"identitySecret"`
	Agents         []Member            `json:"agents"`
	Assistants     []Member            `json:"assistants"`
	Attributes     []conv.AttributeDef `json:"attributes"`
	// DefaultAssistant names (by config id) the assistant that answers the
	// conversations contacts and visitors start without naming one (the
	// standard widget's), until it hands off. Empty: none.
	DefaultAssistant string `json:"defaultAssistant,omitempty"`
	// APIKeys authenticate the HTTP API (DESIGN §9) as the team.
	APIKeys []APIKey `json:"apiKeys,omitempty"`
	// Webhooks receive the workspace's logged events (DESIGN §9).
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// AllowedOrigins, when not empty, are the only web origins
	// ("https://www.example.com") whose pages may say hello; a client that
	// sends no Origin (the desktop, the SDK) is not affected.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// Member is an agent or an assistant and the token it authenticates with:
// the token itself, or its SHA-256 in hex (TokenSHA256), so that the config
// need not hold it.
type Member struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Token       string `json:"token,omitempty"`
	TokenSHA256 string `json:"tokenSha256,omitempty"`
}

// APIKey is a bearer key of the HTTP API: its events' actor is
// {id: "api:<ID>", role: "agent"}. Token or TokenSHA256, as for members.
type APIKey struct {
	ID          string `json:"id"`
	Token       string `json:"token,omitempty"`
	TokenSHA256 string `json:"tokenSha256,omitempty"`
}

// Webhook is an endpoint that receives the workspace's logged events of the
// kinds it names, signed with its secret.
type Webhook struct {
	// ID names the endpoint in /metrics and in its durable cursor; empty:
	// derived from the URL.
	ID     string   `json:"id,omitempty"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
}

// EndpointID is w's ID, or one derived from its URL when the config gives
// none: the first 12 hex digits of the URL's SHA-256.
func (w Webhook) EndpointID() string {
	if w.ID != "" {
		return w.ID
	}
	h := sha256.Sum256([]byte(w.URL))
	return hex.EncodeToString(h[:6])
}

// tokenHash is the SHA-256 a presented token must hash to: of Token, or
// TokenSHA256 decoded. Validate has checked that exactly one is given.
func tokenHash(token, sha string) [32]byte {
	if token != "" {
		return sha256.Sum256([]byte(token))
	}
	var h [32]byte
	_, _ = hex.Decode(h[:], []byte(sha))
	return h
}

// LoadConfig reads a config file, resolves "$NAME" references from the
// environment and validates it.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("relay: read config: %w", err)
	}
	return ParseConfig(b, os.LookupEnv)
}

// ParseConfig decodes a config, resolves secrets from env (os.LookupEnv in
// production) and validates it. Unknown fields and short secrets are
// accepted, and reported by Warnings.
func ParseConfig(b []byte, env func(string) (string, bool)) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("relay: parse config: %s", describeJSONError(b, err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&Config{}); err != nil {
		c.warnings = append(c.warnings, "config: "+err.Error()+" (ignored)")
	}
	if err := c.resolve(env); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// describeJSONError says where in b a JSON error is, by line and column,
// so that an operator can find it.
func describeJSONError(b []byte, err error) string {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return err.Error()
	}
	line, col := 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// Warnings lists what is accepted but ill-advised: unknown fields, secrets
// and tokens shorter than MinSecretLen. They never quote a secret.
func (c *Config) Warnings() []string {
	ws := slices.Clone(c.warnings)
	for _, w := range c.Workspaces {
		if len(w.IdentitySecret) < MinSecretLen {
			ws = append(ws, fmt.Sprintf("workspace %s: identitySecret is shorter than %d characters", w.ID, MinSecretLen))
		}
		for _, m := range append(slices.Clone(w.Agents), w.Assistants...) {
			if m.Token != "" && len(m.Token) < MinSecretLen {
				ws = append(ws, fmt.Sprintf("workspace %s: the token of %s is shorter than %d characters", w.ID, m.ID, MinSecretLen))
			}
		}
	}
	return ws
}

// resolve replaces every secret written "$NAME" or "${NAME}" with the
// environment variable NAME, and applies THREADLINE_<WS>_IDENTITY_SECRET,
// THREADLINE_<WS>_AGENT_<ID>_TOKEN and THREADLINE_<WS>_ASSISTANT_<ID>_TOKEN
// overrides (names upper-cased, anything but letters and digits as "_").
func (c *Config) resolve(env func(string) (string, bool)) error {
	ref := func(where, v string) (string, error) {
		name, ok := envRef(v)
		if !ok {
			return v, nil
		}
		s, ok := env(name)
		if !ok || s == "" {
			return "", fmt.Errorf("relay: config: %s names environment variable %s, which is not set", where, name)
		}
		return s, nil
	}
	override := func(v *string, name string) {
		if s, ok := env(name); ok && s != "" {
			*v = s
		}
	}
	for i := range c.Workspaces {
		w := &c.Workspaces[i]
		ws := envPart(w.ID)
		override(&w.IdentitySecret, "THREADLINE_"+ws+"_IDENTITY_SECRET")
		var err error
		if w.IdentitySecret, err = ref("workspace "+w.ID+" identitySecret", w.IdentitySecret); err != nil {
			return err
		}
		for j := range w.Agents {
			a := &w.Agents[j]
			override(&a.Token, "THREADLINE_"+ws+"_AGENT_"+envPart(a.ID)+"_TOKEN")
			if a.Token, err = ref("agent "+a.ID+" token", a.Token); err != nil {
				return err
			}
		}
		for j := range w.Assistants {
			a := &w.Assistants[j]
			override(&a.Token, "THREADLINE_"+ws+"_ASSISTANT_"+envPart(a.ID)+"_TOKEN")
			if a.Token, err = ref("assistant "+a.ID+" token", a.Token); err != nil {
				return err
			}
		}
		for j := range w.APIKeys {
			k := &w.APIKeys[j]
			override(&k.Token, "THREADLINE_"+ws+"_APIKEY_"+envPart(k.ID)+"_TOKEN")
			if k.Token, err = ref("API key "+k.ID+" token", k.Token); err != nil {
				return err
			}
		}
		for j := range w.Webhooks {
			h := &w.Webhooks[j]
			if h.Secret, err = ref("webhook "+h.URL+" secret", h.Secret); err != nil {
				return err
			}
		}
	}
	return nil
}

func envRef(v string) (string, bool) {
	switch {
	case strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") && len(v) > 3:
		return v[2 : len(v)-1], true
	case strings.HasPrefix(v, "$") && len(v) > 1 && !strings.ContainsAny(v, "{}"):
		return v[1:], true
	}
	return "", false
}

func envPart(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// MinSecretLen is the shortest identity secret or token the relay accepts
// without a warning.
const MinSecretLen = 16

// Validate checks ids, tokens and attribute definitions.
func (c *Config) Validate() error {
	if len(c.Workspaces) == 0 {
		return errors.New("relay: config: no workspaces")
	}
	wsSeen := map[string]bool{}
	for _, w := range c.Workspaces {
		if err := validID("workspace id", w.ID); err != nil {
			return err
		}
		if wsSeen[w.ID] {
			return fmt.Errorf("relay: config: workspace %s appears twice", w.ID)
		}
		wsSeen[w.ID] = true
		if w.IdentitySecret == "" {
			return fmt.Errorf("relay: config: workspace %s has no identitySecret", w.ID)
		}
		ids := map[string]bool{}
		tokens := map[string]bool{}
		for _, group := range []struct {
			kind    string
			members []Member
		}{{"agent", w.Agents}, {"assistant", w.Assistants}} {
			for _, m := range group.members {
				if err := validID(group.kind+" id", m.ID); err != nil {
					return fmt.Errorf("workspace %s: %w", w.ID, err)
				}
				key := group.kind + ":" + m.ID
				if ids[key] {
					return fmt.Errorf("relay: config: workspace %s: %s %s appears twice", w.ID, group.kind, m.ID)
				}
				ids[key] = true
				if err := checkToken(m.Token, m.TokenSHA256, tokens); err != nil {
					return fmt.Errorf("relay: config: workspace %s: %s %s: %w", w.ID, group.kind, m.ID, err)
				}
			}
		}
		for _, k := range w.APIKeys {
			if err := validID("API key id", k.ID); err != nil {
				return fmt.Errorf("workspace %s: %w", w.ID, err)
			}
			if ids["api:"+k.ID] {
				return fmt.Errorf("relay: config: workspace %s: API key %s appears twice", w.ID, k.ID)
			}
			ids["api:"+k.ID] = true
			if err := checkToken(k.Token, k.TokenSHA256, tokens); err != nil {
				return fmt.Errorf("relay: config: workspace %s: API key %s: %w", w.ID, k.ID, err)
			}
		}
		endpoints := map[string]bool{}
		for _, h := range w.Webhooks {
			if err := checkWebhook(h); err != nil {
				return fmt.Errorf("relay: config: workspace %s: webhook %s: %w", w.ID, h.URL, err)
			}
			id := h.EndpointID()
			if err := validID("webhook id", id); err != nil || endpoints[id] {
				return fmt.Errorf("relay: config: workspace %s: webhook id %q is not valid or repeated", w.ID, id)
			}
			endpoints[id] = true
		}
		for _, o := range w.AllowedOrigins {
			if _, err := canonicalOrigin(o); err != nil {
				return fmt.Errorf("relay: config: workspace %s: allowedOrigins: %w", w.ID, err)
			}
		}
		if w.DefaultAssistant != "" && !ids["assistant:"+w.DefaultAssistant] {
			return fmt.Errorf("relay: config: workspace %s: defaultAssistant %q is not one of its assistants", w.ID, w.DefaultAssistant)
		}
		keys := map[string]bool{}
		for _, a := range w.Attributes {
			if a.Key == "" || len(a.Key) > conv.MaxIDChars || keys[a.Key] {
				return fmt.Errorf("relay: config: workspace %s: attribute key %q is empty, too long or repeated", w.ID, a.Key)
			}
			keys[a.Key] = true
			switch a.Type {
			case conv.AttrString, conv.AttrNumber, conv.AttrBool:
				if len(a.Values) > 0 {
					return fmt.Errorf("relay: config: workspace %s: attribute %s: values are for enums", w.ID, a.Key)
				}
			case conv.AttrEnum:
				if len(a.Values) == 0 {
					return fmt.Errorf("relay: config: workspace %s: enum attribute %s has no values", w.ID, a.Key)
				}
			default:
				return fmt.Errorf("relay: config: workspace %s: attribute %s: unknown type %q", w.ID, a.Key, a.Type)
			}
		}
	}
	return nil
}

// checkToken checks that exactly one of token and sha (64 hex digits) is
// given, and that no two credentials of a workspace are the same (seen
// holds their hashes so far).
func checkToken(token, sha string, seen map[string]bool) error {
	switch {
	case token == "" && sha == "":
		return errors.New("has no token (give token or tokenSha256)")
	case token != "" && sha != "":
		return errors.New("gives both token and tokenSha256")
	case sha != "":
		if b, err := hex.DecodeString(sha); err != nil || len(b) != sha256.Size {
			return errors.New("tokenSha256 must be 64 hex digits (the SHA-256 of the token)")
		}
	}
	h := tokenHash(token, strings.ToLower(sha))
	k := hex.EncodeToString(h[:])
	if seen[k] {
		return errors.New("its token is another member's or key's: no two may share a token")
	}
	seen[k] = true
	return nil
}

// checkWebhook checks an endpoint: an http(s) URL with a host, a secret,
// and known event kinds.
func checkWebhook(h Webhook) error {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url must be an http:// or https:// URL")
	}
	if h.Secret == "" {
		return errors.New("has no secret")
	}
	if len(h.Events) == 0 {
		return errors.New("names no event kinds")
	}
	for _, k := range h.Events {
		if !conv.Known(conv.Kind(k)) {
			return fmt.Errorf("unknown event kind %q", k)
		}
	}
	return nil
}

// canonicalOrigin returns o as browsers send it in an Origin header:
// scheme://host[:port], lower case, without a path or a default port.
func canonicalOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
	}
	host := strings.ToLower(u.Host)
	if u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

func validID(what, id string) error {
	if id == "" || len(id) > conv.MaxIDChars-len("assistant:") || strings.ContainsAny(id, ":\x00") {
		return fmt.Errorf("relay: config: %s %q must be 1–%d characters without ':'", what, id, conv.MaxIDChars-len("assistant:"))
	}
	return nil
}

// DemoConfig returns a single workspace "demo" with an agent, an assistant,
// the sample attributes of DESIGN §8 and fresh random tokens and secret.
func DemoConfig() *Config {
	return &Config{Workspaces: []WorkspaceConfig{{
		ID:             "demo",
		Name:           "Demo workspace",
		IdentitySecret: randomSecret(),
		Agents:         []Member{{ID: "demo", Name: "Demo Agent", Token: randomSecret()}},
		Assistants:     []Member{{ID: "bot", Name: "Demo Bot", Token: randomSecret()}},
		Attributes: []conv.AttributeDef{
			{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}},
			{Key: "seats", Type: conv.AttrNumber},
			{Key: "vip", Type: conv.AttrBool},
			{Key: "company", Type: conv.AttrString},
		},
	}}}
}

func randomSecret() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}
