package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// storedFiles lists the files the store holds for the test workspace
// (bytes only: no refs, no uploads in progress).
func storedFiles(t testing.TB, r *testRelay) []string {
	t.Helper()
	ps, err := filepath.Glob(filepath.Join(r.blobs().dir, testWS, "??", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(ps, func(p string) bool { return strings.HasSuffix(p, ".refs") })
}

// A PUT stores the bytes under their sha256 (201) and answers a second
// PUT of the same bytes, by anyone, 200 without storing them again.
func TestFileUploadAndDedupe(t *testing.T) {
	r := newFileRelay(t)
	_, tok := fileSession(t, r, agentAuth(tokAna))
	a := r.upload(t, tok, pngFile)
	if a.status != http.StatusCreated {
		t.Fatalf("first PUT = %d %s; want 201", a.status, a.body)
	}
	want := Blob{ID: shaHex(pngFile), SHA256: shaHex(pngFile), Size: int64(len(pngFile)), Type: "image/png"}
	if got := a.blob(t); got != want {
		t.Fatalf("PUT = %+v; want %+v", got, want)
	}
	if again := r.upload(t, tok, pngFile); again.status != http.StatusOK || again.blob(t) != want {
		t.Fatalf("second PUT = %d %s; want 200 %+v", again.status, again.body, want)
	}
	_, ctok := fileSession(t, r, contactAuth("42"))
	if other := r.upload(t, ctok, pngFile); other.status != http.StatusOK {
		t.Fatalf("the contact's PUT of the same bytes = %d %s; want 200", other.status, other.body)
	}
	if other := r.upload(t, tokAPI, pngFile); other.status != http.StatusOK {
		t.Fatalf("the API key's PUT of the same bytes = %d %s; want 200", other.status, other.body)
	}
	if fs := storedFiles(t, r); len(fs) != 1 {
		t.Fatalf("stored files = %v; want the one", fs)
	}
	refs, err := r.blobs().Refs(testWS, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ups []string
	for _, ref := range refs {
		ups = append(ups, ref.Uploader)
	}
	if w := []string{"agent:ana", "contact:42", "api:backend"}; !slices.Equal(ups, w) {
		t.Fatalf("uploaders = %v; want %v, once each", ups, w)
	}
}

// Bytes that do not hash to the URL's sha256 are invalid (400), and nothing
// is stored; so is a URL that names no sha256.
func TestFileHashMismatch(t *testing.T) {
	r := newFileRelay(t)
	wrong := shaHex(textFile)
	a := fileDo(t, http.MethodPut, r.fileURL(testWS, wrong), tokAPI, bytes.NewReader(pngFile))
	if a.status != http.StatusBadRequest || a.code() != "invalid" {
		t.Fatalf("PUT of other bytes = %d %s; want 400 invalid", a.status, a.body)
	}
	if r.blobs().Has(testWS, wrong) || r.blobs().Has(testWS, shaHex(pngFile)) || len(storedFiles(t, r)) != 0 {
		t.Fatalf("a refused PUT stored something: %v", storedFiles(t, r))
	}
	// Stored already: the bytes must still be the file's.
	r.mustUpload(t, tokAPI, textFile)
	if a := fileDo(t, http.MethodPut, r.fileURL(testWS, wrong), tokAPI, strings.NewReader("not it")); a.status != http.StatusBadRequest || a.code() != "invalid" {
		t.Fatalf("PUT of other bytes at a stored sha256 = %d %s; want 400 invalid", a.status, a.body)
	}
	for _, id := range []string{strings.ToUpper(wrong), wrong[:63], "..%2F..%2Fetc", "x"} {
		if a := fileDo(t, http.MethodPut, r.fileURL(testWS, id), tokAPI, bytes.NewReader(pngFile)); a.status != http.StatusBadRequest || a.code() != "invalid" {
			t.Errorf("PUT at %q = %d %s; want 400 invalid", id, a.status, a.body)
		}
	}
	if fs := storedFiles(t, r); len(fs) != 1 {
		t.Fatalf("stored files = %v; want the text file only", fs)
	}
}

// A file over 25 MiB is too_large (413), whether its Content-Length says
// so or it streams without one; 25 MiB exactly is stored.
func TestFileTooLarge(t *testing.T) {
	r := newFileRelay(t)
	big := bytes.Repeat([]byte("twenty-six mebibytes of log\n"), 26<<20/28+1)
	url := r.fileURL(testWS, shaHex(big))
	if a := fileDo(t, http.MethodPut, url, tokAPI, bytes.NewReader(big)); a.status != http.StatusRequestEntityTooLarge || a.code() != "too_large" {
		t.Fatalf("PUT of %d bytes = %d %s; want 413 too_large", len(big), a.status, a.body)
	}
	chunked := struct{ io.Reader }{bytes.NewReader(big)} // no Len: sent without Content-Length
	if a := fileDo(t, http.MethodPut, url, tokAPI, chunked); a.status != http.StatusRequestEntityTooLarge || a.code() != "too_large" {
		t.Fatalf("chunked PUT of %d bytes = %d %s; want 413 too_large", len(big), a.status, a.body)
	}
	if fs := storedFiles(t, r); len(fs) != 0 {
		t.Fatalf("stored %v", fs)
	}
	exact := big[:conv.MaxFileBytes]
	if a := r.upload(t, tokAPI, exact); a.status != http.StatusCreated || a.blob(t).Size != conv.MaxFileBytes {
		t.Fatalf("PUT of exactly 25 MiB = %d %s; want 201", a.status, a.body)
	}
}

// Programs are refused (415 unsupported_type); archives and documents are not.
func TestFileUnsupportedType(t *testing.T) {
	r := newFileRelay(t)
	for name, data := range map[string][]byte{"ELF": elfFile, "PE": exeFile, "script": shFile, "wasm": []byte("\x00asm\x01\x00\x00\x00")} {
		a := r.upload(t, tokAPI, data)
		if a.status != http.StatusUnsupportedMediaType || a.code() != "unsupported_type" {
			t.Errorf("PUT of %s = %d %s; want 415 unsupported_type", name, a.status, a.body)
		}
	}
	if fs := storedFiles(t, r); len(fs) != 0 {
		t.Fatalf("stored %v", fs)
	}
	for name, data := range map[string][]byte{"zip": zipFile, "pdf": pdfFile, "html": htmlFile, "svg": svgFile} {
		if a := r.upload(t, tokAPI, data); a.status != http.StatusCreated {
			t.Errorf("PUT of %s = %d %s; want 201", name, a.status, a.body)
		}
	}
}

// Downloads carry the relay's sniffed type, nosniff, caching by id, and
// are attachments (downloads) unless they are images, PDF or plain text:
// HTML, SVG and XML never run on the relay's origin. The event's
// attachments carry the same type and the stored size, whatever the
// device said.
func TestFileDownloadHeaders(t *testing.T) {
	r := newFileRelay(t)
	s, tok := fileSession(t, r, agentAuth(tokAna))
	cases := []struct {
		name, typ, disposition string
		data                   []byte
	}{
		{"shot.png", "image/png", "inline", pngFile},
		{"invoice.pdf", "application/pdf", "inline", pdfFile},
		{"app.log", "text/plain; charset=utf-8", "inline", textFile},
		{"page.html", "text/html; charset=utf-8", "attachment", htmlFile},
		{"logo.svg", "image/svg+xml", "attachment", svgFile},
		{"order.xml", "text/xml; charset=utf-8", "attachment", xmlFile},
		{"logs.zip", "application/zip", "attachment", zipFile},
	}
	var atts []conv.Attachment
	for _, c := range cases {
		r.mustUpload(t, tok, c.data)
		atts = append(atts, attachment(c.data, c.name))
	}
	cid := convFor(t, s, "contact:42")
	res, got := s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "files", Attachments: atts}))
	if res[0].Error != nil {
		t.Fatalf("message with files: %+v", res[0].Error)
	}
	var logged conv.Message
	for _, e := range got {
		if e.Kind == conv.KindMessageSent {
			json.Unmarshal(e.Data, &logged)
		}
	}
	for i, c := range cases {
		if a := logged.Attachments[i]; a.Type != c.typ || a.Size != int64(len(c.data)) || a.Name != c.name {
			t.Errorf("logged attachment %d = %+v; want type %q, size %d", i, a, c.typ, len(c.data))
		}
		a := r.download(t, tok, shaHex(c.data))
		h := a.h
		if a.status != http.StatusOK || !bytes.Equal(a.body, c.data) {
			t.Errorf("GET %s = %d, %d bytes; want 200 and its bytes", c.name, a.status, len(a.body))
			continue
		}
		cd := fmt.Sprintf("%s; filename=%s", c.disposition, c.name)
		for k, want := range map[string]string{
			"Content-Type":           c.typ,
			"X-Content-Type-Options": "nosniff",
			"Content-Disposition":    cd,
			"ETag":                   `"` + shaHex(c.data) + `"`,
			"Cache-Control":          "private, max-age=31536000, immutable",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s = %q; want %q", c.name, k, got, want)
			}
		}
		if csp := h.Get("Content-Security-Policy"); (c.typ != "application/pdf") != strings.Contains(csp, "sandbox") {
			t.Errorf("GET %s: Content-Security-Policy = %q", c.name, csp)
		}
	}
	// A name beyond ASCII is encoded (RFC 2231), not written raw.
	other := []byte("café notes\n")
	r.mustUpload(t, tok, other)
	s.mustLog(s.ev(conv.KindNoteAdded, cid, conv.Note{Attachments: []conv.Attachment{attachment(other, "résumé \"v2\".txt")}}))
	if cd := r.download(t, tok, shaHex(other)).h.Get("Content-Disposition"); cd != `inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%22v2%22.txt` {
		t.Errorf("Content-Disposition of a UTF-8 name = %q", cd)
	}
}

