package monitor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPositionsAVX2 holds the vector kernel (where the processor has it)
// equal to the Go loop on values transformed in float32: edge values, the
// floats on each side of every cell's bounds and split, and random values
// over the whole range, with several transforms, in columns of every
// length from 0 to 17 so that the tails run the Go loop.
func TestPositionsAVX2(t *testing.T) {
	g := newGrid()
	var xs []float32
	for _, v := range []float64{0, 1e-45, 1e-40, zeroBelow, 1e-3 * (1 - 1e-7), 1, 2, 3, 1e9, 1.0000001e9, 3e38,
		math.MaxFloat32, math.Inf(1), math.NaN()} {
		xs = append(xs, float32(v), -float32(v))
	}
	xs = append(xs, math.Float32frombits(0xffc00000)) // a negative NaN
	for c := range g.cells {
		lo := math.Float64frombits((g.cell0 + uint64(c)) << cellShift)
		split := math.Float64frombits((g.cell0+uint64(c))<<cellShift + g.cells[c]&cellSplitMask)
		for _, v := range []float64{lo, split, math.Nextafter(split, 0)} {
			f := float32(v)
			xs = append(xs, f, math.Nextafter32(f, float32(math.Inf(1))), math.Nextafter32(f, 0))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		xs = append(xs, math.Float32frombits(r.Uint32()))
		xs = append(xs, float32(r.NormFloat64()*math.Exp(r.NormFloat64()*5)))
	}
	for _, tr := range [][2]float64{{0, 1}, {10, 1.0 / 3}, {-2.5, 7}, {1e20, 1e-19}, {0, 1e30}} {
		want := make([]int32, len(xs))
		got := make([]int32, len(xs))
		ys := make([]float32, len(xs))
		c, inv := float32(tr[0]), float32(tr[1])
		for i, x := range xs {
			ys[i] = float32(x-c) * inv
		}
		positions(g, want, ys, 0, 1)
		g.positions32(got, xs, tr[0], tr[1])
		for i := range xs {
			if got[i] != want[i] {
				t.Fatalf("transform %v, value %g (bits %#x): position %d, the Go loop says %d", tr, xs[i], math.Float32bits(xs[i]), got[i], want[i])
			}
		}
		for n := range 18 {
			got := make([]int32, n)
			g.positions32(got, xs[100:100+n], tr[0], tr[1])
			for i := range got {
				if got[i] != want[100+i] {
					t.Fatalf("transform %v, column of %d: value %d (%g) at %d, want %d", tr, n, i, xs[100+i], got[i], want[100+i])
				}
			}
		}
	}
	if !hasAVX2 {
		t.Log("no AVX2 here: the Go loop was compared with itself")
	}
}

// TestCDFGaps holds compareNumeric's vector pass (where the processor has
// it) to the Go loop's arithmetic: the same running count and KS gap to
// the bit, Wasserstein's sum to the rounding of its order, for spans of
// every length from 0 to 40, and counts up to a window of 2^31 (beyond,
// the Go loop takes them all).
func TestCDFGaps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		n := trial % 41
		cdf, steps, cnt := make([]float64, n), make([]float64, n), make([]uint32, n)
		var total int64
		for i := range n {
			cnt[i] = uint32(r.IntN(1 << (trial % 27)))
			if r.IntN(3) == 0 {
				cnt[i] = 0
			}
			total += int64(cnt[i])
			steps[i] = r.ExpFloat64()
		}
		sc0 := int64(r.IntN(1000))
		total += sc0 + int64(r.IntN(1000))
		acc := 0.0
		for i := range n {
			acc += r.Float64()
			cdf[i] = acc
		}
		for i := range cdf {
			cdf[i] /= acc + 1
		}
		inc := 1 / float64(total)
		took, sc, w, ks := cdfGaps(cdf, steps, cnt, sc0, inc, float64(total))
		want := 0
		if hasAVX2 && total < 1<<31 {
			want = n &^ 3
		}
		if took != want {
			t.Fatalf("took %d of %d positions", took, n)
		}
		wantSC, wantW, wantKS := sc0, 0.0, 0.0
		for i := range took {
			wantSC += int64(cnt[i])
			g := math.Abs(cdf[i] - float64(wantSC)*inc)
			wantW += g * steps[i]
			wantKS = max(wantKS, g)
		}
		if sc != wantSC || ks != wantKS || math.Abs(w-wantW) > 1e-12*max(1, wantW) {
			t.Fatalf("%d positions: count %d, KS %v, W %v; the Go loop's %d, %v, %v", n, sc, ks, w, wantSC, wantKS, wantW)
		}
	}
}
