package monitor

import (
	"errors"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/pb/sketchpb"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"google.golang.org/protobuf/proto"
)

// Feature distributions are DDSketches (Masson, Rim, Lee: "DDSketch: a
// fast and fully-mergeable quantile sketch with relative-error
// guarantees", VLDB 2019) rather than KLL sketches (whylogs' choice), for
// three reasons that matter to drift statistics:
//
//   - Every sketch of a monitor shares one bucket grid, so the counts of
//     two sketches line up bucket for bucket: the empirical CDFs that KS,
//     PSI, JS and Wasserstein compare are exact at every bucket boundary,
//     and the only error is the mass inside one bucket. KLL's error is a
//     rank error of about 1.65/k on each side (k = 200: 0.8%), which adds
//     up in a two-sample KS statistic. Measured (TestSketchKSAccuracy):
//     the sketched KS statistic is within 0.003 of the exact one.
//   - Merging is exact: shards merged equal one sketch over all the data,
//     bucket for bucket, which is what replicas merging drift needs.
//   - Insertion is an index computation and an increment; KLL's
//     compactions sort.
//
// DDSketch's weakness, relative resolution (fine near zero, coarse far
// from it), is removed by standardizing each feature before sketching
// (see feature). The bucket grid is sketches-go's cubically interpolated
// mapping, and sketches serialize as its protobuf, so any DDSketch library
// reads them; the counts live in a fixed dense array of our own, because
// the library's stores cost two non-inlined calls and a range check per
// value (BenchmarkSketchAdd on a Xeon: about 20 ns through the library, 6
// ns here, transform included, in an earlier build; staged rows are now
// counted a column at a time, see stage.go), and the aggregator adds 32
// values per fraud sample.

// relativeAccuracy is DDSketch's alpha: bucket bounds are within 1% of
// each other.
const relativeAccuracy = 0.01

// zeroBelow is the magnitude below which a value counts as zero, and
// topValue the one above which it counts in the top bucket. Values are
// standardized before they are sketched (see feature), so these are a
// thousandth of a standard deviation, which no statistic can tell from
// zero, and a billion, which no feature reaches but as an outlier. Between
// them lie 1,396 buckets a sign.
const (
	zeroBelow = 1e-3
	topValue  = 1e9
)

// grid is the bucket grid every sketch of a monitor shares: DDSketch's
// cubically interpolated mapping restricted to [zeroBelow, topValue], and
// each bucket's value.
type grid struct {
	m          *mapping.CubicallyInterpolatedMapping
	multiplier float64
	lo         int       // index of the first bucket
	flo        float64   // lo, as a float
	values     []float64 // values[i] is bucket lo+i's representative value
	// A sketch's counts are one array in increasing value order: the
	// negative buckets from the largest magnitude down, zero at zeroPos,
	// then the positive buckets. pv[p] is position p's value.
	zeroPos int
	pv      []float64
	// dn[p] is pv[p+1] - pv[p] (0 at the last position): the step
	// Wasserstein's integral takes from each position to the next.
	dn []float64
	// cells look slots up by the float's bits (see slot): cell0 is
	// zeroBelow's cell number.
	cells []uint64
	cell0 uint64
	// lanes are the table and its bounds as positions32's vector kernel
	// reads them.
	lanes laneConsts
}

func newGrid() *grid {
	m, err := mapping.NewCubicallyInterpolatedMapping(relativeAccuracy)
	if err != nil {
		panic(err) // a constant accuracy cannot be refused
	}
	// The mapping's multiplier, computed as sketches-go computes it.
	gamma := math.Pow((1+relativeAccuracy)/(1-relativeAccuracy), 10*math.Ln2/7)
	g := &grid{m: m, multiplier: 1 / math.Log2(gamma)}
	g.lo = g.index(zeroBelow)
	g.flo = float64(g.lo)
	hi := g.index(topValue)
	g.values = make([]float64, hi-g.lo+1)
	for i := range g.values {
		g.values[i] = m.Value(g.lo + i)
	}
	g.zeroPos = len(g.values)
	g.pv = make([]float64, 2*len(g.values)+1)
	for i, v := range g.values {
		g.pv[g.zeroPos+1+i] = v
		g.pv[g.zeroPos-1-i] = -v
	}
	g.dn = make([]float64, len(g.pv))
	for p := range len(g.pv) - 1 {
		g.dn[p] = g.pv[p+1] - g.pv[p]
	}
	g.buildCells()
	g.lanes.init(g)
	return g
}

