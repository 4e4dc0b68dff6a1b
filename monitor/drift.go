package monitor

import "math"

// Drift statistics between a reference and a current distribution, both
// given as sorted bucket lists on the same grid (see sketch.go), so every
// comparison below is exact at bucket boundaries.

// FeatureDrift is one feature's comparison in one window.
type FeatureDrift struct {
	Name string `json:"name"`
	// Reference and Current are the row counts compared.
	Reference float64 `json:"reference_count"`
	Current   float64 `json:"current_count"`
	// PSI is the population stability index over ten reference-quantile
	// bins (deciles; fewer where the reference has ties).
	PSI float64 `json:"psi"`
	// KS is the two-sample Kolmogorov-Smirnov statistic; KSPValue its
	// asymptotic p-value, multiplied by the number of features tested
	// together (Bonferroni) and capped at 1.
	KS       float64 `json:"ks_statistic"`
	KSPValue float64 `json:"ks_p_value"`
	// JS is the Jensen-Shannon distance (square root of the divergence,
	// natural log, as scipy.spatial.distance.jensenshannon) over the PSI
	// bins.
	JS float64 `json:"js_distance"`
	// Wasserstein is the first Wasserstein (earth mover's) distance in the
	// feature's units; WassersteinNormed divides it by the reference's
	// standard deviation, as Evidently reports it.
	Wasserstein       float64 `json:"wasserstein"`
	WassersteinNormed float64 `json:"wasserstein_normed"`
	// Categorical features (a classifier's predicted class) have no KS or
	// Wasserstein: their classes are not ordered.
	Categorical bool `json:"categorical,omitempty"`
	// One flag per test, at the configured thresholds, and the verdict.
	PSIDrift bool `json:"psi_drift"`
	KSDrift  bool `json:"ks_drift"`
	JSDrift  bool `json:"js_drift"`
	// Drifted is true when KS flags and PSI or JS does too: the shift is
	// significant (KS's p-value accounts for the window's size, so small
	// windows' sampling noise, which alone pushes PSI and JS past 0.1 at
	// 100 rows, does not count) and material (large windows make KS
	// flag shifts too small to matter, which PSI and JS ignore). A
	// categorical feature, which has no KS, needs PSI and JS both. This
	// keeps 200 clean windows of 30 features nearly free of false flags
	// while a shift of half a standard deviation trips all three.
	Drifted bool `json:"drifted"`
}

// thresholds are the flags' levels, from Config.
type thresholds struct {
	psi, js, alpha float64
}

// psiBins is the number of reference-quantile bins for PSI and JS: deciles,
// the industry's convention for PSI.
const psiBins = 10

// psiFloor replaces an empty bin's share so the logarithms stay finite;
// Evidently uses the same 0.0001.
const psiFloor = 1e-4

// refSummary is what comparisons need of a reference, computed once when
// the reference completes: the sketch, its CDF, its quantile edges (as
// positions), bin shares and standard deviation.
type refSummary struct {
	ref *sketch
	n   float64
	// cdf[i] is the share of the reference at or below position ref.lo+i,
	// for the positions ref.lo to ref.hi-1 (0 below, 1 above): computed
	// once here rather than accumulated again by every window's
	// comparison.
	cdf    []float64
	edges  []int
	shares []float64
	sd     float64
}

// summarize computes a reference's summary. Its quantile edges are bucket
// positions; a bucket at an edge falls in the bin the edge closes, so ties
// (a discrete feature) merge bins rather than split a value.
func summarize(ref *sketch) *refSummary {
	r := &refSummary{ref: ref, n: ref.n}
	if r.n == 0 {
		return r
	}
	pv := ref.g.pv
	var cum, mean float64
	j := 1
	for p := ref.lo; p < ref.hi; p++ {
		c := ref.cnt[p]
		if c == 0 {
			continue
		}
		cum += float64(c)
		mean += pv[p] * float64(c)
		for j < psiBins && cum >= float64(j)*r.n/psiBins {
			if len(r.edges) == 0 || r.edges[len(r.edges)-1] < p {
				r.edges = append(r.edges, p)
			}
			j++
		}
	}
	mean /= r.n
	r.cdf = make([]float64, ref.hi-ref.lo)
	var sum int64
	inv := 1 / r.n
	for i, c := range ref.cnt[ref.lo:ref.hi] {
		sum += int64(c)
		r.cdf[i] = float64(sum) * inv
	}
	r.shares = make([]float64, len(r.edges)+1)
	var ss float64
	j = 0
	for p := ref.lo; p < ref.hi; p++ {
		c := ref.cnt[p]
		if c == 0 {
			continue
		}
		for j < len(r.edges) && p > r.edges[j] {
			j++
		}
		r.shares[j] += float64(c) / r.n
		ss += (pv[p] - mean) * (pv[p] - mean) * float64(c)
	}
	r.sd = math.Sqrt(ss / r.n)
	return r
}

