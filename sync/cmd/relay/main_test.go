package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// The relay binary as an operator runs it on the internet: --tls-cert and
// --tls-key with a self-signed certificate for 127.0.0.1, a config with
// allowedOrigins and a hashed token, the demo page. Each kind of client
// connects over wss:// and trusts the certificate the way its user would.

const (
	tlsWorkspace = relaytest.Workspace
	tlsSecret    = relaytest.Secret
	tlsTokAna    = relaytest.TokAna
	tlsTokBen    = relaytest.TokBen
	chromiumPath = "/usr/bin/chromium"
)

// selfSigned makes a certificate for 127.0.0.1 and localhost that is its
// own CA, as an operator's `openssl req -x509` would, and writes it and its
// key as PEM files in dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "threadline relay test", Organization: []string{"Threadline tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// trusting is an http.Client that trusts cert (and nothing else).
func trusting(cert *x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relay")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/threadline/threadline/sync/cmd/relay")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build sync/cmd/relay: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port nobody listens on now. The config must
// name the relay's own origin before it starts, so the port is chosen
// first (startRelayBin retries if someone takes it meanwhile).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+) scheme=(\S+)`)

// startRelayBin runs bin with args and returns the address and scheme it
// says it listens on. Its stderr goes to the test log.
func startRelayBin(t *testing.T, bin string, args ...string) (addr, scheme string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	found := make(chan []string, 1)
	var lines []string
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		cmd.Wait()
	}()
	select {
	case m := <-found:
		return m[1], m[2], nil
	case <-exited:
		return "", "", fmt.Errorf("relay exited before listening:\n%s", strings.Join(lines, "\n"))
	case <-time.After(30 * time.Second):
		return "", "", fmt.Errorf("relay did not listen within 30 s")
	}
}

// tlsRelay is the relay binary serving https and wss on 127.0.0.1 with a
// fresh self-signed certificate: workspace acme (Ana by token, Ben by
// tokenSha256), allowedOrigins its own origin (the /demo page's) and a
// website's (r.site), and the demo page with contact hashes.
type tlsRelay struct {
	base              string // https://127.0.0.1:port
	cert              *x509.Certificate
	certFile, keyFile string
	client            *http.Client // trusts cert
	// site listens for a website of an allowed origin (not the relay's).
	site net.Listener
}

func startTLSRelay(t *testing.T) *tlsRelay {
	t.Helper()
	bin := buildRelay(t)
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir)
	benSum := sha256.Sum256([]byte(tlsTokBen))
	site, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	for try := 0; ; try++ {
		port := freePort(t)
		origin := fmt.Sprintf("https://127.0.0.1:%d", port)
		// relaytest's workspace, agents only, ben's token given by its hash.
		cfg := relayrun.Config(func(w *relay.WorkspaceConfig) {
			w.Agents[1] = relay.Member{ID: "ben", Name: "Ben", TokenSHA256: hex.EncodeToString(benSum[:])}
			w.Assistants, w.Attributes = nil, nil
			w.AllowedOrigins = []string{origin, "https://" + site.Addr().String()}
		})
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(dir, "relay.json")
		if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		addr, scheme, err := startRelayBin(t, bin,
			"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", filepath.Join(dir, fmt.Sprint("data", try)),
			"--config", cfgFile, "--tls-cert", certFile, "--tls-key", keyFile,
			"--demo-workspace", tlsWorkspace, "--demo-hash")
		if err != nil {
			if try < 3 && strings.Contains(err.Error(), "address already in use") {
				continue
			}
			t.Fatal(err)
		}
		if scheme != "https" {
			t.Fatalf("relay with --tls-cert listens as %s; want https", scheme)
		}
		return &tlsRelay{base: "https://" + addr, cert: cert, certFile: certFile, keyFile: keyFile, client: trusting(cert), site: site}
	}
}

func (r *tlsRelay) wss() string { return "wss" + strings.TrimPrefix(r.base, "https") }