// Downloads serve ranges, and revalidate by ETag.
func TestFileRange(t *testing.T) {
	r := newFileRelay(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB of text
	id := r.mustUpload(t, tokAPI, data).ID
	a := r.download(t, tokAPI, id, "Range: bytes=1000-1999")
	if a.status != http.StatusPartialContent || !bytes.Equal(a.body, data[1000:2000]) {
		t.Fatalf("GET bytes=1000-1999 = %d, %d bytes; want 206 and those bytes", a.status, len(a.body))
	}
	if cr := a.h.Get("Content-Range"); cr != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
		t.Fatalf("Content-Range = %q", cr)
	}
	if a := r.download(t, tokAPI, id, "Range: bytes=-16"); a.status != http.StatusPartialContent || string(a.body) != "0123456789abcdef" {
		t.Fatalf("GET the last 16 bytes = %d %q", a.status, a.body)
	}
	if a := r.download(t, tokAPI, id, "Range: bytes=999999-"); a.status != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("GET past the end = %d; want 416", a.status)
	}
	if a := r.download(t, tokAPI, id, `If-None-Match: "`+id+`"`); a.status != http.StatusNotModified {
		t.Fatalf("GET If-None-Match its ETag = %d; want 304", a.status)
	}
	if a := r.download(t, tokAPI, id, "Range: bytes=0-9", `If-Range: "`+id+`"`); a.status != http.StatusPartialContent || len(a.body) != 10 {
		t.Fatalf("GET If-Range its ETag = %d, %d bytes; want 206, 10", a.status, len(a.body))
	}
}

