package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/internal/fsync"
	"github.com/threadline/threadline/internal/hoprate"
)

// BenchmarkFloor measures what a durable device → relay → device hop cannot
// go below, on the disk and loopback BenchmarkLatency's "disk" runs on: one
// fdatasync of a journal-sized write into preallocated space (what the
// embedded log's group commit waits for), and one WebSocket round trip on
// 127.0.0.1 of an event-sized message (the push in, the event out). One op
// is one of each, paced at the hop benchmark's rate (THREADLINE_HOP_RATE,
// default 1,000/s) so the disk idles between writes as it does there.
// floor-p50-ms is the sum of the two p50s: the embedded relay's hop p50 is
// held within 1.5× of it, measured in the same run. "in-process" echoes in
// this process (the floor of BenchmarkLatency's "disk"); "process" echoes
// from a process of its own, as a relay binary answers (the floor of its
// "process", and of a relay measured from outside).
func BenchmarkFloor(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		hs := httptest.NewServer(http.HandlerFunc(echo))
		defer hs.Close()
		benchFloor(b, "ws"+hs.URL[len("http"):])
	})
	b.Run("process", func(b *testing.B) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), floorEchoEnv+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		in, err := cmd.StdinPipe() // the echo process ends when it closes
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { in.Close(); cmd.Wait() }()
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			b.Fatalf("echo process: %v", err)
		}
		benchFloor(b, "ws://"+strings.TrimSpace(addr))
	})
}

// floorEchoEnv makes the test binary a WebSocket echo server on loopback
// (TestMain): it prints its address and serves until its stdin closes.
const floorEchoEnv = "THREADLINE_FLOOR_ECHO"

// serveFloorEcho is the test binary run with floorEchoEnv.
func serveFloorEcho() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(l, http.HandlerFunc(echo))
	fmt.Println(l.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// echo sends every WebSocket message back.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, m, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, m); err != nil {
			return
		}
	}
}

func benchFloor(b *testing.B, url string) {
	rate, _, err := hoprate.Get()
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const segment = 64 << 20
	if err := fsync.Preallocate(f, segment); err != nil {
		b.Fatal(err)
	}
	if err := fsync.Data(f); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 512) // a group commit of one event, framed

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	msg := make([]byte, 300) // an event's JSON

	syncs := make([]time.Duration, 0, b.N)
	trips := make([]time.Duration, 0, b.N)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	off := int64(0)
	b.ResetTimer()
	for range b.N {
		<-tick.C
		if off+int64(len(rec)) > segment {
			off = 0
		}
		t0 := time.Now()
		if _, err := f.WriteAt(rec, off); err != nil {
			b.Fatal(err)
		}
		if err := fsync.Data(f); err != nil {
			b.Fatal(err)
		}
		syncs = append(syncs, time.Since(t0))
		off += int64(len(rec))

		t0 = time.Now()
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		trips = append(trips, time.Since(t0))
	}
	b.StopTimer()
	ms := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	fs, ws := ms(syncs, 0.5), ms(trips, 0.5)
	b.ReportMetric(fs, "fdatasync-p50-ms")
	b.ReportMetric(ms(syncs, 0.99), "fdatasync-p99-ms")
	b.ReportMetric(ws, "ws-rtt-p50-ms")
	b.ReportMetric(fs+ws, "floor-p50-ms")
	b.ReportMetric(0, "ns/op")
}
