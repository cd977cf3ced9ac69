package relay

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// apiMetrics count the HTTP API's requests, by route and status, and time
// them (from routing to the answer written).
type apiMetrics struct {
	mu       sync.Mutex
	requests map[apiMetricKey]uint64
	latency  histogram
}

type apiMetricKey struct {
	op     string // the route's operationId; "unrouted" for no route
	status int
}

func newAPIMetrics() apiMetrics {
	return apiMetrics{requests: map[apiMetricKey]uint64{}, latency: newHistogram(latencyBuckets)}
}

func (m *apiMetrics) observe(op string, status int, d time.Duration) {
	m.mu.Lock()
	m.requests[apiMetricKey{op, status}]++
	m.mu.Unlock()
	m.latency.observe(d)
}

func (m *apiMetrics) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP threadline_relay_api_requests_total HTTP API requests answered, by route (operationId) and status.\n")
	fmt.Fprintf(w, "# TYPE threadline_relay_api_requests_total counter\n")
	m.mu.Lock()
	keys := make([]apiMetricKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].op != keys[j].op {
			return keys[i].op < keys[j].op
		}
		return keys[i].status < keys[j].status
	})
	for _, k := range keys {
		fmt.Fprintf(w, "threadline_relay_api_requests_total{route=%q,status=\"%d\"} %d\n", k.op, k.status, m.requests[k])
	}
	m.mu.Unlock()
	m.latency.write(w, "threadline_relay_api_request_seconds", "Time to answer one HTTP API request.")
}
