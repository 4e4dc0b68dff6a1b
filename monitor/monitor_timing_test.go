package monitor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

// fraudModel is a fraud-like model's monitor state: input [N, 30] FP32,
// output [N, 2] FP32, 4096 slots of slotRows rows. Nothing runs.
func fraudModel(b testing.TB, slotRows int) *model {
	m := New("", nil)
	a, err := m.newModel("fraud", Config{SampleRate: 1, SlotRows: slotRows}.WithDefaults(), []VersionSpec{fraudSpec("")})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// samples returns n distinct fraud-like samples (own buffers).
func samples(n int) []*Sample {
	g := newStream(42)
	out := make([]*Sample, n)
	for i := range out {
		s := *g.next()
		s.RequestID = append([]byte(nil), s.RequestID...)
		s.Inputs = []Tensor{s.Inputs[0]}
		s.Inputs[0].Data = append([]byte(nil), s.Inputs[0].Data...)
		s.Outputs = []Tensor{s.Outputs[0]}
		s.Outputs[0].Data = append([]byte(nil), s.Outputs[0].Data...)
		out[i] = &s
	}
	return out
}

func drainRings(t *Tap) {
	for _, r := range t.stripes {
		for s := r.next(); s != nil; s = r.next() {
			r.releaseN(1)
		}
	}
}

// BenchmarkTapPush is one request thread pushing a 30-feature fraud
// sample (input [1, 30] FP32, output [1, 2] FP32) into a ring with room:
// the request path's cost of a sampled request. Every 1024 pushes the
// rings are emptied inline, so ns/op includes the consumer's release of
// each slot, which runs on the aggregator, not the request path: push-ns
// leaves those drains out (timed apart: the timer's stop and start read
// the allocation counters, which would cost more than they leave out).
// Slots of 1 and 8 rows show what ring size costs once it outgrows the
// cache.
func BenchmarkTapPush(b *testing.B) {
	for _, rows := range []int{1, 8} {
		b.Run("slot_rows="+strconv.Itoa(rows), func(b *testing.B) {
			tap := fraudModel(b, rows).tap
			ss := samples(1024)
			b.ReportAllocs()
			b.ResetTimer()
			var draining time.Duration
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if i&1023 == 1023 {
					t0 := time.Now()
					drainRings(tap)
					draining += time.Since(t0)
				}
				tap.Push(ss[i&1023])
			}
			b.ReportMetric(float64((time.Since(start)-draining).Nanoseconds())/float64(b.N), "push-ns")
			b.StopTimer()
			if full, large, invalid := tap.Dropped(); full+large+invalid != 0 {
				b.Fatalf("dropped %d %d %d", full, large, invalid)
			}
		})
	}
}

// BenchmarkRingHandoff is the hand-off alone: claim (compare-and-swap),
// publish (an atomic store), and the consumer's release (another): the
// floor under BenchmarkTapPush, paid in fences rather than work.
func BenchmarkRingHandoff(b *testing.B) {
	r := newRing(4096, 2, 128)
	for i := 0; i < b.N; i++ {
		s, pos, ok := r.claim()
		if !ok {
			b.Fatal("full")
		}
		s.publish(pos)
		r.releaseN(1)
	}
}

// BenchmarkTapPushParallel pushes from every P while one goroutine empties
// the rings (without folding): contention on the tails, slots moving
// between cores, and the drop rate when producers outrun a consumer.
func BenchmarkTapPushParallel(b *testing.B) {
	tap := fraudModel(b, 1).tap
	ss := samples(1024)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		for !stop.Load() {
			drainRings(tap)
		}
		close(done)
	}()
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1) * 97
		for pb.Next() {
			tap.Push(ss[i&1023])
			i++
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
	full, _, _ := tap.Dropped()
	b.ReportMetric(float64(full)/float64(b.N), "dropped/op")
}

func BenchmarkTapSampled(b *testing.B) {
	tap := newTap(0.1, []string{"1"}, []tensorSpec{{name: "x", max: 4}}, 1, 64, 4)
	id := []byte("7f3c2a8e-5b1d-4c9a-8e2f-1a2b3c4d5e6f")
	n := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if tap.Sampled(id) {
			n++
		}
	}
	_ = n
}

// filled is a published slot and its contents, for folding again and
// again.
type filled struct {
	s    *slot
	meta []slotTensor
	data []byte
}

