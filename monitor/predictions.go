package monitor

import "sync"

// predictions keeps the recent sampled predictions that late labels join,
// keyed by the request id's hash: a set-associative table of 4-entry
// buckets, where an insert into a full bucket evicts that bucket's oldest
// entry. It replaces golang-lru/v2 here because the aggregator inserts one
// entry per sampled request: the LRU's map, list element and eviction cost
// 0.8 µs per insert at 100,000 entries (4% of a core at 49k req/s, most of
// the monitor's cost on the fraud model), against one bucket, one cache
// line or two, no allocation. Labels only peek and remove, never refresh,
// so first-in-first-out per bucket is what the LRU did; across buckets the
// table keeps roughly, not exactly, the last capacity predictions.
type predictions struct {
	mu      sync.Mutex
	buckets []predBucket
	shift   uint // bucket = hash >> shift: the high bits, apart from the expired table's low ones
	seq     uint64
	evicted func(h uint64)
}

const predWays = 4

type predEntry struct {
	hash uint64 // 0: empty
	seq  uint64 // insertion order, for eviction
	p    prediction
}

type predBucket [predWays]predEntry

// newPredictions holds at least capacity entries (rounded up to a power of
// two, at least one bucket) and calls evicted with the hash of each entry
// pushed out by a newer one.
func newPredictions(capacity int, evicted func(h uint64)) *predictions {
	n, bits := 1, uint(0)
	for n*predWays < capacity {
		n *= 2
		bits++
	}
	return &predictions{buckets: make([]predBucket, n), shift: 64 - bits, evicted: evicted}
}

func (t *predictions) bucket(h uint64) *predBucket {
	if t.shift == 64 {
		return &t.buckets[0]
	}
	return &t.buckets[h>>t.shift]
}

// key maps the hash 0, which marks empty entries, to another value.
func key(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (t *predictions) add(h uint64, p prediction) {
	h = key(h)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	b := t.bucket(h)
	victim := 0
	for i := range b {
		e := &b[i]
		if e.hash == h || e.hash == 0 {
			*e = predEntry{hash: h, seq: t.seq, p: p}
			return
		}
		if e.seq < b[victim].seq {
			victim = i
		}
	}
	old := b[victim].hash
	b[victim] = predEntry{hash: h, seq: t.seq, p: p}
	if t.evicted != nil {
		t.evicted(old)
	}
}

// find returns h's entry, or nil; the caller holds mu.
func (t *predictions) find(h uint64) *predEntry {
	b := t.bucket(h)
	for i := range b {
		if b[i].hash == h {
			return &b[i]
		}
	}
	return nil
}

func (t *predictions) peek(h uint64) (prediction, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.find(key(h)); e != nil {
		return e.p, true
	}
	return prediction{}, false
}

// remove deletes h's entry and reports whether it was there; it is not an
// eviction.
func (t *predictions) remove(h uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.find(key(h))
	if e != nil {
		*e = predEntry{}
	}
	return e != nil
}
