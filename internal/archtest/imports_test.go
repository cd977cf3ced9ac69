package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/threadline/threadline"

// pkg is what `go list -deps` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// rule is one way an import may not point.
type rule struct {
	name string
	// applies reports whether the rule governs package p (a project path).
	applies func(p string) bool
	// forbidden reports whether p may not import dep (directly or not).
	forbidden func(p, dep string) bool
}

// wailsRuntime is spelled in two pieces so that a grep for the import finds
// only the packages that import it, not this test.
const wailsRuntime = "github.com/wailsapp/wails/v2/pkg/" + "runtime"

func under(p, dir string) bool { return p == mod+"/"+dir || strings.HasPrefix(p, mod+"/"+dir+"/") }

var rules = []rule{
	{
		name:    "backend/conv imports no other project package",
		applies: func(p string) bool { return p == mod+"/backend/conv" },
		forbidden: func(p, dep string) bool {
			return strings.HasPrefix(dep, mod+"/") && dep != p
		},
	},
	{
		name:    "nothing under sync/ reaches the desktop side (app, inbox, store) or Wails",
		applies: func(p string) bool { return under(p, "sync") },
		forbidden: func(p, dep string) bool {
			return under(dep, "app") || under(dep, "backend/inbox") || under(dep, "backend/store") ||
				strings.HasPrefix(dep, "github.com/wailsapp/")
		},
	},
	{
		name:    "only app/ and main import the Wails runtime",
		applies: func(p string) bool { return p != mod && !under(p, "app") },
		forbidden: func(p, dep string) bool {
			return dep == wailsRuntime
		},
	},
	{
		name:      "nothing imports app but main",
		applies:   func(p string) bool { return p != mod && !under(p, "app") },
		forbidden: func(p, dep string) bool { return under(dep, "app") },
	},
	{
		// frontend/widget only embeds the web widget's files for sync/widget;
		// whatever imports it (the relay binary) must not pull anything else in.
		name:      "frontend/widget imports no project package",
		applies:   func(p string) bool { return under(p, "frontend/widget") },
		forbidden: func(p, dep string) bool { return strings.HasPrefix(dep, mod+"/") && dep != p },
	},
	{
		// DESIGN §6: the log is a package of its own that knows nothing of
		// sessions, so that its implementations (embedded, JetStream) are
		// swapped under the relay.
		name:    "sync/eventlog knows nothing of sessions: it imports no relay, client or widget",
		applies: func(p string) bool { return under(p, "sync/eventlog") },
		forbidden: func(p, dep string) bool {
			return under(dep, "sync/relay") || under(dep, "sync/client") || under(dep, "sync/widget")
		},
	},
	{
		name:      "backend/ imports nothing of sync/ or app/",
		applies:   func(p string) bool { return under(p, "backend") },
		forbidden: func(p, dep string) bool { return under(dep, "sync") || under(dep, "app") },
	},
}

// violations checks packages against rules. Direct imports are checked for
// the Wails-runtime and app rules (what a file says), all dependencies for
// the rest (what a binary links).
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, mod) || p.Standard {
			continue
		}
		for _, r := range rules {
			if !r.applies(p.ImportPath) {
				continue
			}
			deps := p.Deps
			if strings.HasPrefix(r.name, "only app/") || strings.HasPrefix(r.name, "nothing imports app") {
				deps = p.Imports
			}
			for _, d := range deps {
				if r.forbidden(p.ImportPath, d) {
					out = append(out, r.name+": "+p.ImportPath+" → "+d)
				}
			}
		}
	}
	return out
}

func TestImportsPointDown(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-deps=false", "-json", mod+"/...")
	cmd.Dir = "../.."
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(outPipe)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d project packages; want the whole tree", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations proves each rule fires on a made-up bad graph.
func TestRulesCatchViolations(t *testing.T) {
	bad := []pkg{
		{ImportPath: mod + "/backend/conv", Imports: []string{mod + "/backend/store"}, Deps: []string{mod + "/backend/store"}},
		{ImportPath: mod + "/sync/relay", Deps: []string{mod + "/backend/inbox"}},
		{ImportPath: mod + "/sync/client", Deps: []string{"github.com/wailsapp/wails/v2/pkg/options"}},
		{ImportPath: mod + "/backend/inbox", Imports: []string{wailsRuntime}},
		{ImportPath: mod + "/sync/cmd/relay", Imports: []string{mod + "/app"}, Deps: []string{mod + "/app"}},
		{ImportPath: mod + "/backend/store", Deps: []string{mod + "/sync/protocol"}},
		{ImportPath: mod + "/frontend/widget", Deps: []string{mod + "/sync/protocol"}},
		{ImportPath: mod + "/sync/eventlog", Deps: []string{mod + "/sync/relay"}},
	}
	got := violations(bad)
	for _, want := range []string{
		"backend/conv imports no other project package",
		"nothing under sync/ reaches the desktop side (app, inbox, store) or Wails: " + mod + "/sync/relay",
		"nothing under sync/ reaches the desktop side (app, inbox, store) or Wails: " + mod + "/sync/client",
		"only app/ and main import the Wails runtime: " + mod + "/backend/inbox",
		"nothing imports app but main: " + mod + "/sync/cmd/relay",
		"backend/ imports nothing of sync/ or app/: " + mod + "/backend/store",
		"frontend/widget imports no project package: " + mod + "/frontend/widget",
		"sync/eventlog knows nothing of sessions: it imports no relay, client or widget: " + mod + "/sync/eventlog",
	} {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("violations(bad graph) misses %q; got %q", want, got)
		}
	}
	good := []pkg{
		{ImportPath: mod, Imports: []string{mod + "/app", wailsRuntime}},
		{ImportPath: mod + "/app", Imports: []string{wailsRuntime, mod + "/backend/inbox"}},
		{ImportPath: mod + "/sync/client", Deps: []string{mod + "/sync/protocol", mod + "/backend/conv"}},
		{ImportPath: mod + "/sync/widget", Deps: []string{mod + "/frontend/widget", mod + "/sync/protocol", mod + "/backend/conv"}},
	}
	if v := violations(good); len(v) != 0 {
		t.Errorf("violations(good graph) = %q; want none", v)
	}
}
