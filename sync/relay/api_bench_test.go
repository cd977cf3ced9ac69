package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAPICreateConversation measures the HTTP API's create-conversation
// latency on the embedded log: a website's backend creates conversations
// with a first message and an attribute at 100 requests a second (paced,
// open loop: each request leaves at its tick whether or not the one before
// has been answered), over keep-alive connections, from this process. One
// op is one request, timed from its send to its answer read; each answer
// is durable (one group commit, fsync included). Run it with
//
//	go test -run '^$' -bench BenchmarkAPICreateConversation -benchtime 2000x ./sync/relay/
func BenchmarkAPICreateConversation(b *testing.B) {
	for _, d := range benchDirs() {
		b.Run(d.name, func(b *testing.B) {
			r := &testRelay{t: b, dir: d.dir(b), conf: apiConfig}
			r.opts.RatePerSecond, r.opts.RateBurst = 1e6, 1e6 // the benchmark's rate is the limit
			r.start()
			b.Cleanup(r.stop)
			benchAPICreate(b, r.hs.URL)
		})
	}
}

func benchAPICreate(b *testing.B, base string) {
	const rate = 100
	url := base + "/v1/api/workspaces/" + testWS + "/conversations"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	defer client.CloseIdleConnections()
	create := func(i int) (time.Duration, error) {
		body := fmt.Appendf(nil, `{"contact":"c%d","message":"I need some help with invoice %d","attributes":{"plan":"pro"}}`, i%50, i)
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tokAPI)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		el := time.Since(t0)
		if err == nil && res.StatusCode != http.StatusCreated {
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		return el, err
	}
	// Warm up: connections, caches.
	for i := range 20 {
		if _, err := create(-1 - i); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed sync.Once
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := create(i)
			if err != nil {
				failed.Do(func() { b.Error(err) })
			}
			lat[i] = d
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
