package monitor

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestPredBucketSize holds a bucket to one cache line: an insert then
// costs one miss.
func TestPredBucketSize(t *testing.T) {
	if n := unsafe.Sizeof(predBucket{}); n != 64 {
		t.Fatalf("predBucket is %d bytes; want 64, one cache line", n)
	}
}

// TestPredictions checks the table of recent predictions: what is added
// can be peeked and removed once; a full bucket evicts its oldest entry
// and remembers it as expired; the table keeps at least its capacity
// while nothing collides, and most of it under random ids, and tells
// most recently evicted ids from ids it never saw.
func TestPredictions(t *testing.T) {
	// Ids spread over the tag's bits, as hashes are; 0 is a hash too.
	id := func(i uint64) uint64 { return i * 0x9e3779b97f4a7c15 }
	tb := newPredictions(4)
	for i := uint64(10); i < 16; i++ {
		tb.add(id(i), prediction{version: int32(i), value: float64(i) / 2})
	}
	for i := uint64(10); i < 16; i++ {
		if want := i < 12; tb.expired(id(i)) != want {
			t.Fatalf("expired(%d) = %v; want the two oldest, 10 and 11, expired", i, !want)
		}
	}
	for i := uint64(12); i < 16; i++ {
		p, ok := tb.peek(id(i))
		if !ok || p.version != int32(i) || p.value != float64(i)/2 {
			t.Fatalf("peek(%d) = %+v, %v", i, p, ok)
		}
	}
	if tb.peek2(id(11)) {
		t.Fatal("an evicted prediction is still there")
	}
	if !tb.remove(id(13)) || tb.remove(id(13)) {
		t.Fatal("remove(13) should succeed once")
	}
	if tb.expired(id(13)) {
		t.Fatal("a labelled prediction reads as expired")
	}
	tb.add(0, prediction{value: 3}) // takes the removed entry's place: no eviction
	if p, ok := tb.peek(0); !ok || p.value != 3 || tb.expired(id(12)) {
		t.Fatalf("hash 0: %+v %v, or it evicted 12", p, ok)
	}
	tb.add(id(14), prediction{value: 7}) // an id seen again replaces its entry
	if p, _ := tb.peek(id(14)); p.value != 7 || tb.expired(id(12)) {
		t.Fatalf("re-adding 14: %+v, or it evicted 12", p)
	}
	tb.add(id(16), prediction{}) // full again: the oldest, 12, goes
	if !tb.expired(id(12)) || !tb.peek2(0) || !tb.peek2(id(14)) || !tb.peek2(id(15)) || !tb.peek2(id(16)) {
		t.Fatal("adding 16 to a full bucket should evict 12 and only 12")
	}

	// Random ids: a table of capacity n keeps most of the last n, and
	// recognises most of the ids it evicted last.
	const n = 1 << 14
	big := newPredictions(n)
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, 3*n)
	for i := range ids {
		ids[i] = r.Uint64()
		big.add(ids[i], prediction{value: float64(i)})
	}
	kept, expired := 0, 0
	for _, h := range ids[2*n:] {
		if big.peek2(h) {
			kept++
		}
	}
	for _, h := range ids[n : 2*n] {
		if big.expired(h) {
			expired++
		}
	}
	t.Logf("kept %d of the last %d predictions; %d of the %d before them read as expired", kept, n, expired, n)
	if kept < n*8/10 {
		t.Errorf("kept %d of the last %d predictions; want most", kept, n)
	}
	if expired < n*8/10 {
		t.Errorf("%d of the %d predictions evicted last read as expired; want most", expired, n)
	}
	// Ids never added: none is found; a ghost keeps 16 bits of a tag, so
	// about one in six thousand reads as expired.
	found, ghosts := 0, 0
	for range n {
		h := r.Uint64()
		if big.peek2(h) {
			found++
		}
		if big.expired(h) {
			ghosts++
		}
	}
	if found > 0 || ghosts > n/1000 {
		t.Errorf("of %d ids never added, %d were found and %d read as expired", n, found, ghosts)
	}
	if n := testing.AllocsPerRun(100, func() { big.add(r.Uint64(), prediction{}) }); n != 0 {
		t.Errorf("add allocates %v times", n)
	}
}

// peek2 is peek's found flag, for conditions.
func (t *predictions) peek2(h uint64) bool {
	_, ok := t.peek(h)
	return ok
}

func BenchmarkPredictionsAdd(b *testing.B) {
	tb := newPredictions(200000)
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		tb.add(r.Uint64(), prediction{value: 1})
	}
}