// fill pushes n samples into a's rings and returns the published slots.
func fill(a *model, n int) []filled {
	for _, s := range samples(n) {
		if !a.tap.Push(s) {
			break
		}
	}
	var out []filled
	for _, r := range a.tap.stripes {
		for pos := r.freed.Load(); ; pos++ {
			s := &r.slots[pos&r.mask]
			if s.seq.Load() != pos+1 {
				break
			}
			meta, data := r.view(pos)
			out = append(out, filled{s, meta, data})
		}
	}
	return out
}

// learnedFraudModel is a fraud model whose reference is complete, with
// the samples it learnt from, for benchmarks of the steady state.
func learnedFraudModel(b testing.TB) (*model, []filled) {
	a := fraudModel(b, 1)
	fs := fill(a, 4096)
	a.now = time.Now()
	for i := 0; i < a.cfg.ReferenceSize; i++ {
		f := fs[i%len(fs)]
		a.fold(f.s, f.meta, f.data)
	}
	return a, fs
}

// BenchmarkAggregate folds 30-feature samples as the aggregator does:
// decode, 32 sketch insertions, the predicted class, the prediction kept
// for labels, and a window compared with the reference every 1000
// samples. The reference is learnt first, so this is the steady state.
func BenchmarkAggregate(b *testing.B) {
	a, fs := learnedFraudModel(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		f := fs[i%len(fs)]
		a.fold(f.s, f.meta, f.data)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkAggregateSpan is BenchmarkAggregate for requests that a
// batched run pushed together (Tap.PushRun): spans of 28 one-row
// requests, the fraud model's mean batch at 64 connections on one core,
// each folded at once. ns/op and samples/s are per request.
func BenchmarkAggregateSpan(b *testing.B) {
	const members = 28
	a, _ := learnedFraudModel(b)
	drainRings(a.tap)
	ss := samples(members * 64)
	type head struct {
		r   *ring
		s   *slot
		pos uint64
	}
	var heads []head
	for i := 0; i+members <= len(ss); i += members {
		run := &Sample{Version: "1", Inputs: []Tensor{{Name: "input", DataType: rt.FP32, Shape: []int64{members, 30}}},
			Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{members, 2}}}}
		var ms []Member
		for _, s := range ss[i : i+members] {
			run.Inputs[0].Data = append(run.Inputs[0].Data, s.Inputs[0].Data...)
			run.Outputs[0].Data = append(run.Outputs[0].Data, s.Outputs[0].Data...)
			ms = append(ms, Member{RequestID: s.RequestID, Latency: s.Latency, Rows: 1, Sampled: true})
		}
		r := a.tap.stripes[0]
		pos := r.tail.Load()
		if a.tap.PushRun(run, ms) != members || r.slots[pos&r.mask].span != members {
			b.Fatal("the run was not pushed as one span")
		}
		heads = append(heads, head{r, &r.slots[pos&r.mask], pos})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += members {
		h := heads[(i/members)%len(heads)]
		a.foldSpan(h.r, h.s, h.pos)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkAggregateCold drains samples as a busy gateway's aggregator
// does: a drain's worth (40, a millisecond of the fraud model on one core)
// pushed, then drained, with the serving core's other work in between,
// here a sweep over 2 MiB, which leaves the monitor's lines out of the
// near caches. Only the drains are timed: this is the per-sample cost
// that end-to-end profiles show, where BenchmarkAggregate, whose lines
// stay in cache, is the floor.
func BenchmarkAggregateCold(b *testing.B) {
	a, _ := learnedFraudModel(b)
	drainRings(a.tap)
	ss := samples(8192)
	other := make([]uint64, 2<<20/8)
	const drained = 40
	var draining time.Duration
	var sink uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += drained {
		for k := i; k < min(i+drained, b.N); k++ {
			a.tap.Push(ss[k%len(ss)])
		}
		for j := range other {
			other[j] += uint64(j)
		}
		sink += other[i%len(other)]
		start := time.Now()
		a.drain()
		draining += time.Since(start)
	}
	b.ReportMetric(float64(draining.Nanoseconds())/float64(b.N), "drain-ns/sample")
	_ = sink
}

// BenchmarkSketchAdd is one value into a feature's sketch (transform
// and insertion).
func BenchmarkSketchAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	f := newFeature(newGrid(), "x", false)
	for _, x := range xs {
		f.add(x)
	}
	f.setReady()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.add(xs[i&4095])
	}
}

// BenchmarkWindowClose compares a 1000-row, 30-feature window with its
// reference (the 32 comparisons a window costs; BenchmarkAggregate
// includes them, amortized). The window's staged rows are counted before
// the timer starts: BenchmarkAggregate has that too.
func BenchmarkWindowClose(b *testing.B) {
	a, fs := learnedFraudModel(b)
	v := a.versions[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range a.cfg.WindowSize - 1 {
			f := fs[j%len(fs)]
			a.fold(f.s, f.meta, f.data)
		}
		v.flush(false)
		b.StartTimer()
		a.closeWindow(v)
	}
}

// BenchmarkCompareNumeric is one feature's window comparison: a
// 10,000-row reference against a 1,000-row window of the same normal
// distribution, about 850 bucket positions in use.
func BenchmarkCompareNumeric(b *testing.B) {
	g := newGrid()
	r := rand.New(rand.NewPCG(1, 2))
	ref, cur := newSketch(g), newSketch(g)
	for range 10000 {
		ref.add(r.NormFloat64())
	}
	for range 1000 {
		cur.add(r.NormFloat64())
	}
	sum := summarize(ref)
	var d FeatureDrift
	b.ReportAllocs()
	for b.Loop() {
		compareNumeric(&d, sum, cur, 30, thresholds{0.1, 0.1, 0.05})
	}
}

// BenchmarkAddColumn counts a staged column of 1,024 standard normal
// values (a feature's share of a full stage): positions, then counts.
// ns/value is what one value of a fraud sample costs there.
func BenchmarkAddColumn(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 1024)
	for i := range xs {
		xs[i] = float32(r.NormFloat64()*3 + 10)
	}
	s := newSketch(newGrid())
	b.ReportAllocs()
	for b.Loop() {
		s.addColumn(xs, 10, 1.0/3)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/value")
}

// BenchmarkPositions is the positions of the same column alone: the Go
// loop, and positions32, which takes the vector kernel where the
// processor has AVX2.
func BenchmarkPositions(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 1024)
	for i := range xs {
		xs[i] = float32(r.NormFloat64()*3 + 10)
	}
	ps := make([]int32, len(xs))
	g := newGrid()
	for _, k := range []struct {
		name string
		run  func()
	}{
		{"go", func() { positions(g, ps, xs, 10, 1.0/3) }},
		{"positions32", func() { g.positions32(ps, xs, 10, 1.0/3) }},
	} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.run()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/value")
		})
	}
}

