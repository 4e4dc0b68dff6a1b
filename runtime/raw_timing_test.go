package runtime

import (
	"fmt"
	"testing"
)

// BenchmarkRawMLP is ONNX Runtime alone on the mlp demo model (256 ->
// 1024 -> 1024 -> 16) at several batch sizes, through our cgo layer with
// nothing else around it: the R in the batching target's limit
// L = 1/(1/F + 1/R). Run it pinned to the server's core:
//
//	taskset -c 0 go test -run '^$' -bench RawMLP -cpu 1 ./runtime/
func BenchmarkRawMLP(b *testing.B) {
	benchRawMLP(b, openDemo(b, "mlp"), []int{1, 8, 16, 32, 64})
}

// benchRawMLP runs the mlp demo model on s at each batch size.
func benchRawMLP(b *testing.B, s *Session, batches []int) {
	for _, batch := range batches {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			shape := []int64{int64(batch), 256}
			x := make([]float32, batch*256)
			for k := range x {
				x[k] = float32(k%17) / 17
			}
			for b.Loop() {
				c, err := s.AcquireCall()
				if err != nil {
					b.Fatal(err)
				}
				putFloat32s(c.Input(0, FP32, shape, len(x)), x)
				if err := c.Run(); err != nil {
					b.Fatal(err)
				}
				s.ReleaseCall(c)
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
