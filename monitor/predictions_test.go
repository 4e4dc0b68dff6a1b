package monitor

import (
	"math/rand/v2"
	"testing"
)

// TestPredictions checks the table of recent predictions: what is added
// can be peeked and removed once; a full bucket evicts its oldest entry
// and says so; the table keeps at least its capacity while nothing
// collides, and most of it under random ids.
func TestPredictions(t *testing.T) {
	var evicted []uint64
	tb := newPredictions(4, func(h uint64) { evicted = append(evicted, h) })
	for h := uint64(0); h < 6; h++ {
		tb.add(h+10, prediction{version: int32(h), value: float64(h) / 2})
	}
	if len(evicted) != 2 || evicted[0] != 10 || evicted[1] != 11 {
		t.Fatalf("evicted %v; want the two oldest, [10 11]", evicted)
	}
	for h := uint64(2); h < 6; h++ {
		p, ok := tb.peek(h + 10)
		if !ok || p.version != int32(h) || p.value != float64(h)/2 {
			t.Fatalf("peek(%d) = %+v, %v", h+10, p, ok)
		}
	}
	if _, ok := tb.peek(11); ok {
		t.Fatal("an evicted prediction is still there")
	}
	if !tb.remove(13) || tb.remove(13) {
		t.Fatal("remove(13) should succeed once")
	}
	tb.add(0, prediction{value: 3}) // takes the removed entry's place: no eviction; 0 is a hash too
	if p, ok := tb.peek(0); !ok || p.value != 3 || len(evicted) != 2 {
		t.Fatalf("hash 0: %+v %v, evictions %v", p, ok, evicted)
	}
	tb.add(14, prediction{value: 7}) // an id seen again replaces its entry
	if p, _ := tb.peek(14); p.value != 7 || len(evicted) != 2 {
		t.Fatalf("re-adding 14: %+v, evictions %v", p, evicted)
	}

	// Random ids: a table of capacity n keeps most of the last n.
	const n = 1 << 14
	evictions := 0
	big := newPredictions(n, func(uint64) { evictions++ })
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, 3*n)
	for i := range ids {
		ids[i] = r.Uint64()
		big.add(ids[i], prediction{value: float64(i)})
	}
	kept := 0
	for _, h := range ids[2*n:] {
		if _, ok := big.peek(h); ok {
			kept++
		}
	}
	t.Logf("kept %d of the last %d predictions", kept, n)
	if kept < n*8/10 {
		t.Errorf("kept %d of the last %d predictions; want most", kept, n)
	}
	// Every insert beyond the entries evicts, give or take the few
	// entries of buckets that random ids have not filled yet.
	if evictions < 2*n || evictions > 2*n+n/100 {
		t.Errorf("%d evictions after %d inserts into %d entries", evictions, 3*n, n)
	}
	if n := testing.AllocsPerRun(100, func() { big.add(r.Uint64(), prediction{}) }); n != 0 {
		t.Errorf("add allocates %v times", n)
	}
}

func BenchmarkPredictionsAdd(b *testing.B) {
	tb := newPredictions(100000, func(uint64) {})
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		tb.add(r.Uint64(), prediction{value: 1})
	}
}
