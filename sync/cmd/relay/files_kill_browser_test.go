package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
)

// slowLink is a loopback TCP proxy to the relay that passes what the
// browser sends at rate bytes a second (answers at full speed), as a slow
// uplink does. A connection whose relay side breaks (the relay killed) is
// closed on the browser's side too; new connections dial the relay again,
// so after a restart on the same port the browser finds it.
type slowLink struct {
	ln     net.Listener
	target string
	rate   int
	mu     sync.Mutex
	conns  []net.Conn
}

func startSlowLink(t *testing.T, target string, rate int) *slowLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{ln: ln, target: target, rate: rate}
	go l.serve()
	t.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		for _, c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
	})
	return l
}

func (l *slowLink) base() string { return "http://" + l.ln.Addr().String() }

func (l *slowLink) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.pipe(c)
	}
}

func (l *slowLink) pipe(c net.Conn) {
	u, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	l.conns = append(l.conns, c, u)
	l.mu.Unlock()
	go func() {
		io.Copy(c, u)
		c.Close()
		u.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := u.Write(buf[:n]); werr != nil {
				break
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(l.rate))
		}
		if err != nil {
			break
		}
	}
	c.Close()
	u.Close()
}

// killUploadScript drives the widget in Chromium: a visitor on a page of
// the relay's origin (through the slow link) says hello, then adds a 12 MiB
// file and sends it at once; it waits until the widget shows the message
// logged (its seq) and prints "LOGGED {id, seq, retried}".
const killUploadScript = `
const { chromium } = require(process.env.PLAYWRIGHT);
const { BASE, FILE, TEXT } = process.env;
const W = "#threadline-widget";
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
  try {
    const page = await browser.newPage();
    let retried = 0;
    page.on("console", (m) => {
      if (/upload did not finish/.test(m.text())) retried++;
      console.log("console:", m.text());
    });
    await page.goto(BASE + "/widget/host"); // a page of the relay's origin (a local address), its content replaced
    await page.setContent('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1></body></html>');
    await page.addScriptTag({ url: BASE + "/widget.js" });
    const err = await page.evaluate(() => new Promise((resolve) =>
      Threadline.start({ workspace: "acme" }, (res, e) => resolve(e ? e.code + ": " + e.message : ""))));
    if (err) throw new Error("start: " + err);
    await page.evaluate(() => window.$threadline.push(["do", "chat:open"]));
    await page.waitForFunction(() => Threadline.status().state === "online", null, { timeout: 30000 });
    await page.locator(W + " textarea.input").fill("hello");
    await page.locator(W + " button.send").click();
    await page.locator(W + ' li.msg.mine:not([data-seq="0"])').first().waitFor({ timeout: 30000 });

    await page.locator(W + " input.file-input").setInputFiles(FILE);
    await page.locator(W + " textarea.input").fill(TEXT);
    await page.locator(W + " button.send:not([disabled])").click();
    console.log("SENT");
    const li = page.locator(W + ' li.msg.mine:not([data-seq="0"])').filter({ hasText: TEXT });
    await li.waitFor({ timeout: 120000 });
    const out = { id: await li.getAttribute("data-id"), seq: Number(await li.getAttribute("data-seq")), retried };
    console.log("LOGGED " + JSON.stringify(out));
  } finally {
    await browser.close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
`

// TestKillMidUploadFromTheBrowser is TestKillMidUploadThroughTheClient for
// the web widget in Chromium: its upload of a 12 MiB file goes through a
// slow uplink (4 MiB/s); the relay binary is killed with SIGKILL when part
// of it is in the relay's temporary file, and restarted on the same --data
// and port. The widget reconnects, uploads the file again from its outbox
// (IndexedDB) and pushes the message. The half upload is never served; the
// file is stored once, nothing unfinished beside it; an agent's device
// receives the message once; the log holds one event naming the file; the
// download is the bytes sent.
func TestKillMidUploadFromTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the relay binary, runs Chromium")
	}
	node, playwright := requireBrowser(t)
	r := newKillRelay(t)
	link := startSlowLink(t, fmt.Sprintf("127.0.0.1:%d", r.port), 4<<20)

	data, sha := logFile(12<<20, "GET /health 503 upstream timed out after 30s")
	stored := r.stored(sha)
	file := filepath.Join(t.TempDir(), "health.log")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const text = "once: the health check log, from the browser"

	// The agent's device, straight to the relay: it reconnects after the restart.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ana := client.NewMemory(conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, uuid.NewString())
	stopAna := r.runAgent(ctx, ana, killTokAna)
	defer stopAna()

	script := filepath.Join(t.TempDir(), "kill_upload.cjs")
	if err := os.WriteFile(script, []byte(killUploadScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT="+playwright, "CHROMIUM="+chromiumPath,
		"BASE="+link.base(), "FILE="+file, "TEXT="+text)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	logged := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			t.Log(line)
			if line == "SENT" {
				close(sent)
			}
			if j, ok := strings.CutPrefix(line, "LOGGED "); ok {
				logged <- j
			}
		}
	}()
	defer cmd.Wait()

	select {
	case <-sent:
	case <-time.After(90 * time.Second):
		t.Fatal("the widget did not send the file")
	}
	r.killMidUpload(sha, len(data), 3<<20, 30*time.Second)
	r.start()
	if st, _ := r.get(sha); st == http.StatusOK {
		// The widget may be uploading again already; only a whole file may be served.
		if fi, err := os.Stat(stored); err != nil || fi.Size() != int64(len(data)) {
			t.Fatalf("after the restart, a GET is served a file of %v", fi)
		}
	}

	var j string
	select {
	case j = <-logged:
	case <-time.After(150 * time.Second):
		t.Fatal("the widget did not show its message logged after the restart")
	}
	var w struct {
		ID      string `json:"id"`
		Seq     uint64 `json:"seq"`
		Retried int    `json:"retried"`
	}
	if err := json.Unmarshal([]byte(j), &w); err != nil || w.Seq == 0 || w.Retried < 1 {
		t.Fatalf("the widget: %s (%v); want its message logged after an upload it tried again", j, err)
	}
	waitMessage(t, ana, text)
	for _, c := range ana.Conversations() {
		if n := countNaming(ana.Timeline(c.ID), sha); n > 1 {
			t.Errorf("the agent's device holds %d events naming the file; want 1", n)
		}
	}
	r.checkServed(sha, data)
	stopAna()
	r.stop()

	refs := r.checkStoredOnce(sha, data)
	events := 0
	for _, ref := range refs {
		if ref.Seq > 0 {
			events++
		}
	}
	if events != 1 {
		t.Fatalf("refs = %+v; want one event's", refs)
	}
}
