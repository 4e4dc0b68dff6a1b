package monitor

import (
	"math"
	"slices"
)

// feature is one monitored quantity of a version. sink is where values
// go: the reference sketch while the reference is being learnt, the
// current window's afterwards; one pointer instead of a branch per value.
//
// Values are sketched after a fixed affine transform, (x - center) /
// scale, learnt from the feature's first transformRows reference values
// (median and interquartile range). DDSketch's buckets are relative (1% of
// the value), so a feature living far from zero with a small spread, a
// temperature in kelvin or a year, would fall into a handful of buckets
// and look the same whatever happened to it (TestSketchKSAccuracy's "far
// from zero" case: sketched KS 0 against an exact 0.13). Standardized, every
// feature's bulk sits where buckets are a fiftieth of a standard deviation
// wide. KS, PSI and JS are invariant under the transform; Wasserstein is
// scaled back. Sketches stay mergeable between monitors that share the
// reference profile, which holds the transform.
type feature struct {
	name        string
	output      bool
	ref, cur    *sketch
	sink        *sketch
	ready       bool        // the reference is complete
	refSum      *refSummary // computed once the reference is complete
	center, inv float64
	scale       float64
	fixed       bool      // the transform is learnt
	pending     []float64 // raw values seen before it was
}

// transformRows is how many reference values fix a feature's transform.
const transformRows = 256

func newFeature(g *grid, name string, output bool) feature {
	f := feature{name: name, output: output, ref: newSketch(g), cur: newSketch(g)}
	f.sink = f.ref
	return f
}

func (f *feature) add(x float64) {
	if f.fixed {
		f.sink.add((x - f.center) * f.inv)
		return
	}
	f.pending = append(f.pending, x)
	if len(f.pending) >= transformRows {
		f.fixTransform()
	}
}

// fixTransform learns center and scale from the pending values: the
// median, and the interquartile range over 1.349 (the standard deviation
// for normal data, robust to outliers), falling back to the standard
// deviation, then to 1 for a constant feature. Pending values are then
// sketched.
func (f *feature) fixTransform() {
	xs := make([]float64, 0, len(f.pending))
	for _, x := range f.pending {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			xs = append(xs, x)
		}
	}
	f.center, f.scale = 0, 1
	if len(xs) > 0 {
		slices.Sort(xs)
		q := func(p float64) float64 { return xs[int(p*float64(len(xs)-1))] }
		f.center = q(0.5)
		f.scale = (q(0.75) - q(0.25)) / 1.349
		if !(f.scale > 0) {
			var mean, ss float64
			for _, x := range xs {
				mean += x
			}
			mean /= float64(len(xs))
			for _, x := range xs {
				ss += (x - mean) * (x - mean)
			}
			f.scale = math.Sqrt(ss / float64(len(xs)))
		}
		if !(f.scale > 0) || math.IsInf(f.scale, 0) {
			f.scale = 1
		}
	}
	f.setTransform(f.center, f.scale)
	for _, x := range f.pending {
		f.sink.add((x - f.center) * f.inv)
	}
	f.pending = nil
}

func (f *feature) setTransform(center, scale float64) {
	f.center, f.scale, f.inv, f.fixed = center, scale, 1/scale, true
}

func (f *feature) setReady() {
	if !f.fixed {
		f.fixTransform()
	}
	f.ready, f.sink = true, f.cur
	f.refSum = summarize(f.ref)
}

// categorical is a predicted-class distribution.
type categorical struct {
	name     string
	ref, cur []float64
	sink     []float64
	ready    bool
}

func newCategorical(name string, k int) categorical {
	c := categorical{name: name, ref: make([]float64, k), cur: make([]float64, k)}
	c.sink = c.ref
	return c
}

func (c *categorical) setReady() { c.ready, c.sink = true, c.cur }
