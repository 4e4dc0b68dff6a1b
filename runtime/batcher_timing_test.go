package runtime

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkBatcherElementwise compares one-row elementwise inferences run
// from parallel goroutines with Call.Run (every request its own ONNX
// Runtime run) and with Batcher.Run (concurrent requests stacked). An
// operation is one request: acquire, bind, run, read, release. The batcher
// path should report 0 allocs/op; requests/run says how much it stacked.
func BenchmarkBatcherElementwise(b *testing.B) {
	s := openDemo(b, "elementwise")
	bench := func(b *testing.B, run func(*Call) error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			x := []float32{1, 2, 3, 4}
			shape := []int64{1, 4}
			for pb.Next() {
				c, err := s.AcquireCall()
				if err != nil {
					b.Error(err)
					return
				}
				putFloat32s(c.Input(0, FP32, shape, 4), x)
				if err := run(c); err != nil {
					b.Error(err)
					return
				}
				if out := c.Output(0); out.Elements != 4 || len(out.Data) != 16 {
					b.Errorf("output %v, %d bytes", out.Shape, len(out.Data))
					return
				}
				s.ReleaseCall(c)
			}
		})
	}
	// Parallelism p runs p*GOMAXPROCS goroutines: 1 is one per core, 16
	// resembles a gateway serving many connections.
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("Call/par=%d", p), func(b *testing.B) {
			b.SetParallelism(p)
			bench(b, (*Call).Run)
		})
		b.Run(fmt.Sprintf("Batcher/par=%d", p), func(b *testing.B) {
			b.SetParallelism(p)
			bt := NewBatcher(s, 64)
			var runs, requests atomic.Int64
			bt.OnRun = func(n, rows int) {
				runs.Add(1)
				requests.Add(int64(n))
			}
			bench(b, bt.Run)
			if r := runs.Load(); r > 0 {
				b.ReportMetric(float64(requests.Load())/float64(r), "requests/run")
			}
		})
	}
}

// BenchmarkBatcherLoneRequest is the single-client case: one goroutine,
// one request at a time. The batcher must not make a lone request wait for
// company, nor a solo queue (a version that does not batch) add to its
// run, so their ns/op should match plain Call.Run's within noise.
func BenchmarkBatcherLoneRequest(b *testing.B) {
	s := openDemo(b, "elementwise")
	bt := NewBatcher(s, 64)
	solo := NewBatcherWith([]*Session{s}, BatchOptions{Solo: true, Slots: 1})
	x := []float32{1, 2, 3, 4}
	shape := []int64{1, 4}
	for _, mode := range []string{"Call", "Batcher", "Solo", "Call", "Batcher", "Solo"} {
		run := (*Call).Run
		switch mode {
		case "Batcher":
			run = bt.Run
		case "Solo":
			run = solo.Run
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := s.AcquireCall()
				if err != nil {
					b.Fatal(err)
				}
				putFloat32s(c.Input(0, FP32, shape, 4), x)
				if err := run(c); err != nil {
					b.Fatal(err)
				}
				s.ReleaseCall(c)
			}
		})
	}
}
