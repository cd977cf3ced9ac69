package relay

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
)

// BenchmarkFileUpload: PUT a 10 MiB file to a relay on loopback, each one
// new (stored: hashed while written, fdatasynced, renamed, folder and refs
// synced, then answered 201), or one stored already ("again": read and
// hashed only, 200), one at a time. MB/s is the upload's throughput, the
// client's HTTP included.
//
//	go test -run '^$' -bench BenchmarkFileUpload -benchtime 20x ./sync/relay/
func BenchmarkFileUpload(b *testing.B) {
	const size = 10 << 20
	base := bytes.Repeat([]byte("2026-12-01T09:30:00Z node-7 disk latency 48ms above the threshold\n"), size/66+1)[:size]
	for _, d := range benchDirs() {
		b.Run(d.name, func(b *testing.B) {
			dir := d.dir(b)
			blobs, err := OpenDiskBlobs(filepath.Join(dir, "files"))
			if err != nil {
				b.Fatal(err)
			}
			r := &testRelay{t: b, dir: filepath.Join(dir, "log"), conf: apiConfig}
			r.opts.Blobs = blobs
			r.start()
			b.Cleanup(r.stop)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			put := func(url string, data []byte, want ...int) {
				req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
				req.Header.Set("Authorization", "Bearer "+tokAPI)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if !slices.Contains(want, res.StatusCode) {
					b.Fatalf("PUT = %d; want %v", res.StatusCode, want)
				}
			}
			files := uint64(0)
			b.Run("new", func(b *testing.B) {
				data := bytes.Clone(base)
				b.SetBytes(size)
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					files++
					binary.BigEndian.PutUint64(data[24:], files) // another file each time
					url := r.fileURL(testWS, shaHex(data))       // the client hashes before it uploads
					b.StartTimer()
					put(url, data, http.StatusCreated)
				}
			})
			b.Run("again", func(b *testing.B) {
				url := r.fileURL(testWS, shaHex(base))
				put(url, base, http.StatusCreated, http.StatusOK)
				b.SetBytes(size)
				b.ResetTimer()
				for range b.N {
					put(url, base, http.StatusOK)
				}
			})
		})
	}
}