// A fileToken is its session's identity: it works until its expiry
// (fileSessionLife and an hour after the welcome), on every relay with the
// workspace's identity secret, and nowhere else; a forged, expired, other
// workspace's token is unauthorized; an agent removed from the config loses
// it at once; a session is closed (4000, reconnect) when it has lived
// fileSessionLife, so its token outlives it by an hour.
func TestFileTokenExpiryAndIdentity(t *testing.T) {
	clock := newTestClock()
	r := newFileRelay(t, func(o *Options) { o.files.now = clock.now; o.PingInterval = 20 * time.Millisecond })
	_, tok := fileSession(t, r, agentAuth(tokAna))
	c, err := verifyFileToken(r.srv.workspace(testWS), tok, clock.now())
	if err != nil || c.ID != "agent:ana" || c.Role != conv.RoleAgent || c.Exp != clock.now().Add(fileSessionLife+fileTokenGrace).Unix() {
		t.Fatalf("token claims = %+v, %v", c, err)
	}
	if a := r.upload(t, tok, textFile); a.status != http.StatusCreated {
		t.Fatalf("PUT = %d %s", a.status, a.body)
	}

	unauthorized := func(what, url, bearer string) {
		t.Helper()
		a := fileDo(t, http.MethodPut, url, bearer, bytes.NewReader(pngFile))
		if a.status != http.StatusUnauthorized || a.code() != "unauthorized" {
			t.Errorf("PUT with %s = %d %s; want 401 unauthorized", what, a.status, a.body)
		}
	}
	url := r.fileURL(testWS, shaHex(pngFile))
	unauthorized("no token", url, "")
	unauthorized("an agent's sync token", url, tokAna)
	payload, sig, _ := strings.Cut(strings.TrimPrefix(tok, fileTokenPrefix), ".")
	forged := signFileToken(newSettings(WorkspaceConfig{ID: testWS, IdentitySecret: "another-secret-0123456789abcdef"}), fileClaims{WS: testWS, ID: "agent:ana", Role: conv.RoleAgent, Exp: c.Exp})
	unauthorized("another key's token", url, forged)
	unauthorized("a cut token", url, fileTokenPrefix+payload)
	unauthorized("a token with another's signature", url, fileTokenPrefix+payload+"."+strings.Repeat("A", len(sig)))
	unauthorized("acme's token on globex", r.fileURL(globexWS, shaHex(pngFile)), tok)
	unauthorized("a token for a contact, signed with another secret", url, signFileToken(newSettings(WorkspaceConfig{ID: testWS, IdentitySecret: "x"}), fileClaims{WS: testWS, ID: "contact:42", Role: conv.RoleContact, Exp: c.Exp}))
	if a := fileDo(t, http.MethodGet, r.fileURL(testWS, shaHex(textFile))+"?token="+tokAPI, "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("an API key in ?token= = %d; want 401 (API keys go in the header)", a.status)
	}

	// Expiry: good until life + an hour after the welcome.
	clock.add(fileSessionLife + fileTokenGrace - time.Minute)
	if a := r.download(t, tok, shaHex(textFile)); a.status != http.StatusOK {
		t.Fatalf("GET a minute before expiry = %d %s", a.status, a.body)
	}
	clock.add(time.Minute)
	if a := r.download(t, tok, shaHex(textFile)); a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "expired") {
		t.Fatalf("GET at expiry = %d %s; want 401 expired", a.status, a.body)
	}

	// A removed agent's token stops at once.
	_, benTok := fileSession(t, r, agentAuth(tokBen))
	if a := r.download(t, benTok, shaHex(textFile)); a.status != http.StatusNotFound {
		t.Fatalf("GET by ben (no event names it, not his upload) = %d; want 404", a.status)
	}
	cfg := testConfig()
	apiConfig(cfg)
	cfg.Workspaces[0].Agents = cfg.Workspaces[0].Agents[:1] // ana only
	if err := r.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if a := r.download(t, benTok, shaHex(textFile)); a.status != http.StatusUnauthorized {
		t.Fatalf("GET by a removed agent = %d %s; want 401", a.status, a.body)
	}

	// A session lives fileSessionLife: then it is closed to reconnect, and
	// its token has an hour left.
	short := newFileRelay(t, func(o *Options) { o.files.life = time.Second; o.PingInterval = 20 * time.Millisecond })
	s, stok := fileSession(t, short, agentAuth(tokAna))
	if code := s.closed(); code != protocol.CloseReconnect {
		t.Fatalf("a session past its life closed with %d; want %d", code, protocol.CloseReconnect)
	}
	if a := short.upload(t, stok, textFile); a.status != http.StatusCreated {
		t.Fatalf("PUT with the token of a session just renewed = %d %s", a.status, a.body)
	}
}