// agent starts a Go SDK client (sync/client with a Memory store) over wss
// as the agent whose token is tok, with hc for the handshake.
func (r *tlsRelay) agent(t *testing.T, id, tok string, hc *http.Client) (*client.Client, *client.Memory) {
	t.Helper()
	mem := client.NewMemory(conv.Participant{ID: "agent:" + id, Role: conv.RoleAgent}, uuid.NewString())
	cl, err := client.New(client.Options{
		URL: r.wss(), Workspace: tlsWorkspace, Device: mem.Device(), Local: mem,
		Auth:       protocol.Auth{Kind: protocol.AuthAgent, Token: tok},
		HTTPClient: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	t.Cleanup(func() { cancel(); cl.Close(); <-done })
	return cl, mem
}

// waitStatus waits until cl's status satisfies ok.
func waitStatus(t *testing.T, what string, cl *client.Client, ok func(client.Status) bool) client.Status {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := cl.Watch()
		if s := cl.Status(); ok(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: status %+v", what, cl.Status())
		}
	}
}

// waitMessage waits until mem holds a message with text, and returns its
// conversation's id.
func waitMessage(t *testing.T, mem *client.Memory, text string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := mem.Changed()
		for _, c := range mem.Conversations() {
			for _, e := range mem.Timeline(c.ID) {
				var m conv.Message
				if e.Kind == conv.KindMessageSent && e.Seq > 0 && json.Unmarshal(e.Data, &m) == nil && m.Text == text {
					return c.ID
				}
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no logged message %q reached %s", text, mem.Me().ID)
		}
	}
}

func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	r := startTLSRelay(t)

	t.Run("https", func(t *testing.T) {
		res, err := r.client.Get(r.base + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz over https: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz = %d; want 200", res.StatusCode)
		}
		if res.TLS == nil {
			t.Error("GET /healthz was not served over TLS")
		}
		if _, err := http.Get(r.base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("GET /healthz with the system's roots = %v; want a certificate error (the test's CA is trusted nowhere else)", err)
		}
	})

	// The Go SDK: an http.Client that trusts the certificate; Ana by token,
	// Ben by the token whose SHA-256 alone is in the config.
	t.Run("sdk", func(t *testing.T) {
		ana, anaMem := r.agent(t, "ana", tlsTokAna, r.client)
		ben, benMem := r.agent(t, "ben", tlsTokBen, r.client)
		for _, c := range []*client.Client{ana, ben} {
			waitStatus(t, "agent online over wss", c, func(s client.Status) bool { return s.State == client.StateOnline })
		}
		if id := ben.Identity().ID; id != "agent:ben" {
			t.Errorf("Ben (tokenSha256) is %q; want agent:ben", id)
		}
		contact := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
		created, err := anaMem.Create(conv.Created{Contact: &contact, Subject: "over wss"})
		if err != nil {
			t.Fatal(err)
		}
		text := "sent over wss " + uuid.NewString()[:8]
		if _, err := anaMem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: text}); err != nil {
			t.Fatal(err)
		}
		if got := waitMessage(t, benMem, text); got != created.Conv {
			t.Errorf("Ben got the message in %s; want %s", got, created.Conv)
		}

		// Without the certificate the handshake fails and says why; the
		// client keeps retrying (a relay's certificate may be fixed).
		untrusting, _ := r.agent(t, "ana", tlsTokAna, nil)
		s := waitStatus(t, "a client that does not trust the certificate", untrusting, func(s client.Status) bool { return s.Error != "" })
		if s.State != client.StateOffline || !strings.Contains(s.Error, "certificate") {
			t.Errorf("status without the CA = %+v; want offline with a certificate error", s)
		}
	})

	t.Run("browser", func(t *testing.T) { testWidgetOverTLS(t, r) })
}

