// Package hoprate is the load the hop-latency benchmarks put on a relay
// and on JetStream alone: events per second, from how many senders.
package hoprate

import (
	"fmt"
	"os"
	"strconv"
)

// Default is the benchmarks' rate: events per second.
const Default = 1000

// perSender keeps each sender within the protocol's 50 events/s a contact
// may push.
const perSender = 40

// Get returns the rate set by $THREADLINE_HOP_RATE (events per second;
// Default when unset) and the senders that share it: 20, or more so that
// none sends over 40 a second.
func Get() (rate, senders int, err error) {
	rate = Default
	if v := os.Getenv("THREADLINE_HOP_RATE"); v != "" {
		if rate, err = strconv.Atoi(v); err != nil || rate < 1 {
			return 0, 0, fmt.Errorf("hoprate: THREADLINE_HOP_RATE=%q: want events per second", v)
		}
	}
	return rate, max(20, (rate+perSender-1)/perSender), nil
}
