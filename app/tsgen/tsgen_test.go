package tsgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated TypeScript files")

// TestGenerated fails when a generated file is not what Generate answers
// from the Go sources as they are: a binding, a type or an event changed
// without `go generate ./app/tsgen` (or `make frontend`). -update rewrites.
func TestGenerated(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		full := filepath.Join(root, path)
		if *update {
			if err := os.WriteFile(full, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale (err %v): run go generate ./app/tsgen (or make frontend)", path, err)
		}
	}
}