// testWidgetOverTLS runs the widget in Chromium against the https relay:
// the /demo page the relay serves (its origin is allowed: the widget
// connects to wss on the origin that served widget.js), a website of an
// allowed origin embedding the chat with the README's snippet, and a shop's
// page on an origin the workspace does not allow, which gets unauthorized.
// Chromium trusts exactly the test's certificate, by its public key
// (--ignore-certificate-errors-spki-list), not every certificate.
func testWidgetOverTLS(t *testing.T, r *tlsRelay) {
	node, playwright := requireBrowser(t)
	_, benMem := r.agent(t, "ben", tlsTokBen, r.client)

	// The disallowed page: https on another port (another origin) with the
	// same certificate (the one Chromium trusts), embedding the relay's
	// widget.js.
	shop := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Another shop</title></head>
<body><h1>A shop the workspace does not allow</h1><script src="%s/widget.js"></script></body></html>`, r.base)
	}))
	kp, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	shop.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	shop.StartTLS()
	t.Cleanup(shop.Close)

	// The allowed website: the README's embed snippets (/ the queue and
	// data-workspace, /start Threadline.start), for contact 42 with the hash
	// its backend would compute.
	fill := strings.NewReplacer(
		"https://relay.example.com", r.base,
		"HASH_FROM_YOUR_BACKEND", protocol.ContactHash(tlsSecret, "42"),
		`"acme"`, `"`+tlsWorkspace+`"`,
	)
	pages := map[string]string{
		"/":      fill.Replace(readmeSnippet(t, "embed html")),
		"/start": fill.Replace(readmeSnippet(t, "embed-start html")),
	}
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Your shop</title></head>\n<body><h1>Your shop</h1>\n%s</body></html>", pages[req.URL.Path])
	}))
	site.Listener.Close()
	site.Listener = r.site
	site.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	site.StartTLS()
	t.Cleanup(site.Close)

	script := filepath.Join(t.TempDir(), "tls.cjs")
	if err := os.WriteFile(script, []byte(browserScript), 0o644); err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(r.cert.RawSubjectPublicKeyInfo)
	text := "hello over wss " + uuid.NewString()[:8]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(),
		"PLAYWRIGHT="+playwright,
		"CHROMIUM="+chromiumPath,
		"RELAY="+r.base,
		"SHOP="+shop.URL,
		"SITE="+site.URL,
		"SPKI="+base64.StdEncoding.EncodeToString(spki[:]),
		"TEXT="+text,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("browser:\n%s", out)
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	var res struct {
		Demo struct {
			Identity string   `json:"identity"`
			Sockets  []string `json:"sockets"`
			Created  struct {
				ConversationID string `json:"conversationId"`
			} `json:"created"`
			Error *struct{ Code, Message string } `json:"error"`
		} `json:"demo"`
		Site struct {
			Identity string   `json:"identity"`
			Sockets  []string `json:"sockets"`
		} `json:"site"`
		SiteStart struct {
			Identity string `json:"identity"`
			Opened   bool   `json:"opened"`
		} `json:"siteStart"`
		Shop struct {
			Error  *struct{ Code, Message string } `json:"error"`
			Banner string                          `json:"banner"`
		} `json:"shop"`
	}
	i := strings.LastIndex(string(out), "RESULT ")
	if i < 0 {
		t.Fatal("the browser script printed no RESULT")
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out[i+len("RESULT "):]))), &res); err != nil {
		t.Fatalf("RESULT: %v", err)
	}

	// The demo page, on the relay's own origin.
	if res.Demo.Error != nil {
		t.Fatalf("/demo: createConversation failed: %+v", *res.Demo.Error)
	}
	if res.Demo.Identity != "contact:42" {
		t.Errorf("/demo?contact=42 started as %q; want contact:42", res.Demo.Identity)
	}
	if len(res.Demo.Sockets) == 0 {
		t.Error("/demo opened no WebSocket")
	}
	for _, u := range res.Demo.Sockets {
		if u != r.wss()+protocol.Path {
			t.Errorf("/demo's widget connected to %s; want %s (wss on the origin that served widget.js)", u, r.wss()+protocol.Path)
		}
	}
	if got := waitMessage(t, benMem, text); got != res.Demo.Created.ConversationID {
		t.Errorf("the agent got the widget's message in %s; want %s", got, res.Demo.Created.ConversationID)
	}

	// The README's snippet on an allowed website: contact 42, over wss.
	if res.Site.Identity != "contact:42" {
		t.Errorf("the README's embed snippet on %s started as %q; want contact:42", site.URL, res.Site.Identity)
	}
	if len(res.Site.Sockets) == 0 || res.Site.Sockets[0] != r.wss()+protocol.Path {
		t.Errorf("the README's embed snippet connected to %v; want %s", res.Site.Sockets, r.wss()+protocol.Path)
	}
	if res.SiteStart.Identity != "contact:42" || !res.SiteStart.Opened {
		t.Errorf("the README's Threadline.start snippet: %+v; want contact:42 with the chat opened", res.SiteStart)
	}

	// The shop on a disallowed origin: refused, and told why.
	if e := res.Shop.Error; e == nil || e.Code != protocol.CodeUnauthorized || !strings.Contains(e.Message, shop.URL) {
		t.Errorf("start on %s = %+v; want unauthorized naming the origin", shop.URL, res.Shop.Error)
	}
	if !strings.Contains(res.Shop.Banner, "unauthorized") {
		t.Errorf("the widget's banner on %s says %q; want the unauthorized error", shop.URL, res.Shop.Banner)
	}
}

// readmeSnippet returns the README's fenced block marked
// "<!-- readme-test: NAME -->" (internal/readmetest runs the others).
func readmeSnippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- readme-test: "+name+" -->\n")
	if !ok {
		t.Fatalf("README.md has no snippet marked readme-test: %s", name)
	}
	_, code, ok := strings.Cut(after, "\n")
	if !ok || !strings.HasPrefix(after, "```") {
		t.Fatalf("README.md: readme-test: %s is not followed by a fenced block", name)
	}
	code, _, ok = strings.Cut(code, "\n```\n")
	if !ok {
		t.Fatalf("README.md: readme-test: %s: unterminated block", name)
	}
	return code + "\n"
}