// A magnitude's slot is looked up rather than computed: the float's
// exponent and top cellBits bits of significand number a cell, cells
// number in value order (a positive float's bits do), and each cell holds
// its first slot and the bits where the next slot starts, if one does. A
// cell spans at most 1/64 of an octave and a bucket at least 1/50, so no
// cell holds two boundaries (TestGridCells checks every cell against the
// cubic). The lookup is a load, a compare and an add, against the cubic's
// chain of a dozen floating-point operations: BenchmarkSketchAdd 8 ns to
// 4 on this machine's EPYC, and 32 values a fraud sample. Cells of 1/64
// octave rather than 1/256 make the table 20 KB rather than 80, and the
// part standardized values use a few KB, which a gateway's other work
// evicts less: BenchmarkAggregateCold 462 to 449 ns a sample (medians of
// ten runs each, alternated).
const (
	cellBits  = 6
	cellShift = 52 - cellBits
	// A cell's entry: its first slot above the low 47 bits, which hold
	// the offset in the cell (the float's bits below cellShift) where the
	// next slot starts, or 1<<cellShift when none does.
	cellSplitBits = cellShift + 1
	cellSplitMask = 1<<cellSplitBits - 1
)

func (g *grid) buildCells() {
	g.cell0, g.cells = cellTable(math.Float64bits(zeroBelow), math.Float64bits(topValue), cellShift,
		func(b uint64) int { return g.slotExact(math.Float64frombits(b)) })
}

// cellTable numbers the cells of a float type's bits (float64's here,
// float32's for the vector kernel, see laneConsts) from zeroBits's cell
// to topBits's, cells of 1<<shift bits, and makes each cell's entry: its
// first slot above the low shift+1 bits, which hold where in the cell the
// next slot starts (1<<shift when none does). slot is the exact slot of a
// magnitude's bits.
func cellTable[B uint32 | uint64](zeroBits, topBits B, shift uint, slot func(B) int) (cell0 B, cells []B) {
	cell0 = zeroBits >> shift
	cells = make([]B, topBits>>shift+1-cell0)
	for i := range cells {
		lo := (cell0 + B(i)) << shift
		hi := lo | (B(1)<<shift - 1)
		first, last := slot(max(lo, zeroBits)), slot(hi)
		split := B(1) << shift
		if last != first {
			// The smallest bits in the cell whose slot is last.
			a, b := lo, hi
			for a < b {
				m := a + (b-a)/2
				if slot(m) == last {
					b = m
				} else {
					a = m + 1
				}
			}
			split = a - lo
		}
		cells[i] = B(first)<<(shift+1) | split
	}
	return cell0, cells
}

// The cubic interpolation of log2 on [1, 2) that sketches-go's
// CubicallyInterpolatedMapping uses.
const (
	cubicA = 6.0 / 35.0
	cubicB = -3.0 / 5.0
	cubicC = 10.0 / 7.0
)

// logIndex is v's unfloored bucket index, v > 0, as sketches-go's
// CubicallyInterpolatedMapping computes it: the exponent from the float's
// bits, a cubic in its significand.
func (g *grid) logIndex(v float64) float64 {
	b := math.Float64bits(v)
	e := float64(int(b>>52&0x7ff) - 1023)
	s := math.Float64frombits(b&(1<<52-1)|0x3ff0000000000000) - 1
	return (((cubicA*s+cubicB)*s+cubicC)*s + e) * g.multiplier
}

// index is the bucket of v > 0, equal to CubicallyInterpolatedMapping.Index
// (TestGridIndex holds them equal).
func (g *grid) index(v float64) int {
	if x := g.logIndex(v); x >= 0 {
		return int(x)
	} else {
		return int(x) - 1
	}
}

// slot is a magnitude's bucket, counted from the first, zeroBelow <= a,
// from the cell table. Whether a value lies past its cell's split is a
// coin toss, so that is arithmetic, not a branch: split-1-offset wraps
// below zero exactly when offset >= split (split is never 0: a cell's
// first bits are in its first slot).
func (g *grid) slot(a float64) int {
	b := math.Float64bits(a)
	c := b>>cellShift - g.cell0
	if c >= uint64(len(g.cells)) {
		return len(g.values) - 1
	}
	e := g.cells[c]
	return int(e>>cellSplitBits) + int(((e&cellSplitMask)-1-(b&(1<<cellShift-1)))>>63)
}