// A note's file never reaches a contact: the note is not delivered, and
// the file is not found for the contact, with a header or ?token=, while
// the team and the API key fetch it.
func TestFileOfANoteRefusedToTheContact(t *testing.T) {
	r := newFileRelay(t)
	agent, tok := fileSession(t, r, agentAuth(tokAna))
	cid := convFor(t, agent, "contact:42")
	agent.mustLog(agent.ev(conv.KindMessageSent, cid, msg("Hello Dana")))
	contact, ctok := fileSession(t, r, contactAuth("42"))
	id := r.mustUpload(t, tok, pdfFile).ID
	note := agent.ev(conv.KindNoteAdded, cid, conv.Note{Text: "her contract", Attachments: []conv.Attachment{attachment(pdfFile, "contract.pdf")}})
	agent.mustLog(note)
	after := agent.ev(conv.KindMessageSent, cid, msg("We are on it"))
	agent.mustLog(after)
	for {
		evs := contact.events(1)
		if evs[len(evs)-1].ID == after.ID {
			break
		}
	}
	for _, e := range contact.received() {
		if e.Kind == conv.KindNoteAdded || strings.Contains(string(e.Data), id) {
			t.Fatalf("the contact received %s %s", e.Kind, e.Data)
		}
	}
	if a := r.download(t, ctok, id); a.status != http.StatusNotFound || a.code() != "not_found" || len(a.body) > 200 {
		t.Fatalf("the contact's GET of the note's file = %d %s; want 404 not_found", a.status, a.body)
	}
	if a := fileDo(t, http.MethodGet, r.fileURL(testWS, id)+"?token="+ctok, "", nil); a.status != http.StatusNotFound {
		t.Fatalf("the contact's GET ?token= = %d; want 404", a.status)
	}
	_, benTok := fileSession(t, r, agentAuth(tokBen))
	for who, bearer := range map[string]string{"ana": tok, "ben": benTok, "the API key": tokAPI} {
		if a := r.download(t, bearer, id); a.status != http.StatusOK || !bytes.Equal(a.body, pdfFile) {
			t.Errorf("GET by %s = %d; want 200 and the file", who, a.status)
		}
	}
	// The contact cannot make it visible by naming it in its own message.
	res, _ := contact.push(contact.ev(conv.KindMessageSent, cid, conv.Message{Text: "mine?", Attachments: []conv.Attachment{attachment(pdfFile, "x.pdf")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Fatalf("the contact naming the note's file: %+v; want invalid", res[0])
	}
	if a := r.download(t, ctok, id); a.status != http.StatusNotFound {
		t.Fatalf("after its attempt, the contact's GET = %d; want 404", a.status)
	}
	// Sent to the contact in a message, the same file is the contact's too.
	agent.mustLog(agent.ev(conv.KindMessageSent, cid, conv.Message{Text: "your contract", Attachments: []conv.Attachment{attachment(pdfFile, "contract.pdf")}}))
	if a := r.download(t, ctok, id); a.status != http.StatusOK {
		t.Fatalf("the contact's GET once a message carries it = %d %s; want 200", a.status, a.body)
	}
}

// Another contact's file is not found, even by its exact URL, and cannot be
// claimed by naming it; its own contact, the team and the API key fetch it.
func TestFileOfAnotherContact(t *testing.T) {
	r := newFileRelay(t)
	dana, dtok := fileSession(t, r, contactAuth("42"))
	cid := newConvID()
	dana.mustLog(dana.ev(conv.KindConversationCreated, cid, created("")))
	id := r.mustUpload(t, dtok, pngFile).ID
	dana.mustLog(dana.ev(conv.KindMessageSent, cid, conv.Message{Text: "the error", Attachments: []conv.Attachment{attachment(pngFile, "error.png")}}))

	eve, etok := fileSession(t, r, contactAuth("7"))
	if a := r.download(t, etok, id); a.status != http.StatusNotFound {
		t.Fatalf("another contact's GET = %d %s; want 404", a.status, a.body)
	}
	ecid := newConvID()
	eve.mustLog(eve.ev(conv.KindConversationCreated, ecid, created("")))
	res, _ := eve.push(eve.ev(conv.KindMessageSent, ecid, conv.Message{Attachments: []conv.Attachment{attachment(pngFile, "mine.png")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid || !strings.Contains(res[0].Error.Message, "not uploaded") {
		t.Fatalf("another contact naming the file: %+v; want invalid, not uploaded", res[0])
	}
	if a := r.download(t, etok, id); a.status != http.StatusNotFound {
		t.Fatalf("another contact's GET after naming it = %d; want 404", a.status)
	}
	// Nor does a visitor's session see it.
	_, vtok := fileSession(t, r, protocol.Auth{Kind: protocol.AuthVisitor})
	if a := r.download(t, vtok, id); a.status != http.StatusNotFound {
		t.Fatalf("a visitor's GET = %d; want 404", a.status)
	}
	_, atok := fileSession(t, r, agentAuth(tokBen))
	for who, bearer := range map[string]string{"dana": dtok, "ben": atok, "the API key": tokAPI} {
		if a := r.download(t, bearer, id); a.status != http.StatusOK || a.h.Get("Content-Disposition") != "inline; filename=error.png" {
			t.Errorf("GET by %s = %d %v; want 200, inline error.png", who, a.status, a.h)
		}
	}
	// An uploader may fetch what it uploaded: it holds the bytes.
	r.mustUpload(t, etok, pngFile) // eve holds the bytes: 200, and now hers to fetch
	if a := r.download(t, etok, id); a.status != http.StatusOK {
		t.Fatalf("GET by eve once she uploaded the bytes = %d; want 200", a.status)
	}
}

// An event naming a file that was not uploaded is invalid; the relay
// checks before the event is logged, and no event names a file that is
// not durable.
func TestFileEventNamingAMissingFile(t *testing.T) {
	r := newFileRelay(t)
	s, tok := fileSession(t, r, agentAuth(tokAna))
	cid := convFor(t, s, "contact:42")
	res, _ := s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "see", Attachments: []conv.Attachment{attachment(pngFile, "a.png")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Fatalf("a message naming a file not uploaded: %+v; want invalid", res[0])
	}
	res, _ = s.push(s.ev(conv.KindNoteAdded, cid, conv.Note{Attachments: []conv.Attachment{attachment(pngFile, "a.png")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Fatalf("a note naming a file not uploaded: %+v; want invalid", res[0])
	}
	r.mustUpload(t, tok, pngFile)
	s.mustLog(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "see", Attachments: []conv.Attachment{attachment(pngFile, "a.png")}}))
}

// The HTTP API posts messages and notes with files it uploaded with its
// key, as the team or as the contact; the contact fetches the message's,
// not the note's.
func TestFileFromTheAPI(t *testing.T) {
	r := newFileRelay(t)
	api := r.hs.URL + "/v1/api/workspaces/" + testWS
	a := fileDo(t, http.MethodPost, api+"/conversations", tokAPI, strings.NewReader(`{"contact": "42", "message": "Order 1234?"}`), "Content-Type: application/json")
	if a.status != http.StatusCreated {
		t.Fatalf("create = %d %s", a.status, a.body)
	}
	var cr struct{ ConversationID string }
	json.Unmarshal(a.body, &cr)
	post := func(body string) fileAnswer {
		return fileDo(t, http.MethodPost, api+"/conversations/"+cr.ConversationID+"/events", tokAPI, strings.NewReader(body), "Content-Type: application/json")
	}
	label := r.mustUpload(t, tokAPI, pdfFile)
	internal := r.mustUpload(t, tokAPI, textFile)
	photo := r.mustUpload(t, tokAPI, pngFile)
	att := func(b Blob, name string) string {
		return fmt.Sprintf(`{"id": %q, "sha256": %q, "name": %q, "size": 0, "type": ""}`, b.ID, b.ID, name)
	}
	if a := post(`{"kind": "message.sent", "data": {"text": "Your label", "attachments": [` + att(label, "label.pdf") + `]}}`); a.status != http.StatusCreated {
		t.Fatalf("API message with a file = %d %s", a.status, a.body)
	}
	if a := post(`{"kind": "note.added", "data": {"text": "carrier log", "attachments": [` + att(internal, "carrier.log") + `]}}`); a.status != http.StatusCreated {
		t.Fatalf("API note with a file = %d %s", a.status, a.body)
	}
	if a := post(`{"kind": "message.sent", "as": "contact", "data": {"text": "the box", "attachments": [` + att(photo, "box.png") + `]}}`); a.status != http.StatusCreated {
		t.Fatalf("API message as the contact with a file = %d %s", a.status, a.body)
	}
	missing := shaHex([]byte("never uploaded"))
	if a := post(`{"kind": "message.sent", "data": {"text": "x", "attachments": [{"id": "` + missing + `", "sha256": "` + missing + `", "name": "x", "size": 1, "type": "x"}]}}`); a.status != http.StatusUnprocessableEntity || a.code() != "invalid" {
		t.Fatalf("API message naming a missing file = %d %s; want 422 invalid", a.status, a.body)
	}
	_, ctok := fileSession(t, r, contactAuth("42"))
	for _, c := range []struct {
		b    Blob
		want int
	}{{label, 200}, {photo, 200}, {internal, 404}} {
		if a := r.download(t, ctok, c.b.ID); a.status != c.want {
			t.Errorf("the contact's GET of %s = %d; want %d", c.b.Type, a.status, c.want)
		}
	}
	// The events as the API reads them carry the relay's sizes and types.
	a = fileDo(t, http.MethodGet, api+"/conversations/"+cr.ConversationID+"/events", tokAPI, nil)
	if !strings.Contains(string(a.body), fmt.Sprintf(`"size":%d,"type":"application/pdf"`, len(pdfFile))) {
		t.Fatalf("events = %s; want the label's size and type", a.body)
	}
}

// A link from Server.FileLink fetches its one file without a header until
// it expires (webhooks can carry it); it uploads nothing.
func TestFileLink(t *testing.T) {
	clock := newTestClock()
	r := newFileRelay(t, func(o *Options) { o.files.now = clock.now })
	id := r.mustUpload(t, tokAPI, pngFile).ID
	other := r.mustUpload(t, tokAPI, textFile).ID
	link, err := r.srv.FileLink(testWS, id, 24*time.Hour)
	if err != nil || !strings.HasPrefix(link, "/v1/files/acme/"+id+"?token=") {
		t.Fatalf("FileLink = %q, %v", link, err)
	}
	if a := fileDo(t, http.MethodGet, r.hs.URL+link, "", nil); a.status != http.StatusOK || !bytes.Equal(a.body, pngFile) {
		t.Fatalf("GET link = %d", a.status)
	}
	_, q, _ := strings.Cut(link, "?")
	if a := fileDo(t, http.MethodGet, r.fileURL(testWS, other)+"?"+q, "", nil); a.status != http.StatusNotFound {
		t.Fatalf("the link's token on another file = %d; want 404", a.status)
	}
	if a := fileDo(t, http.MethodPut, r.hs.URL+link, "", bytes.NewReader(pngFile)); a.status != http.StatusUnauthorized {
		t.Fatalf("PUT with a link = %d; want 401", a.status)
	}
	clock.add(24 * time.Hour)
	if a := fileDo(t, http.MethodGet, r.hs.URL+link, "", nil); a.status != http.StatusUnauthorized {
		t.Fatalf("GET an expired link = %d; want 401", a.status)
	}
}

// The routes' other answers: unknown workspace, methods, CORS for the
// widget's origins, and a relay without a file store.
func TestFileRoutes(t *testing.T) {
	r := newFileRelay(t, func(o *Options) {})
	r.conf = func(c *Config) { apiConfig(c); c.Workspaces[0].AllowedOrigins = []string{"https://shop.example"} }
	r.restart()
	if a := fileDo(t, http.MethodPut, r.fileURL("nope", shaHex(pngFile)), tokAPI, bytes.NewReader(pngFile)); a.status != http.StatusNotFound || a.code() != "not_found" {
		t.Errorf("PUT to an unknown workspace = %d %s", a.status, a.body)
	}
	if a := fileDo(t, http.MethodDelete, r.fileURL(testWS, shaHex(pngFile)), tokAPI, nil); a.status != http.StatusMethodNotAllowed || a.h.Get("Allow") == "" {
		t.Errorf("DELETE = %d %v", a.status, a.h)
	}
	if a := fileDo(t, http.MethodGet, r.hs.URL+FilesPath+testWS, tokAPI, nil); a.status != http.StatusNotFound || a.code() != "not_found" {
		t.Errorf("GET of a folder = %d %s", a.status, a.body)
	}
	pre := fileDo(t, http.MethodOptions, r.fileURL(testWS, shaHex(pngFile)), "", nil, "Origin: https://shop.example", "Access-Control-Request-Method: PUT")
	if pre.status != http.StatusNoContent || pre.h.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.Contains(pre.h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from an allowed origin = %d %v", pre.status, pre.h)
	}
	if pre := fileDo(t, http.MethodOptions, r.fileURL(testWS, shaHex(pngFile)), "", nil, "Origin: https://evil.example"); pre.h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed: %v", pre.h)
	}
	if a := fileDo(t, http.MethodPut, r.fileURL(testWS, shaHex(pngFile)), tokAPI, bytes.NewReader(pngFile), "Origin: https://shop.example"); a.status != http.StatusCreated || a.h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("PUT from an allowed origin = %d %v", a.status, a.h)
	}

	bare := newAPIRelay(t)
	s := connect(t, bare.url, agentAuth(tokAna), protocol.Cursor{})
	if s.welcome.FileToken != "" {
		t.Errorf("a relay without files gave a fileToken")
	}
	if a := fileDo(t, http.MethodPut, bare.fileURL(testWS, shaHex(pngFile)), tokAPI, bytes.NewReader(pngFile)); a.status != http.StatusServiceUnavailable {
		t.Errorf("PUT to a relay without files = %d %s; want 503", a.status, a.body)
	}
	cid := convFor(t, s, "contact:42")
	res, _ := s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "x", Attachments: []conv.Attachment{attachment(pngFile, "a.png")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Errorf("a file on a relay without files: %+v; want invalid", res[0])
	}
}

// A file is durable before the event naming it is acknowledged: a PUT
// answers once the bytes, their folder and the uploader's ref are synced;
// an event naming a file still on its way is invalid; the event's ref is
// synced before its ack.
func TestFileDurableBeforeAck(t *testing.T) {
	r := newFileRelay(t)
	var mu sync.Mutex
	var synced []string
	r.blobs().synced = func(p string) {
		mu.Lock()
		synced = append(synced, strings.TrimPrefix(p, r.blobs().dir+string(os.PathSeparator)))
		mu.Unlock()
	}
	takeSynced := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := synced
		synced = nil
		return out
	}
	s, tok := fileSession(t, r, agentAuth(tokAna))
	cid := convFor(t, s, "contact:42")
	data := bytes.Repeat([]byte("a log line of the incident\n"), 40000) // about 1 MiB
	id := shaHex(data)

	// The upload stalls halfway: the event naming it is invalid meanwhile.
	pr, pw := io.Pipe()
	answer := make(chan fileAnswer, 1)
	go func() { answer <- fileDo(t, http.MethodPut, r.fileURL(testWS, id), tok, pr) }()
	pw.Write(data[:len(data)/2])
	if err := waitFor(10*time.Second, func() bool {
		fs, _ := filepath.Glob(filepath.Join(r.blobs().dir, testWS, "tmp", "*"))
		return len(fs) == 1
	}); err != nil {
		t.Fatal("the upload did not start")
	}
	res, _ := s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "log", Attachments: []conv.Attachment{attachment(data, "incident.log")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Fatalf("an event naming a file half uploaded: %+v; want invalid", res[0])
	}
	pw.Write(data[len(data)/2:])
	pw.Close()
	if a := <-answer; a.status != http.StatusCreated {
		t.Fatalf("PUT = %d %s", a.status, a.body)
	}
	got := takeSynced()
	dir := filepath.Join(testWS, id[:2])
	want := []func(string) bool{
		func(p string) bool { return strings.HasPrefix(p, filepath.Join(testWS, "tmp")+"/") }, // the bytes
		func(p string) bool { return p == dir },                                               // renamed into their folder
		func(p string) bool { return p == filepath.Join(dir, id+".refs") },                    // the uploader
	}
	for _, p := range got {
		if len(want) > 0 && want[0](p) {
			want = want[1:]
		}
	}
	if len(want) > 0 {
		t.Fatalf("synced before the PUT's answer: %q; want the bytes, their folder, the uploader's ref, in order", got)
	}
	res, _ = s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "log", Attachments: []conv.Attachment{attachment(data, "incident.log")}}))
	if res[0].Error != nil {
		t.Fatalf("the event once the file is stored: %+v", res[0].Error)
	}
	if got := takeSynced(); !slices.Equal(got, []string{filepath.Join(dir, id+".refs")}) {
		t.Fatalf("synced before the ack: %q; want the event's ref", got)
	}
	refs, _ := r.blobs().Refs(testWS, id)
	if len(refs) != 2 || refs[1].Seq != res[0].Seq || refs[1].Conv != cid {
		t.Fatalf("refs = %+v; want the uploader's, then the event's at seq %d", refs, res[0].Seq)
	}
}

// After a restart, files, refs and tokens are as they were.
func TestFileSurvivesRestart(t *testing.T) {
	r := newFileRelay(t)
	s, tok := fileSession(t, r, contactAuth("42"))
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("")))
	id := r.mustUpload(t, tok, pngFile).ID
	s.mustLog(s.ev(conv.KindMessageSent, cid, conv.Message{Attachments: []conv.Attachment{attachment(pngFile, "a.png")}}))
	s.c.Close(websocket.StatusNormalClosure, "")
	r.restart()
	if a := r.download(t, tok, id); a.status != http.StatusOK || !bytes.Equal(a.body, pngFile) {
		t.Fatalf("GET after a restart, with the token from before = %d", a.status)
	}
}