// requireBrowser returns node and playwright-core's path (the widget's
// node project installs it), or skips the test without them, unless
// THREADLINE_REQUIRE_BROWSER is set: then it fails.
func requireBrowser(t *testing.T) (node, playwright string) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	playwright, _ = filepath.Abs("../../../frontend/widget/node_modules/playwright-core")
	if _, err := os.Stat(filepath.Join(playwright, "package.json")); err != nil {
		missing = append(missing, "frontend/widget's npm packages")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed (scripts/setup.sh --test installs them)", strings.Join(missing, " and "))
		if os.Getenv("THREADLINE_REQUIRE_BROWSER") != "" {
			t.Fatalf("THREADLINE_REQUIRE_BROWSER is set but %s", msg)
		}
		t.Skipf("skipping the browser test: %s", msg)
	}
	return node, playwright
}

// browserScript drives Chromium (playwright-core) and prints one line,
// RESULT {json}, for the Go test to check.
const browserScript = `
const { chromium } = require(process.env.PLAYWRIGHT);
const { RELAY, SHOP, SITE, SPKI, TEXT } = process.env;

const started = (page, opts) => page.evaluate((o) => new Promise((resolve) =>
  Threadline.start(o, (res, err) => resolve(err ? { error: { code: err.code, message: err.message } } : { res }))), opts);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--no-first-run", "--ignore-certificate-errors-spki-list=" + SPKI],
  });
  const out = {};
  try {
    const ctx = await browser.newContext();
    ctx.on("console", (m) => console.log("console:", m.text()));

    // The demo page the relay serves: the widget auto-starts as contact 42.
    const demo = await ctx.newPage();
    const sockets = [];
    demo.on("websocket", (ws) => sockets.push(ws.url()));
    await demo.goto(RELAY + "/demo?contact=42&name=Dana");
    await demo.waitForFunction(() => window.Threadline && Threadline.isStarted() && Threadline.status().state === "online", null, { timeout: 30000 });
    out.demo = await demo.evaluate((text) => new Promise((resolve) =>
      Threadline.createConversation({ message: text }, (res, err) =>
        resolve(err ? { error: { code: err.code, message: err.message } } : { created: res, identity: Threadline.status().identity.id }))), TEXT);
    out.demo.sockets = sockets;

    // A website of an allowed origin, embedding the chat with the README's snippet.
    const site = await ctx.newPage();
    const siteSockets = [];
    site.on("websocket", (ws) => siteSockets.push(ws.url()));
    await site.goto(SITE + "/");
    await site.waitForFunction(() => window.Threadline && Threadline.isStarted() && Threadline.status().state === "online", null, { timeout: 30000 });
    out.site = { identity: await site.evaluate(() => Threadline.status().identity.id), sockets: [...siteSockets] };
    await site.goto(SITE + "/start");
    await site.waitForFunction(() => window.Threadline && Threadline.isStarted() && Threadline.status().state === "online", null, { timeout: 30000 });
    await site.waitForFunction(() => window.$threadline.push(["get", "chat:opened"]).then((o) => o === true), null, { timeout: 10000 }).catch(() => {});
    out.siteStart = await site.evaluate(async () => ({
      identity: Threadline.status().identity.id,
      opened: (await window.$threadline.push(["get", "chat:opened"])) === true,
    }));

    // A page on an origin the workspace does not allow.
    const shop = await ctx.newPage();
    await shop.goto(SHOP + "/");
    await shop.waitForFunction(() => window.Threadline);
    out.shop = await started(shop, { workspace: "acme" });
    await shop.locator("#threadline-widget .launcher").click();
    const banner = shop.locator('#threadline-widget .banner.error[data-code="unauthorized"]');
    await banner.waitFor({ timeout: 10000 });
    out.shop.banner = await banner.textContent();
  } finally {
    await browser.close();
  }
  console.log("RESULT " + JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`