// slotExact is slot computed from the cubic, which the cell table is
// built from. Subtracting the first index before truncating makes
// truncation a floor (the difference is not negative).
func (g *grid) slotExact(a float64) int {
	return min(int(g.logIndex(a)-g.flo), len(g.values)-1)
}

// sketch is one feature's distribution: bucket counts in increasing value
// order (see grid), one array so that comparing two sketches is one pass
// over positions they share.
type sketch struct {
	g   *grid
	cnt []uint32 // a bucket holds at most 4 billion values
	// lo and hi bound the buckets in use, cnt[lo:hi]: a feature fills a
	// few hundred of the grid's thousands, and window closes, merges and
	// clears walk only those. Empty: lo = len(cnt), hi = 0.
	lo, hi int
	n      float64
	// nonFinite counts NaN and infinities, which have no place in a
	// distribution; they are reported, not sketched.
	nonFinite float64
}

func newSketch(g *grid) *sketch {
	return &sketch{g: g, cnt: make([]uint32, len(g.pv)), lo: len(g.pv)}
}

// used widens the range in use to position p.
func (s *sketch) used(p int) {
	s.lo = min(s.lo, p)
	s.hi = max(s.hi, p+1)
}

// inUse returns the positions in use in s or o, as a half-open range.
func inUse(s, o *sketch) (lo, hi int) {
	return min(s.lo, o.lo), max(s.hi, o.hi)
}

// add counts v.
func (s *sketch) add(v float64) {
	if p := s.g.position(v); p >= 0 {
		s.count(p)
	} else {
		s.nonFinite++
	}
}

// position is v's position in a sketch's counts, or -1 for NaN and the
// infinities, which have none (see positions).
func (g *grid) position(v float64) int {
	var p [1]int32
	x := [1]float64{v}
	positions(g, p[:], x[:], 0, 1)
	return int(p[0])
}

// maxFiniteBits are the largest finite float64's bits. Magnitudes compare
// as their bits do, so above these lie the infinities and NaN.
const maxFiniteBits = 0x7fefffffffffffff

// positions sets ps[i] to the position of (xs[i] - center) * inv in a
// sketch's counts, or to -1 for NaN and the infinities, which have
// none: zeroPos plus or minus the magnitude's slot, the sign bit choosing
// which by arithmetic. A loop over a column rather than a call a value:
// around a call Go saves every live register, which cost more than the
// lookup itself (the stage's counting loop spent more on the spills and
// reloads around position than in it).
func positions[T float32 | float64](g *grid, ps []int32, xs []T, center, inv float64) {
	cells, cell0 := g.cells, g.cell0
	top, zero := int32(len(g.values)-1), int32(g.zeroPos)
	zeroBits := math.Float64bits(zeroBelow)
	xs = xs[:len(ps)]
	for i := range ps {
		b := math.Float64bits((float64(xs[i]) - center) * inv)
		a := b &^ (1 << 63)
		var p int32
		switch {
		case a >= zeroBits && a <= maxFiniteBits:
			k := top
			if c := a>>cellShift - cell0; c < uint64(len(cells)) {
				e := cells[c]
				k = int32(e>>cellSplitBits) + int32(((e&cellSplitMask)-1-(a&(1<<cellShift-1)))>>63)
			}
			k++
			p = zero + k - 2*int32(b>>63)*k
		case a < zeroBits:
			p = zero
		default:
			p = -1
		}
		ps[i] = p
	}
}

// positionsF32 sets ps[i] to the position of float32(xs[i] - center) *
// inv, computed in float32 arithmetic, as the staged columns are counted:
// the transform is then one float32 subtraction and multiplication, and
// the vector kernel (positions8) takes eight lanes where float64 took
// four. Rounding the transform to float32 moves a value by at most about
// 6e-8 of |x - center| * inv plus 6e-8 of |center| * inv, into the next
// bucket only that close to a boundary between buckets 2% apart: the
// staging's own rounding of values to float32 (see stage) is of the same
// size, and no statistic of the sketch can show it.
func positionsF32(g *grid, ps []int32, xs []float32, center, inv float32) {
	var ys [positionChunk]float32
	xs = xs[:len(ps)]
	for len(ps) > 0 {
		k := min(len(ps), len(ys))
		for i, x := range xs[:k] {
			ys[i] = float32(x-center) * inv
		}
		positions(g, ps[:k], ys[:k], 0, 1)
		ps, xs = ps[k:], xs[k:]
	}
}

