package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/visitor"
)

// notifyCall is one Notify call the fake notification daemon received.
type notifyCall struct {
	ID      uint32
	App     string
	Summary string
	Body    string
	Actions []string
	Hints   map[string]dbus.Variant
}

// notifyDaemon is a fake org.freedesktop.Notifications on a session bus: it
// records what it is asked to show, as a desktop's notification daemon
// would show it.
type notifyDaemon struct {
	conn  *dbus.Conn
	mu    sync.Mutex
	next  uint32
	calls chan notifyCall
}

func (d *notifyDaemon) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	d.mu.Lock()
	d.next++
	id := d.next
	d.mu.Unlock()
	d.calls <- notifyCall{ID: id, App: app, Summary: summary, Body: body, Actions: actions, Hints: hints}
	return id, nil
}

func (d *notifyDaemon) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body"}, nil
}

func (d *notifyDaemon) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "threadline-e2e", "threadline", "1", "1.2", nil
}

func (d *notifyDaemon) CloseNotification(id uint32) *dbus.Error { return nil }

// click says the user clicked notification id (its default action).
func (d *notifyDaemon) click(id uint32) error {
	return d.conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.ActionInvoked", id, "default")
}

// startSessionBus runs a private D-Bus session bus and returns its address.
func startSessionBus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addr := "unix:path=" + filepath.Join(dir, "bus")
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+addr)
	if err := cmd.Start(); err != nil { // its stderr (services it activates for WebKit) is dropped
		t.Fatalf("dbus-daemon: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the session bus never came up")
	return ""
}

// startNotifyDaemon owns org.freedesktop.Notifications on the bus at addr.
func startNotifyDaemon(t *testing.T, addr string) *notifyDaemon {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	d := &notifyDaemon{conn: conn, calls: make(chan notifyCall, 16)}
	if err := conn.Export(d, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: %v, %v", reply, err)
	}
	return d
}

// startXvfb runs an X server of the test's own and returns its DISPLAY.
func startXvfb(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatalf("Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if err != nil {
		t.Fatalf("Xvfb never said its display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}

// TestDesktopNotification: the production binary in a real window (Xvfb),
// connected to a real relay, with a fake notification daemon on a private
// session bus. A visitor writes while the window does not have the user's
// attention: the app raises a desktop notification through D-Bus (Wails'
// notifications runtime) naming the visitor and the message, and a click
// on it opens the conversation (the app says so in its log; the UI's part,
// opening it, is Notifications.test.tsx's).
func TestDesktopNotification(t *testing.T) {
	bin := requirements(t)
	for _, tool := range []string{"Xvfb", "dbus-daemon", "xdotool", "xmessage"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "the notification test needs " + tool + " (scripts/setup.sh --test)"
			if os.Getenv("THREADLINE_REQUIRE_BROWSER") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	display := startXvfb(t)
	bus := startSessionBus(t)
	daemon := startNotifyDaemon(t, bus)
	relayURL := startRelay(t)
	ws := relaytest.WS(relayURL)

	// A profile connected to the relay as agent ana, as Settings → Connect leaves it.
	data := t.TempDir()
	if err := profile.Save(data, profile.Profile{
		Me: conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, Device: uuid.NewString(),
		RelayURL: ws, Workspace: workspace, Token: tokAna,
	}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "app.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "DISPLAY="+display, "DBUS_SESSION_BUS_ADDRESS="+bus, "XDG_CONFIG_HOME="+t.TempDir(), "NO_AT_BRIDGE=1")
	cmd := exec.Command(bin, "--data", data)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &app{cmd: cmd}
	t.Cleanup(func() { stop(a); logf.Close() })
	appLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(appLog(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("the app never logged %q:\n%s", what, appLog())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The window is up and the app has caught up with the relay.
	waitLog("sync: caught up")
	xdo := func(args ...string) string {
		c := exec.Command("xdotool", args...)
		c.Env = env
		out, _ := c.Output()
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(30 * time.Second)
	for xdo("search", "--onlyvisible", "--name", "^Threadline") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no window titled Threadline:\n%s", appLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	win := strings.Fields(xdo("search", "--onlyvisible", "--name", "^Threadline"))[0]
	xm := exec.Command("xmessage", "-geometry", "200x50+900+700", "elsewhere")
	xm.Env = env
	if err := xm.Start(); err != nil {
		t.Fatalf("xmessage (x11-utils): %v", err)
	}
	t.Cleanup(func() { _ = xm.Process.Kill(); _ = xm.Wait() })
	var other string
	for range 100 {
		if w := xdo("search", "--onlyvisible", "--name", "^xmessage$"); w != "" {
			other = strings.Fields(w)[0]
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if other == "" {
		t.Fatal("xmessage's window never showed")
	}
	// focus gives window w the focus and waits until the UI has told the app (SetFocused,
	// which logs each change) whether its window has the user's attention.
	// The app's state is its last "window attention" line, false before any.
	attention := func() bool {
		l := appLog()
		i := strings.LastIndex(l, `msg="window attention" focused=`)
		return i >= 0 && strings.HasPrefix(l[i+len(`msg="window attention" focused=`):], "true")
	}
	focus := func(w string, attended bool) {
		t.Helper()
		xdo("windowfocus", "--sync", w)
		for i := 0; attention() != attended; i++ {
			if i == 100 {
				t.Fatalf("the app was never told focused=%v:\n%s", attended, appLog())
			}
			if i%10 == 0 {
				xdo("windowfocus", "--sync", w)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A visitor writes.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dana, cl := visitor.Connect(t, ctx, ws, workspace, "Dana Whitfield")
	created, err := dana.Create(conv.Created{Subject: "Invoice"})
	if err != nil {
		t.Fatal(err)
	}
	say := func(text string) {
		t.Helper()
		if _, err := dana.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: text}); err != nil {
			t.Fatal(err)
		}
		cl.Kick()
	}

	// While the app's window has the focus, the user is looking: no notification.
	focus(win, true)
	say("Hello?")
	select {
	case got := <-daemon.calls:
		t.Fatalf("Notify(%+v) while the window has the focus; want none. What the app was told:\n%s", got, attentionLines(appLog()))
	case <-time.After(3 * time.Second):
	}

	// Another window takes the focus: the app's is not the one the user looks at.
	focus(other, false)
	say("Where is my invoice?")

	var got notifyCall
	select {
	case got = <-daemon.calls:
	case <-ctx.Done():
		t.Fatalf("no Notify on the session bus for the visitor's message while the window is not focused:\n%s", appLog())
	}
	var user struct {
		Conv string `json:"conv"`
	}
	if v, ok := got.Hints["x-user-data"]; ok {
		if s, ok := v.Value().(string); ok {
			_ = json.Unmarshal([]byte(s), &user)
		}
	}
	if got.Summary != "Dana Whitfield" || got.Body != "Where is my invoice?" || user.Conv != created.Conv {
		t.Fatalf("Notify(%+v); want summary Dana Whitfield, body the message, x-user-data naming %s", got, created.Conv)
	}

	// The click. Notify's reply and the click's signal travel apart: a click before the app has
	// the reply (its notification id) is not its yet, so click until the app answers.
	clicked := fmt.Sprintf(`notification clicked: opening the conversation" conv=%s`, created.Conv)
	for i := 0; !strings.Contains(appLog(), clicked); i++ {
		if i == 50 {
			t.Fatalf("a click on the notification never opened the conversation:\n%s", appLog())
		}
		if err := daemon.click(got.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// attentionLines are the app log's lines saying whether its window had the
// user's attention, for a failure to show when the app was told what.
func attentionLines(log string) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="window attention"`) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