// compareNumeric fills d from a reference and a current sketch on the same
// grid. tests is the number of features compared together, for the
// Bonferroni correction.
//
// KS and Wasserstein come from one pass over the positions in use, with
// no branch but the running maximum's: the reference's CDF is summarized
// once, the window's count is an integer (the only chain a position
// extends is Wasserstein's sum), and empty positions, where neither CDF
// moves, add their step times the unchanged gap, as the integral says.
// Outside the reference's range its CDF is 0 below and 1 above, so those
// stretches are loops of their own. The PSI bins' counts are the window's
// running count at the reference's edges, read as the pass goes.
// BenchmarkCompareNumeric: about 850 positions in 1.4 µs, against 2.1 µs
// when the reference's CDF was accumulated here too and 4.2 µs when one
// loop with branches did everything; 0.9 µs where cdfGaps's vector kernel
// takes each PSI bin's positions four at a time, leaving this loop a
// bin's last few.
func compareNumeric(d *FeatureDrift, r *refSummary, cur *sketch, tests int, th thresholds) {
	nr, nc := r.n, cur.n
	d.Reference, d.Current = nr, nc
	if nr == 0 || nc == 0 {
		return
	}
	inc := 1 / nc
	lo, hi := inUse(cur, r.ref)
	if hi <= lo {
		return
	}
	dn := cur.g.dn
	// int64, not uint64: x86 converts signed integers to floats in one
	// instruction, unsigned ones in a branchy sequence.
	var sc int64
	var ks, w float64
	// Below the reference: its CDF is 0.
	for p := lo; p < r.ref.lo; p++ {
		sc += int64(cur.cnt[p])
		gap := float64(sc) * inc
		w += gap * dn[p]
		if gap > ks {
			ks = gap
		}
	}
	// The reference's range, bin by bin: the PSI bins' counts are the
	// window's running count where each bin ends. Two positions a step,
	// so that Wasserstein's sum is two chains of additions, not one.
	var counts [psiBins + 1]float64
	cdf := r.cdf
	cc := cur.cnt[r.ref.lo:r.ref.hi]
	steps := dn[r.ref.lo:r.ref.hi]
	cc, steps = cc[:len(cdf)], steps[:len(cdf)]
	var w2 float64
	i := 0
	for j := 0; j <= len(r.edges); j++ {
		end := len(cdf)
		if j < len(r.edges) {
			end = r.edges[j] + 1 - r.ref.lo
		}
		if n, s, dw, dk := cdfGaps(cdf[i:end], steps[i:end], cc[i:end], sc, inc, nc); n > 0 {
			i, sc, w = i+n, s, w+dw
			if dk > ks {
				ks = dk
			}
		}
		for ; i+1 < end; i += 2 {
			sc += int64(cc[i])
			g0 := math.Abs(cdf[i] - float64(sc)*inc)
			sc += int64(cc[i+1])
			g1 := math.Abs(cdf[i+1] - float64(sc)*inc)
			w += g0 * steps[i]
			w2 += g1 * steps[i+1]
			if g0 > ks {
				ks = g0
			}
			if g1 > ks {
				ks = g1
			}
		}
		if i < end {
			sc += int64(cc[i])
			g0 := math.Abs(cdf[i] - float64(sc)*inc)
			w += g0 * steps[i]
			if g0 > ks {
				ks = g0
			}
			i++
		}
		counts[j] = float64(sc)
	}
	w += w2
	// Above the reference: its CDF is 1. The last position in use has
	// both CDFs at 1 and adds nothing.
	for p := max(r.ref.hi, lo); p < hi-1; p++ {
		sc += int64(cur.cnt[p])
		gap := 1 - float64(sc)*inc
		w += gap * dn[p]
		if gap > ks {
			ks = gap
		}
	}
	// Running counts to each bin's own; the window's rows above the
	// reference fall in the last bin, which closes at the window's total
	// (the loop above stopped short of the last position).
	nb := len(r.edges) + 1
	counts[nb-1] = nc
	for j := nb - 1; j > 0; j-- {
		counts[j] -= counts[j-1]
	}
	pc := counts[:len(r.shares)]
	for i := range pc {
		pc[i] *= inc
	}
	d.PSI = psi(r.shares, pc)
	d.JS = jsDistance(r.shares, pc)
	d.KS = ks
	d.KSPValue = min(1, ksPValue(ks, nr, nc)*float64(max(tests, 1)))
	d.Wasserstein = w
	if r.sd > 0 {
		d.WassersteinNormed = w / r.sd
	}
	d.PSIDrift = d.PSI >= th.psi
	d.JSDrift = d.JS >= th.js
	d.KSDrift = d.KSPValue < th.alpha
	d.Drifted = d.KSDrift && (d.PSIDrift || d.JSDrift)
}

