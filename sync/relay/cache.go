package relay

// boundedMap is a map that holds at most max entries, dropping an arbitrary
// one (Go's map order is random) to make room. It caches what the log
// already holds, so a dropped entry is only re-read. Not safe for concurrent
// use: callers lock around it.
type boundedMap[K comparable, V any] struct {
	m   map[K]V
	max int
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{m: make(map[K]V), max: max}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	if _, ok := b.m[k]; !ok && len(b.m) >= b.max {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}