// count adds one to position p, which position gave.
func (s *sketch) count(p int) {
	s.cnt[p]++
	s.used(p)
	s.n++
}

// merge adds o's counts to s. Both must share the grid, as every sketch of
// one monitor does.
func (s *sketch) merge(o *sketch) {
	for p := o.lo; p < o.hi; p++ {
		s.cnt[p] += o.cnt[p]
	}
	if o.hi > o.lo {
		s.used(o.lo)
		s.used(o.hi - 1)
	}
	s.n += o.n
	s.nonFinite += o.nonFinite
}

func (s *sketch) clear() {
	if s.hi > s.lo {
		clear(s.cnt[s.lo:s.hi])
	}
	s.lo, s.hi = len(s.cnt), 0
	s.n, s.nonFinite = 0, 0
}

// quantile returns the value at quantile q (0..1), NaN when empty.
func (s *sketch) quantile(q float64) float64 {
	if s.n == 0 {
		return math.NaN()
	}
	rank := q * (s.n - 1)
	var cum float64
	last := math.NaN()
	for p := s.lo; p < s.hi; p++ {
		if c := s.cnt[p]; c != 0 {
			cum += float64(c)
			last = s.g.pv[p]
			if cum > rank {
				break
			}
		}
	}
	return last
}

// marshal encodes s as a DDSketch protobuf, the format DataDog's agents
// and other DDSketch implementations read.
func (s *sketch) marshal() ([]byte, error) {
	d := ddsketch.NewDDSketch(s.g.m, store.NewDenseStore(), store.NewDenseStore())
	z := s.g.zeroPos
	for p, c := range s.cnt {
		switch {
		case c == 0:
		case p < z:
			d.GetNegativeValueStore().AddWithCount(s.g.lo+z-1-p, float64(c))
		case p > z:
			d.GetPositiveValueStore().AddWithCount(s.g.lo+p-z-1, float64(c))
		default:
			if err := d.AddWithCount(0, float64(c)); err != nil {
				return nil, err
			}
		}
	}
	return proto.Marshal(d.ToProto())
}

// unmarshal replaces s's contents with an encoded sketch. The encoding
// must use s's mapping: a sketch made with another accuracy does not line
// up with ours bucket for bucket. Buckets outside the grid's range fold
// into zero or the top bucket, as add would have put their values.
func (s *sketch) unmarshal(b []byte) error {
	var pb sketchpb.DDSketch
	if err := proto.Unmarshal(b, &pb); err != nil {
		return fmt.Errorf("not a DDSketch protobuf: %w", err)
	}
	if pb.Mapping == nil {
		return errors.New("DDSketch without an index mapping")
	}
	d, err := ddsketch.FromProto(&pb)
	if err != nil {
		return err
	}
	if !d.IndexMapping.Equals(s.g.m) {
		return fmt.Errorf("sketch has relative accuracy %g, this build uses %g", d.RelativeAccuracy(), relativeAccuracy)
	}
	zero := d.GetZeroCount()
	if !(zero >= 0) || math.IsInf(zero, 0) {
		return errors.New("sketch has an invalid zero count")
	}
	cnt := make([]uint32, len(s.cnt))
	z := s.g.zeroPos
	var bad error
	add := func(p int, c float64) {
		if !(c >= 0) || c != math.Trunc(c) || float64(cnt[p])+c > math.MaxUint32 {
			bad = fmt.Errorf("sketch has bucket count %v; counts are whole numbers below 2^32", c)
			return
		}
		cnt[p] += uint32(c)
	}
	fill := func(sign int, st store.Store) {
		st.ForEach(func(i int, c float64) bool {
			switch j := i - s.g.lo; {
			case j < 0:
				add(z, c)
			default:
				add(z+sign*(min(j, len(s.g.values)-1)+1), c)
			}
			return bad != nil
		})
	}
	fill(1, d.GetPositiveValueStore())
	fill(-1, d.GetNegativeValueStore())
	add(z, zero)
	if bad != nil {
		return bad
	}
	s.cnt, s.nonFinite, s.n = cnt, 0, 0
	s.lo, s.hi = len(cnt), 0
	for p, c := range cnt {
		if c != 0 {
			s.n += float64(c)
			s.used(p)
		}
	}
	return nil
}
