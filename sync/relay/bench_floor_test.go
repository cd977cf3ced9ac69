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
// fdatasync of a journal-sized write (1,225 bytes, the embedded log's record
// of one message event) into written, preallocated space (what its group
// commit waits for), and one WebSocket round trip on 127.0.0.1 of an
// event-sized message (the push in, the event out). One op is one of each,
// paced at the hop benchmark's rate (THREADLINE_HOP_RATE, default 1,000/s)
// so the disk and CPUs idle between them as they do there.
//
// Two floors come of it. floor-p50-ms is the sum of the two p50s, each
// measured on its own. synced-echo-p50-ms is one round trip to an echo that
// writes and fdatasyncs the record before it answers: the pattern of a
// relay (a frame arrives, it is made durable, a frame leaves) with nothing
// else done, so it also pays the wake-ups a relay pays between the two. The
// embedded relay's hop p50 is held within 1.5× of the floor measured in the
// same run. "in-process" echoes in this process (the floor of
// BenchmarkLatency's "disk"); "process" echoes from a process of its own, as
// a relay binary answers (the floor of its "process", and of a relay
// measured from outside).
func BenchmarkFloor(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		hs := httptest.NewServer(echoMux(b.TempDir()))
		defer hs.Close()
		benchFloor(b, "ws"+hs.URL[len("http"):])
	})
	b.Run("process", func(b *testing.B) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), floorEchoEnv+"="+b.TempDir())
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
// (TestMain), its synced echo writing into the directory the variable
// names: it prints its address and serves until its stdin closes.
const floorEchoEnv = "THREADLINE_FLOOR_ECHO"

// serveFloorEcho is the test binary run with floorEchoEnv.
func serveFloorEcho(dir string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(l, echoMux(dir))
	fmt.Println(l.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// floorRecord is the size of the embedded log's journal record of one
// message event in BenchmarkLatency (measured once, 2026-12-02, by logging the
// sizes of the journal's records; re-measure if the record changes).
const floorRecord = 1225

// echoMux serves /echo, which sends every WebSocket message back, and
// /synced, which first appends a floorRecord-sized write to a file in dir
// and fdatasyncs it.
func echoMux(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { echo(w, r, nil) })
	mux.HandleFunc("/synced", func(w http.ResponseWriter, r *http.Request) {
		j, err := newFloorJournal(filepath.Join(dir, "synced"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer j.f.Close()
		echo(w, r, j.append)
	})
	return mux
}

// echo sends every WebSocket message back, after durable when not nil.
func echo(w http.ResponseWriter, r *http.Request, durable func() error) {
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
		if durable != nil {
			if err := durable(); err != nil {
				c.Close(websocket.StatusInternalError, err.Error())
				return
			}
		}
		if err := c.Write(r.Context(), typ, m); err != nil {
			return
		}
	}
}

// floorJournal appends records to a preallocated file whose blocks are
// written (as the embedded log's journal segments are), fdatasyncing each.
type floorJournal struct {
	f   *os.File
	off int64
	rec []byte
}

const floorSegment = 16 << 20

func newFloorJournal(path string) (*floorJournal, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	err = fsync.Preallocate(f, floorSegment)
	if err == nil {
		_, err = f.WriteAt(make([]byte, floorSegment), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &floorJournal{f: f, rec: make([]byte, floorRecord)}, nil
}

func (j *floorJournal) append() error {
	if j.off+int64(len(j.rec)) > floorSegment {
		j.off = 0
	}
	if _, err := j.f.WriteAt(j.rec, j.off); err != nil {
		return err
	}
	j.off += int64(len(j.rec))
	return fsync.Data(j.f)
}

func benchFloor(b *testing.B, url string) {
	rate, _, err := hoprate.Get()
	if err != nil {
		b.Fatal(err)
	}
	j, err := newFloorJournal(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.f.Close()
	ctx := context.Background()
	dial := func(path string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, url+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	plain, synced := dial("/echo"), dial("/synced")
	defer plain.CloseNow()
	defer synced.CloseNow()
	msg := make([]byte, 300) // an event's JSON
	trip := func(c *websocket.Conn) time.Duration {
		t0 := time.Now()
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}

	syncs := make([]time.Duration, 0, b.N)
	trips := make([]time.Duration, 0, b.N)
	syncedTrips := make([]time.Duration, 0, b.N)
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(interval / 3)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		t0 := time.Now()
		if err := j.append(); err != nil {
			b.Fatal(err)
		}
		syncs = append(syncs, time.Since(t0))
		<-tick.C
		trips = append(trips, trip(plain))
		<-tick.C
		syncedTrips = append(syncedTrips, trip(synced))
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
	b.ReportMetric(ms(syncedTrips, 0.5), "synced-echo-p50-ms")
	b.ReportMetric(0, "ns/op")
}
