package monitor

import (
	goruntime "runtime"
	"sync"
)

// predictions keeps the recent sampled predictions that late labels join,
// keyed by the request id's hash: a set-associative table of 4-entry
// buckets, where an insert into a full bucket evicts that bucket's oldest
// entry. It replaces golang-lru/v2 here because the aggregator inserts one
// entry per sampled request: the LRU's map, list element and eviction cost
// 0.8 µs per insert at 100,000 entries (4% of a core at 49k req/s, most of
// the monitor's cost on the fraud model). Labels only peek and remove,
// never refresh, so first-in-first-out per bucket is what the LRU did;
// across buckets the table keeps roughly, not exactly, the last capacity
// predictions.
//
// A bucket is one 64-byte cache line: at a few hundred thousand entries
// the table is megabytes, so every insert lands on a line nobody touched
// lately, and the miss is the cost (two lines and a separate table of
// evicted ids cost 2.5% of the core in the fraud model's profile). The
// line also remembers the tags of the bucket's last evictions, which is
// how Feedback tells a label that came too late (410) from an id never
// seen (404) without a second table. The buckets lie on huge pages
// (hugeSlice), so that the miss is not also a page walk.
type predictions struct {
	mu      sync.Mutex
	buckets []predBucket
	shift   uint // bucket = hash >> shift: the high bits; the tag is the low ones
}

const (
	predWays   = 4
	predGhosts = 10
)

// predBucket is one cache line (TestPredBucketSize). A tag is the low 32
// bits of an id's hash, 0 for an empty entry: with the bucket's index,
// about 48 bits of the hash tell ids apart, so a label finds another id's
// prediction with odds of one in a billion. Values are float32, exact for
// class indices and within 1e-7 relative for regression values. Ghosts
// keep 16 bits of an evicted tag: an id never seen reads as expired with
// odds of one in six thousand, which only changes its error's wording,
// and ten of them remember about the last 2.5 table-fulls of evictions.
type predBucket struct {
	tags     [predWays]uint32
	values   [predWays]float32
	versions [predWays]uint16
	ghosts   [predGhosts]uint16 // ghostTag of the latest evictions, round robin
	next     uint8              // the entry the next eviction takes: the oldest
	ghost    uint8              // the ghost the next eviction overwrites
	_        [2]byte
}

// newPredictions holds at least capacity entries (rounded up to a power of
// two, at least one bucket).
func newPredictions(capacity int) *predictions {
	n, bits := 1, uint(0)
	for n*predWays < capacity {
		n *= 2
		bits++
	}
	t := &predictions{shift: 64 - bits}
	t.buckets = hugeSlice[predBucket](t, n)
	return t
}

// locate returns h's bucket and tag.
func (t *predictions) locate(h uint64) (*predBucket, uint32) {
	tag := uint32(h)
	if tag == 0 {
		tag = 1
	}
	if t.shift == 64 {
		return &t.buckets[0], tag
	}
	return &t.buckets[h>>t.shift], tag
}

func (t *predictions) add(h uint64, p prediction) {
	t.mu.Lock()
	t.insert(h, p)
	t.mu.Unlock()
}

// keptPrediction is a prediction on its way into the table.
type keptPrediction struct {
	h uint64
	p prediction
}

// addAll adds a batch of predictions under one lock: the aggregator's
// drains add a batch at a time, which spares each sample a lock and an
// unlock (two locked instructions, a barrier each), and a late label
// waits at most a batch.
func (t *predictions) addAll(ks []keptPrediction) {
	t.mu.Lock()
	for i := range ks {
		t.insert(ks[i].h, ks[i].p)
	}
	t.mu.Unlock()
}

// insert is add under t.mu.
func (t *predictions) insert(h uint64, p prediction) {
	b, tag := t.locate(h)
	slot := -1
	for i, x := range b.tags {
		if x == tag {
			slot = i // an id seen again replaces its entry
			break
		}
		if x == 0 && slot < 0 {
			slot = i // a labelled entry's place
		}
	}
	if slot < 0 {
		slot = int(b.next)
		b.next = (b.next + 1) % predWays
		b.ghosts[b.ghost] = ghostTag(b.tags[slot])
		b.ghost = (b.ghost + 1) % predGhosts
	}
	b.tags[slot] = tag
	b.values[slot] = float32(p.value)
	b.versions[slot] = uint16(p.version)
}

// touch loads h's bucket line, so that add finds it in cache: the
// aggregator touches a batch of buckets first, and their misses overlap
// instead of each stalling its insert. It reads next, which only add
// writes, from the aggregator's own goroutine, so it needs no lock. The
// value is meaningless; the caller keeps it only so the load is not
// compiled away.
func (t *predictions) touch(h uint64) uint32 {
	b, _ := t.locate(h)
	next := b.next
	goruntime.KeepAlive(t) // the buckets are t's memory (see hugeSlice)
	return uint32(next)
}

// ghostTag is the high half of a tag, never 0 (an unused ghost).
func ghostTag(tag uint32) uint16 {
	return max(uint16(tag>>16), 1)
}

// find returns the index of h's entry in b, or -1; the caller holds mu.
func (b *predBucket) find(tag uint32) int {
	for i, x := range b.tags {
		if x == tag {
			return i
		}
	}
	return -1
}

func (t *predictions) peek(h uint64) (prediction, bool) {
	b, tag := t.locate(h)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := b.find(tag); i >= 0 {
		return prediction{version: int32(b.versions[i]), value: float64(b.values[i])}, true
	}
	return prediction{}, false
}

// remove deletes h's entry and reports whether it was there; it is not an
// eviction.
func (t *predictions) remove(h uint64) bool {
	b, tag := t.locate(h)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := b.find(tag)
	if i >= 0 {
		b.tags[i] = 0
	}
	return i >= 0
}

// expired reports whether h's prediction was among its bucket's latest
// evictions: a table of n entries recognises most of the last 2.5n
// evicted ids (more when labels free entries first).
func (t *predictions) expired(h uint64) bool {
	b, tag := t.locate(h)
	t.mu.Lock()
	defer t.mu.Unlock()
	g := ghostTag(tag)
	for _, x := range b.ghosts {
		if x == g {
			return true
		}
	}
	return false
}
