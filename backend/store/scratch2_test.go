package store

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestScratchBig(t *testing.T) {
	if os.Getenv("SCRATCH_BIG") == "" {
		t.Skip()
	}
	start := time.Now()
	dir, err := GeneratedStore(100000, 2000000, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generate: %v", time.Since(start))
	for range 3 {
		runtime.GC()
		start = time.Now()
		s, err := Open(dir, Options{Me: GenerateMe})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("open: %v", time.Since(start))
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		t.Logf("heap in use %d MB", m.HeapInuse>>20)
		s.Close()
	}
}
