// Package bounded provides a map that holds at most a given number of
// entries: a cache of what a durable store already holds.
package bounded

// Map holds at most max entries, dropping an arbitrary one (Go's map order
// is random) to make room. It caches what a log already holds, so a dropped
// entry is only re-read. Not safe for concurrent use: callers lock around
// it.
type Map[K comparable, V any] struct {
	m   map[K]V
	max int
}

// NewMap returns an empty Map of at most max entries.
func NewMap[K comparable, V any](max int) *Map[K, V] {
	return &Map[K, V]{m: make(map[K]V), max: max}
}

// Get returns k's value, if held.
func (b *Map[K, V]) Get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

// Put holds v for k, dropping another entry when the map is full.
func (b *Map[K, V]) Put(k K, v V) {
	if _, ok := b.m[k]; !ok && len(b.m) >= b.max {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}
