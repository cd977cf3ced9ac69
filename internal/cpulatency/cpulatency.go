// Package cpulatency keeps a machine's CPUs out of deep idle states while a
// server is busy, through Linux's PM QoS CPU latency request
// (/dev/cpu_dma_latency).
//
// A CPU woken from a halt costs tens of microseconds before it runs
// anything; in a virtual machine, whose halted vCPU the host must schedule
// again, more (40–60 µs on the 2-vCPU machines this was measured on). A
// relay's push crosses several such wakes: the read, the journal's sync, the
// fan-out's write, the receiving device's read. Holding a zero latency
// request makes idle CPUs poll instead of halting, which removes that cost,
// but a polling CPU is a busy CPU: the request is held only while the
// server reports work, and dropped after a quiet spell.
package cpulatency

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Device is the PM QoS CPU latency request device.
const Device = "/dev/cpu_dma_latency"

// ErrUnsupported is returned where the request cannot be made (not Linux,
// or no device).
var ErrUnsupported = errors.New("cpulatency: PM QoS CPU latency requests are not supported here")

// Hold holds a zero CPU latency request while Busy is called, and drops it
// once Busy has not been called for the quiet spell it was started with.
type Hold struct {
	quiet time.Duration
	lg    *slog.Logger

	busy atomic.Bool   // Busy was called since the last look
	held atomic.Bool   // the request is held
	wake chan struct{} // Busy → the holder, when not held
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start checks that the request can be made (it opens the device once) and
// starts the holder. quiet is how long without Busy before the request is
// dropped. lg receives the holder's failures; nil discards them.
func Start(quiet time.Duration, lg *slog.Logger) (*Hold, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	f, err := request()
	if err != nil {
		return nil, err
	}
	f.Close()
	h := &Hold{quiet: quiet, lg: lg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	return h, nil
}

// Busy reports work: the request is (or soon will be) held. It is cheap
// enough to call for every unit of work.
func (h *Hold) Busy() {
	if h == nil {
		return
	}
	h.busy.Store(true)
	if !h.held.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// Held reports whether the request is held now.
func (h *Hold) Held() bool { return h != nil && h.held.Load() }

// Close drops the request and stops the holder.
func (h *Hold) Close() {
	if h == nil {
		return
	}
	h.once.Do(func() { close(h.stop) })
	<-h.done
}

func (h *Hold) run() {
	defer close(h.done)
	var f *os.File
	drop := func() {
		if f != nil {
			f.Close() // closing the device drops the request
			f = nil
			h.held.Store(false)
		}
	}
	defer drop()
	tick := time.NewTicker(h.quiet / 4)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-h.stop:
			return
		case <-h.wake:
		case <-tick.C:
		}
		now := time.Now()
		if h.busy.Swap(false) {
			last = now
			if f == nil {
				var err error
				if f, err = request(); err != nil {
					h.lg.Warn("cpu latency request", "err", err)
					continue
				}
				h.held.Store(true)
			}
		} else if f != nil && now.Sub(last) >= h.quiet {
			drop()
		}
	}
}

// request opens the device and asks for a zero latency: held until the
// file is closed.
func request() (*os.File, error) {
	f, err := os.OpenFile(Device, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, fmt.Errorf("cpulatency: %w", err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 0}); err != nil { // an int32 0, in any byte order
		f.Close()
		return nil, fmt.Errorf("cpulatency: request 0 µs: %w", err)
	}
	return f, nil
}

// Current reads the latency limit in force on the machine, in microseconds
// (every holder's request combined; 2,000,000,000 when none).
func Current() (int32, error) {
	b, err := os.ReadFile(Device)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrUnsupported
	}
	if err != nil {
		return 0, fmt.Errorf("cpulatency: %w", err)
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("cpulatency: read %d bytes from %s", len(b), Device)
	}
	return int32(binary.NativeEndian.Uint32(b)), nil
}
