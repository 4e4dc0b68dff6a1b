package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// mixture draws from a mix of a normal, a log-normal and exact zeros, so
// sketches see both signs, zero and several orders of magnitude.
func mixture(r *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		switch r.IntN(10) {
		case 0:
			xs[i] = 0
		case 1, 2, 3:
			xs[i] = math.Exp(2 * r.NormFloat64())
		default:
			xs[i] = r.NormFloat64()*3 - 1
		}
	}
	return xs
}

func sketchOf(xs []float64) *sketch {
	s := newSketch(newGrid())
	for _, x := range xs {
		s.add(x)
	}
	return s
}

// Sketches merged from four shards equal one sketch over all the data:
// DDSketch merges bucket by bucket, so the equality is exact, and both
// answer quantiles within the sketch's relative error.
func TestSketchMergeShards(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	xs := mixture(r, 200000)
	m := newGrid()
	whole := newSketch(m)
	for _, x := range xs {
		whole.add(x)
	}
	merged := newSketch(m)
	for shard := range 4 {
		s := newSketch(m)
		for _, x := range xs[shard*len(xs)/4 : (shard+1)*len(xs)/4] {
			s.add(x)
		}
		merged.merge(s)
	}
	if !slices.Equal(whole.bins(nil), merged.bins(nil)) || whole.n != merged.n {
		t.Fatal("merged shards differ from one sketch over all the data")
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	for _, q := range []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99} {
		exact := sorted[int(q*float64(len(sorted)-1))]
		got := merged.quantile(q)
		if math.Abs(got-exact) > relativeAccuracy*math.Abs(exact)+1e-12 {
			t.Fatalf("q%.2f = %g, exact %g: beyond %g relative error", q, got, exact, relativeAccuracy)
		}
	}
	// The protobuf round trip keeps every bucket.
	b, err := merged.marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := newSketch(m)
	if err := back.unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.bins(nil), merged.bins(nil)) || back.n != merged.n {
		t.Fatal("the protobuf round trip changed the sketch")
	}
	if err := back.unmarshal([]byte("garbage")); err == nil {
		t.Fatal("unmarshal accepted garbage")
	}
}

// exactKS is the two-sample KS statistic on raw data.
func exactKS(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		v := min(a[i], b[j])
		for i < len(a) && a[i] == v {
			i++
		}
		for j < len(b) && b[j] == v {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// The KS statistic of a feature's sketches stays within 0.01 of the exact
// one on raw data: after the feature's transform, buckets 2% wide hold
// little of any distribution's mass. Raw DDSketch on the same data (no
// transform) is logged for comparison: it fails on features far from
// zero. This is the measurement behind the sketch choice (see sketch.go
// and feature).
func TestSketchKSAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	normal := func(n int, mu, sd float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = r.NormFloat64()*sd + mu
		}
		return xs
	}
	m := newGrid()
	th := thresholds{0.1, 0.1, 0.05}
	worst, worstRaw := 0.0, 0.0
	f := func(name string, a, b []float64) {
		t.Helper()
		ft := newFeature(m, name, false)
		for _, x := range a {
			ft.add(x)
		}
		ft.setReady()
		for _, x := range b {
			ft.add(x)
		}
		var d, raw FeatureDrift
		compareNumeric(&d, ft.refSum, ft.cur, 1, th)
		compareNumeric(&raw, summarize(sketchOf(a)), sketchOf(b), 1, th)
		exact := exactKS(a, b)
		worst = max(worst, math.Abs(d.KS-exact))
		worstRaw = max(worstRaw, math.Abs(raw.KS-exact))
		t.Logf("n=%6d %-14s exact %.4f  sketched %.4f  raw DDSketch %.4f", len(a), name, exact, d.KS, raw.KS)
		if math.Abs(d.KS-exact) > 0.01 {
			t.Errorf("%s: sketched KS %.4f, exact %.4f", name, d.KS, exact)
		}
	}
	for _, n := range []int{1000, 100000} {
		f("same", normal(n, 0, 1), normal(n, 0, 1))
		f("shift 0.1", normal(n, 0, 1), normal(n, 0.1, 1))
		f("shift 0.5", normal(n, 0, 1), normal(n, 0.5, 1))
		f("scale 1.5", normal(n, 0, 1), normal(n, 0, 1.5))
		f("far from zero", normal(n, 1000, 1), normal(n, 1000.2, 1))
		f("mixture", mixture(r, n), mixture(r, n))
	}
	t.Logf("worst |sketched KS - exact KS| = %.4f (raw DDSketch without the transform: %.4f)", worst, worstRaw)
}