// BenchmarkCountRowsCold counts one-row requests' inputs as a drain of a
// busy gateway does, 32 rows at a time with the serving core's other work
// in between (a sweep over 4 MiB, less than the mlp demo's weights, which
// every inference reads): 30 features, the fraud model's width, and 256,
// the mlp demo's. ns/row and ns/value are the counting's alone, the
// positions included; each count pass brings a feature's count lines back
// from far caches, once for every row rowLanes holds (where the
// processor has AVX2; elsewhere the stage's columns, counted the same
// way).
func BenchmarkCountRowsCold(b *testing.B) {
	for _, width := range []int{30, 256} {
		b.Run("features="+strconv.Itoa(width), func(b *testing.B) {
			g := newGrid()
			feats := make([]feature, width)
			for j := range feats {
				feats[j] = newFeature(g, "x", false)
				feats[j].setTransform(0, 1)
			}
			r := rand.New(rand.NewPCG(3, 4))
			const rows = 4096
			raw := make([]byte, 4*width*rows)
			for i := 0; i < width*rows; i++ {
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(r.NormFloat64())))
			}
			st := newStage(width)
			other := make([]uint64, 4<<20/8)
			const drained = 32
			var counting time.Duration
			var sink uint64
			n := 0
			for b.Loop() {
				for j := range other {
					other[j] += uint64(j)
				}
				sink += other[n%len(other)]
				start := time.Now()
				for k := range drained {
					row := (n + k) % rows
					one := raw[4*width*row : 4*width*(row+1)]
					if st.countRows(feats, one, false) == 0 {
						st.addFP32(feats, one, false)
					}
				}
				counting += time.Since(start)
				n += drained
			}
			st.count(feats, false)
			b.ReportMetric(float64(counting.Nanoseconds())/float64(n), "ns/row")
			b.ReportMetric(float64(counting.Nanoseconds())/float64(n*width), "ns/value")
			b.ReportMetric(0, "ns/op")
			_ = sink
		})
	}
}
