package relay

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the relay's Prometheus metrics, kept with atomics and written
// in the text exposition format by hand (no client library).
type metrics struct {
	connections     atomic.Int64 // open WebSocket connections
	sessions        atomic.Int64 // connections past their welcome
	eventsLogged    atomic.Uint64
	groupCommits    atomic.Uint64
	commitRetries   atomic.Uint64 // groups validated again after another relay appended first
	eventsFollowed  atomic.Uint64 // events other relays logged, fanned out here
	slowDisconnects atomic.Uint64
	pushes          atomic.Uint64

	rejMu      sync.Mutex
	rejections map[string]uint64 // by code: rejected events and refused frames

	ackLatency histogram
	commitTime histogram // one Log.Append (write and fsync)
	api        apiMetrics

	more func(io.Writer) // writes the webhooks' metrics; set before serving
}

func newMetrics() *metrics {
	return &metrics{rejections: map[string]uint64{}, ackLatency: newHistogram(latencyBuckets), commitTime: newHistogram(latencyBuckets), api: newAPIMetrics()}
}

func (m *metrics) reject(code string) {
	m.rejMu.Lock()
	m.rejections[code]++
	m.rejMu.Unlock()
}

// latencyBuckets are push-to-ack seconds: 50µs … 1s.
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, plus +Inf
	sumNs  atomic.Uint64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, s)
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

func (m *metrics) write(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# HELP threadline_relay_connections Open WebSocket connections.\n")
	p("# TYPE threadline_relay_connections gauge\n")
	p("threadline_relay_connections %d\n", m.connections.Load())
	p("# HELP threadline_relay_sessions Connections past their welcome.\n")
	p("# TYPE threadline_relay_sessions gauge\n")
	p("threadline_relay_sessions %d\n", m.sessions.Load())
	p("# HELP threadline_relay_events_logged_total Events written to the log, derived ones included.\n")
	p("# TYPE threadline_relay_events_logged_total counter\n")
	p("threadline_relay_events_logged_total %d\n", m.eventsLogged.Load())
	p("# HELP threadline_relay_group_commits_total eventlog.Log transactions (one journal sync each).\n")
	p("# TYPE threadline_relay_group_commits_total counter\n")
	p("threadline_relay_group_commits_total %d\n", m.groupCommits.Load())
	p("# HELP threadline_relay_commit_retries_total Groups validated again because another relay appended first (shared log only).\n")
	p("# TYPE threadline_relay_commit_retries_total counter\n")
	p("threadline_relay_commit_retries_total %d\n", m.commitRetries.Load())
	p("# HELP threadline_relay_events_followed_total Events other relays logged, fanned out by this one (shared log only).\n")
	p("# TYPE threadline_relay_events_followed_total counter\n")
	p("threadline_relay_events_followed_total %d\n", m.eventsFollowed.Load())
	p("# HELP threadline_relay_pushes_total Push frames answered with an ack.\n")
	p("# TYPE threadline_relay_pushes_total counter\n")
	p("threadline_relay_pushes_total %d\n", m.pushes.Load())
	p("# HELP threadline_relay_slow_reader_disconnects_total Connections closed because their send queue was full.\n")
	p("# TYPE threadline_relay_slow_reader_disconnects_total counter\n")
	p("threadline_relay_slow_reader_disconnects_total %d\n", m.slowDisconnects.Load())

	p("# HELP threadline_relay_rejections_total Rejected events and refused frames, by error code.\n")
	p("# TYPE threadline_relay_rejections_total counter\n")
	m.rejMu.Lock()
	codes := make([]string, 0, len(m.rejections))
	for c := range m.rejections {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		p("threadline_relay_rejections_total{code=%q} %d\n", c, m.rejections[c])
	}
	m.rejMu.Unlock()

	m.ackLatency.write(w, "threadline_relay_push_ack_seconds", "Time from a push frame's arrival to its ack being queued.")
	m.commitTime.write(w, "threadline_relay_commit_seconds", "Time to write one group commit to the log, fsync included.")
	m.api.write(w)
	if m.more != nil {
		m.more(w)
	}
}

func (h *histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(b, 'g', -1, 64), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", name, cum)
	fmt.Fprintf(w, "%s_sum %s\n", name, strconv.FormatFloat(float64(h.sumNs.Load())/1e9, 'g', -1, 64))
	fmt.Fprintf(w, "%s_count %d\n", name, cum)
}

func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w)
	})
}