// The statistics agree with their definitions on small hand-checkable
// cases.
func TestDriftStatistics(t *testing.T) {
	same := []float64{0.25, 0.25, 0.5}
	if psi(same, same) != 0 || jsDistance(same, same) != 0 {
		t.Fatal("identical distributions differ")
	}
	if got := jsDistance([]float64{1, 0}, []float64{0, 1}); math.Abs(got-math.Sqrt(math.Ln2)) > 1e-12 {
		t.Fatalf("disjoint JS distance %v, want sqrt(ln 2)", got)
	}
	// Kolmogorov survival function at known points (its series summed to
	// 200 terms in float64, as scipy.special.kolmogorov gives).
	for _, c := range []struct{ x, q float64 }{{0.5, 0.9639452436648751}, {1, 0.26999967167735456}, {1.36, 0.049485876755377876}, {2, 0.0006709252557796953}} {
		if got := kolmogorovQ(c.x); math.Abs(got-c.q) > 1e-6 {
			t.Fatalf("kolmogorovQ(%v) = %v, want %v", c.x, got, c.q)
		}
	}
	// Wasserstein between point masses 0 and 1 is 1 (within the
	// bucket's 1%), KS is 1.
	a, b := sketchOf([]float64{0, 0, 0}), sketchOf([]float64{1, 1, 1})
	var d FeatureDrift
	compareNumeric(&d, summarize(a), b, 1, thresholds{0.1, 0.1, 0.05})
	if math.Abs(d.Wasserstein-1) > 1.5*relativeAccuracy || d.KS != 1 {
		t.Fatalf("point masses: W %v KS %v", d.Wasserstein, d.KS)
	}
}

// The grid's inlined index equals sketches-go's, so our buckets are the
// library's and the protobuf means what it says.
func TestGridIndex(t *testing.T) {
	g := newGrid()
	r := rand.New(rand.NewPCG(14, 14))
	for range 100000 {
		v := math.Exp(r.Float64()*60 - 30)
		if got, want := g.index(v), g.m.Index(v); got != want {
			t.Fatalf("index(%v) = %d, sketches-go says %d", v, got, want)
		}
	}
	for _, v := range []float64{zeroBelow, 1, 2, 0.5, topValue} {
		if got, want := g.index(v), g.m.Index(v); got != want {
			t.Fatalf("index(%v) = %d, sketches-go says %d", v, got, want)
		}
	}
	if len(g.values) != 1396 {
		t.Logf("grid has %d buckets a sign", len(g.values))
	}
}

// TestGridCells holds the cell table to the cubic it is built from: at
// every cell's first and last bits, just around every split, and at a
// million random magnitudes over the whole range.
func TestGridCells(t *testing.T) {
	g := newGrid()
	check := func(bits uint64) {
		a := math.Float64frombits(bits)
		if a < zeroBelow || a > math.MaxFloat64 {
			return
		}
		if got, want := g.slot(a), g.slotExact(a); got != want {
			t.Fatalf("slot(%v) = %d, the cubic says %d", a, got, want)
		}
	}
	for i, e := range g.cells {
		lo := (g.cell0 + uint64(i)) << cellShift
		hi := lo | (1<<cellShift - 1)
		check(lo)
		check(hi)
		if g.slotExact(math.Float64frombits(hi))-g.slotExact(math.Float64frombits(max(lo, math.Float64bits(zeroBelow)))) > 1 {
			t.Fatalf("cell %d spans two bucket boundaries", i)
		}
		if split := e & cellSplitMask; split < 1<<cellShift {
			check(lo + split - 1)
			check(lo + split)
		}
	}
	r := rand.New(rand.NewPCG(15, 15))
	for range 1000000 {
		check(math.Float64bits(math.Exp(r.Float64()*math.Log(2*topValue/zeroBelow)) * zeroBelow))
	}
	for _, v := range []float64{zeroBelow, 1, 2, 0.5, topValue, 2 * topValue, math.MaxFloat64} {
		check(math.Float64bits(v))
	}
}

