package widget

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the widget's Go side at the bottom of the sync tree: it
// may use the protocol (and through it conv) and the embedded browser files
// of frontend/widget, nothing else of the project, so the relay binary can
// mount it without pulling the desktop side in.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/threadline/threadline/sync/widget":     true,
		"github.com/threadline/threadline/sync/protocol":   true,
		"github.com/threadline/threadline/backend/conv":    true,
		"github.com/threadline/threadline/frontend/widget": true,
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/threadline/threadline/") && !allowed[p] {
			t.Errorf("sync/widget imports %s; it may import only sync/protocol (and conv through it) and frontend/widget", p)
		}
	}
}