// TestExampleConfigAllowsTheDemo keeps examples/relay.json and `make relay`
// together: the config's allowedOrigins include the origin `make relay`
// serves /demo on (the demo page is served by the relay itself, so the
// widget on it says hello from the relay's own origin), and a page on
// another origin is refused.
func TestExampleConfigAllowsTheDemo(t *testing.T) {
	mk, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^relay:\n\t.*--listen (\S+) .*--config (\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no relay target with --listen and --config")
	}
	demoOrigin := "http://" + string(m[1])
	cfg, err := relay.LoadConfig(filepath.Join("../../..", string(m[2])))
	if err != nil {
		t.Fatalf("%s: %v", m[2], err)
	}
	socket := relayrun.Start(t, relayrun.WithConfig(cfg)).Socket()
	ws := cfg.Workspaces[0].ID
	if len(cfg.Workspaces[0].AllowedOrigins) == 0 {
		t.Fatalf("%s sets no allowedOrigins: the example shows how", m[2])
	}
	for _, tc := range []struct {
		origin string
		want   string
	}{
		{demoOrigin, protocol.TypeWelcome},
		{"http://127.0.0.1:3000", protocol.CodeUnauthorized},
	} {
		if got := visitorHello(t, socket, ws, tc.origin); got != tc.want {
			t.Errorf("%s with make relay's config: a visitor's hello from %s is answered %s; want %s", m[2], tc.origin, got, tc.want)
		}
	}
}

// visitorHello says hello as a new visitor from a page of origin and
// returns the answer: "welcome" or the error's code.
func visitorHello(t *testing.T, url, workspace, origin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		t.Fatalf("dial with Origin %s: %v", origin, err)
	}
	defer c.CloseNow()
	b, _ := json.Marshal(protocol.Hello{Type: protocol.TypeHello, Protocol: protocol.Version, Workspace: workspace,
		Device: uuid.NewString(), Auth: protocol.Auth{Kind: protocol.AuthVisitor}})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, b, err = c.Read(ctx)
	if err != nil {
		t.Fatalf("hello from %s: %v", origin, err)
	}
	var f protocol.Error
	json.Unmarshal(b, &f)
	if f.Type == protocol.TypeError {
		return f.Code
	}
	return f.Type
}