// compareCategorical fills d from class counts.
func compareCategorical(d *FeatureDrift, ref, cur []float64, th thresholds) {
	d.Categorical = true
	var nr, nc float64
	for i := range ref {
		nr += ref[i]
		nc += cur[i]
	}
	d.Reference, d.Current = nr, nc
	if nr == 0 || nc == 0 {
		return
	}
	pr := make([]float64, len(ref))
	pc := make([]float64, len(cur))
	for i := range ref {
		pr[i], pc[i] = ref[i]/nr, cur[i]/nc
	}
	d.PSI = psi(pr, pc)
	d.JS = jsDistance(pr, pc)
	d.KSPValue = 1
	d.PSIDrift = d.PSI >= th.psi
	d.JSDrift = d.JS >= th.js
	d.Drifted = d.PSIDrift && d.JSDrift
}

// psi is sum (c - r) ln(c / r), with empty bins floored.
func psi(r, c []float64) float64 {
	var s float64
	for i := range r {
		a, b := max(r[i], psiFloor), max(c[i], psiFloor)
		s += (b - a) * math.Log(b/a)
	}
	return s
}

// jsDistance is sqrt(JS divergence), natural log: 0 for equal
// distributions, sqrt(ln 2) = 0.83 for disjoint ones.
func jsDistance(p, q []float64) float64 {
	var s float64
	for i := range p {
		m := (p[i] + q[i]) / 2
		if p[i] > 0 {
			s += p[i] * math.Log(p[i]/m)
		}
		if q[i] > 0 {
			s += q[i] * math.Log(q[i]/m)
		}
	}
	return math.Sqrt(max(s/2, 0))
}

// ksPValue is the asymptotic two-sample p-value of statistic d for sample
// sizes n and m: the Kolmogorov distribution's survival function at
// sqrt(ne) d with the effective size ne = nm/(n+m), with Stephens'
// small-sample correction (Numerical Recipes, 14.3).
func ksPValue(d, n, m float64) float64 {
	ne := n * m / (n + m)
	if ne <= 0 {
		return 1
	}
	sq := math.Sqrt(ne)
	return kolmogorovQ((sq + 0.12 + 0.11/sq) * d)
}

// kolmogorovQ is P(K > x) for the Kolmogorov distribution. Below 1.18 the
// alternating series converges slowly, so the Jacobi-theta form of the
// CDF is used instead (Numerical Recipes, 3rd ed., section 6.14).
func kolmogorovQ(x float64) float64 {
	switch {
	case x <= 0:
		return 1
	case x < 1.18:
		y := math.Exp(-math.Pi * math.Pi / (8 * x * x))
		// P = sqrt(2 pi)/x * (y + y^9 + y^25 + y^49 + ...)
		p := math.Sqrt(2*math.Pi) / x * (y + math.Pow(y, 9) + math.Pow(y, 25) + math.Pow(y, 49))
		return min(1, max(0, 1-p))
	}
	var q float64
	sign := 1.0
	for k := 1; k <= 100; k++ {
		t := sign * 2 * math.Exp(-2*float64(k*k)*x*x)
		q += t
		if math.Abs(t) < 1e-16 {
			break
		}
		sign = -sign
	}
	return min(1, max(0, q))
}
