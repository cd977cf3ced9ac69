package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/threadline/threadline/backend/conv"
)

// File tokens (DESIGN §10) are bearers the relay signs and any relay
// sharing the log checks, with no state of its own:
//
//	"tf1." base64url(claims JSON) "." base64url(HMAC-SHA256(key, "tf1." base64url(claims JSON)))
//
// where key = HMAC-SHA256(the workspace's identitySecret, "threadline file
// tokens v1"). The identity secret is already what every relay serving a
// workspace must share (contact hashes are checked with it), so a token one
// relay signs verifies on all of them, and nothing needs to be kept in the
// data folder or the log; the label keeps the two uses apart (a file token
// is no contact hash, nor the other way round). Changing the identity
// secret (a reload) invalidates the tokens signed with the old one:
// sessions get new ones when they reconnect.
//
// A session token names the session's identity and expires fileSessionLife
// plus an hour after the welcome that carried it, and the relay closes a
// session (4000: reconnect and resume) once it is fileSessionLife old; so
// the token works while its session lasts and an hour after, without the
// relay having to remember sessions. An agent's or assistant's token also
// stops working as soon as a reload removes it from the workspace; an API
// key's as soon as the key is removed. A link token (Server.FileLink) fetches
// one file, as the team, until it expires.
type fileClaims struct {
	WS   string    `json:"w"`
	ID   string    `json:"i,omitempty"` // session tokens: the identity…
	Role conv.Role `json:"r,omitempty"` // …and its role
	File string    `json:"f,omitempty"` // link tokens: the one file
	Exp  int64     `json:"e"`           // Unix seconds
}

const fileTokenPrefix = "tf1."

var errBadFileToken = errors.New("not a valid file token")

func fileTokenKey(st *settings) []byte {
	m := hmac.New(sha256.New, st.secret)
	m.Write([]byte("threadline file tokens v1"))
	return m.Sum(nil)
}

// signFileToken makes the token of c with st's key.
func signFileToken(st *settings, c fileClaims) string {
	b, _ := json.Marshal(c)
	body := fileTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, fileTokenKey(st))
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// isFileToken reports whether tok has a file token's shape (it may still be
// forged or expired).
func isFileToken(tok string) bool { return strings.HasPrefix(tok, fileTokenPrefix) }

// verifyFileToken checks tok's signature with w's key and its expiry, and
// returns its claims.
func verifyFileToken(w *workspace, tok string, now time.Time) (fileClaims, error) {
	var c fileClaims
	body, sig, ok := strings.Cut(tok, ".")
	if !ok || !isFileToken(tok) {
		return c, errBadFileToken
	}
	// body is "tf1" and the payload: Cut stopped at the prefix's dot.
	payload, sig, ok := strings.Cut(sig, ".")
	if !ok || body+"." != fileTokenPrefix {
		return c, errBadFileToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return c, errBadFileToken
	}
	m := hmac.New(sha256.New, fileTokenKey(w.settings()))
	m.Write([]byte(fileTokenPrefix + payload))
	if !hmac.Equal(got, m.Sum(nil)) {
		return c, errBadFileToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.WS != w.id || (c.ID == "") == (c.File == "") {
		return c, errBadFileToken
	}
	if now.Unix() >= c.Exp {
		return c, errors.New("the file token has expired")
	}
	return c, nil
}