// TestSketchRangeInUse checks that lo and hi bound every non-empty bucket
// through adds, merges, clears and a protobuf round trip, since window
// comparisons walk only that range.
func TestSketchRangeInUse(t *testing.T) {
	g := newGrid()
	check := func(what string, s *sketch) {
		t.Helper()
		for p, c := range s.cnt {
			if c != 0 && (p < s.lo || p >= s.hi) {
				t.Fatalf("%s: bucket %d holds %d outside [%d, %d)", what, p, c, s.lo, s.hi)
			}
		}
	}
	a, b := newSketch(g), newSketch(g)
	for _, v := range []float64{-3e5, -1, 0, 1e-9, 2.5, 7e8} {
		a.add(v)
	}
	b.add(42)
	check("adds", a)
	a.merge(b)
	check("merge", a)
	enc, err := a.marshal()
	if err != nil {
		t.Fatal(err)
	}
	c := newSketch(g)
	if err := c.unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	check("unmarshal", c)
	if c.lo != a.lo || c.hi != a.hi || c.n != a.n {
		t.Fatalf("round trip: [%d, %d) n %v, want [%d, %d) n %v", c.lo, c.hi, c.n, a.lo, a.hi, a.n)
	}
	a.clear()
	for p, n := range a.cnt {
		if n != 0 {
			t.Fatalf("clear left bucket %d at %d", p, n)
		}
	}
	if a.lo <= a.hi || len(a.bins(nil)) != 0 {
		t.Fatalf("cleared sketch in use [%d, %d)", a.lo, a.hi)
	}
	a.add(1)
	check("add after clear", a)
}

// compareNumeric's KS and Wasserstein equal their definitions evaluated
// position by position over the two sketches' counts: the CDFs' largest
// gap, and each gap times the step to the next position, wherever the
// window lies against the reference (inside, below, above, apart, wider).
func TestCompareNumericByPosition(t *testing.T) {
	g := newGrid()
	r := rand.New(rand.NewPCG(15, 15))
	fill := func(n int, mu, sd float64) *sketch {
		s := newSketch(g)
		for range n {
			s.add(r.NormFloat64()*sd + mu)
		}
		return s
	}
	cases := []struct {
		name         string
		cmu, csd, cn float64
		rmu, rsd, rn float64
	}{
		{"same", 0, 1, 1000, 0, 1, 10000},
		{"inside", 0, 0.2, 500, 0, 1, 10000},
		{"wider", 0, 5, 1000, 0, 1, 2000},
		{"below", -8, 1, 300, 3, 0.5, 3000},
		{"above", 40, 3, 300, -2, 1, 3000},
		{"one row", 0.3, 0, 1, 0, 1, 100},
	}
	for _, c := range cases {
		ref, cur := fill(int(c.rn), c.rmu, c.rsd), fill(int(c.cn), c.cmu, c.csd)
		var d FeatureDrift
		compareNumeric(&d, summarize(ref), cur, 1, thresholds{0.1, 0.1, 0.05})
		lo, hi := inUse(cur, ref)
		var sr, sc, ks, w float64
		for p := lo; p < hi; p++ {
			sr += float64(ref.cnt[p])
			sc += float64(cur.cnt[p])
			gap := math.Abs(sr/ref.n - sc/cur.n)
			ks = max(ks, gap)
			if p+1 < hi {
				w += gap * (g.pv[p+1] - g.pv[p])
			}
		}
		if math.Abs(d.KS-ks) > 1e-12 || math.Abs(d.Wasserstein-w) > 1e-9*max(1, w) {
			t.Errorf("%s: KS %v W %v, by position %v and %v", c.name, d.KS, d.Wasserstein, ks, w)
		}
		// PSI and JS over the reference's bins, the window counted bin by
		// bin: a bin closes at its edge, the last takes everything above.
		sum := summarize(ref)
		shares := make([]float64, len(sum.edges)+1)
		for p := lo; p < hi; p++ {
			j, _ := slices.BinarySearch(sum.edges, p)
			shares[j] += float64(cur.cnt[p]) / cur.n
		}
		if want := psi(sum.shares, shares); math.Abs(d.PSI-want) > 1e-12 {
			t.Errorf("%s: PSI %v, by bins %v", c.name, d.PSI, want)
		}
		if want := jsDistance(sum.shares, shares); math.Abs(d.JS-want) > 1e-12 {
			t.Errorf("%s: JS %v, by bins %v", c.name, d.JS, want)
		}
	}
}

// bin is one bucket: its representative value and count.
type bin struct{ v, c float64 }

// bins appends s's non-empty buckets to dst in increasing value order.
func (s *sketch) bins(dst []bin) []bin {
	dst = dst[:0]
	for p := s.lo; p < s.hi; p++ {
		if c := s.cnt[p]; c != 0 {
			dst = append(dst, bin{s.g.pv[p], float64(c)})
		}
	}
	return dst
}
