package monitor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// Staged rows count what adding each value alone counts (values a float32
// holds, as the stage keeps them): through the
// transform's learning (values pending), rows added one and several at a
// time across the stage's fills, the switch from reference to window,
// with zeros, negatives, NaN and infinities among them.
func TestStage(t *testing.T) {
	g := newGrid()
	r := rand.New(rand.NewPCG(16, 16))
	const width = 1000 // a stage of 32 rows
	staged, alone := make([]feature, width), make([]feature, width)
	for j := range width {
		staged[j], alone[j] = newFeature(g, "x", false), newFeature(g, "x", false)
	}
	st := newStage(width)
	if len(st.cols) != 32*width {
		t.Fatalf("stage of %d values, want 32 rows", len(st.cols))
	}
	rows := make([]float64, 3*width)
	for i := 0; i < 3*transformRows; {
		if i >= transformRows+10 && !staged[0].ready {
			st.count(staged, false) // as version.flush does before the switch
			for j := range width {
				staged[j].setReady()
				alone[j].setReady()
			}
		}
		k := 1 + r.IntN(3)
		for j := range rows[:k*width] {
			switch r.IntN(20) {
			case 0:
				rows[j] = 0
			case 1:
				rows[j] = [...]float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)]
			default:
				rows[j] = float64(float32(r.NormFloat64()*float64(j%width+1) - float64(j%width)))
			}
		}
		st.add(staged, rows[:k*width], false)
		for j, x := range rows[:k*width] {
			alone[j%width].add(x)
		}
		i += k
	}
	st.count(staged, false)
	for j := range width {
		for _, s := range [][2]*sketch{{staged[j].ref, alone[j].ref}, {staged[j].cur, alone[j].cur}} {
			a, b := s[0], s[1]
			if !slices.Equal(a.cnt, b.cnt) || a.n != b.n || a.nonFinite != b.nonFinite || a.lo != b.lo || a.hi != b.hi {
				t.Fatalf("feature %d: staged counted n=%v nonFinite=%v [%d,%d), alone n=%v nonFinite=%v [%d,%d)", j, a.n, a.nonFinite, a.lo, a.hi, b.n, b.nonFinite, b.lo, b.hi)
			}
		}
	}
	if staged[0].cur.n == 0 || staged[0].ref.n == 0 {
		t.Fatal("the test never reached the window")
	}
}

// A fold wider than a stage stages a row at a time.
func TestStageWide(t *testing.T) {
	st := newStage(stageValues + 1)
	if len(st.cols) != stageValues+1 {
		t.Fatalf("stage of %d values, want one row", len(st.cols))
	}
}

// Rows staged from their float32 bytes count what the same rows staged
// decoded count: a row at a time, and in spans of up to 70 rows (which
// transposeRows stages in blocks) across the stage's fills.
func TestStageFP32(t *testing.T) {
	for _, width := range []int{7, 30} {
		for _, maxSpan := range []int{1, 70} {
			testStageFP32(t, width, maxSpan)
		}
	}
}

func testStageFP32(t *testing.T, width, maxSpan int) {
	g := newGrid()
	r := rand.New(rand.NewPCG(32, uint64(width)))
	fromBytes, decoded := make([]feature, width), make([]feature, width)
	for j := range width {
		fromBytes[j], decoded[j] = newFeature(g, "x", false), newFeature(g, "x", false)
	}
	a, b := newStage(width), newStage(width)
	for rows := 0; rows < 3*stageValues/width; {
		n := 1 + r.IntN(maxSpan)
		vals := make([]float64, n*width)
		raw := make([]byte, 4*len(vals))
		for j := range vals {
			x := float32(r.NormFloat64()*3 + 1)
			if r.IntN(50) == 0 {
				x = float32(math.Inf(-1))
			}
			vals[j] = float64(x)
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
		}
		a.addFP32(fromBytes, raw, false)
		b.add(decoded, vals, false)
		rows += n
	}
	a.count(fromBytes, false)
	b.count(decoded, false)
	for j := range width {
		x, y := fromBytes[j].ref, decoded[j].ref
		if !slices.Equal(x.cnt, y.cnt) || x.n != y.n || x.nonFinite != y.nonFinite || x.n == 0 {
			t.Fatalf("width %d, spans up to %d, feature %d: from bytes n=%v nonFinite=%v, decoded n=%v nonFinite=%v",
				width, maxSpan, j, x.n, x.nonFinite, y.n, y.nonFinite)
		}
	}
}

// Rows staged in spans (transposed in blocks of eight where there is a
// vector kernel) land where staged one at a time they would, bit for bit,
// NaN payloads included: for widths around a block's, spans of every
// length, stages that start mid-block and fill mid-span.
func TestStageTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, width := range []int{1, 2, 7, 8, 9, 15, 16, 17, 30, 33, 64} {
		spans, one := newStage(width), newStage(width)
		transposed := 0
		// Small stages, so that spans cross their ends.
		spans.capRows, one.capRows = 45, 45
		spans.cols, one.cols = make([]float32, 45*width), make([]float32, 45*width)
		for round := range 40 {
			n := r.IntN(24)
			if round%5 == 0 {
				n = r.IntN(70)
			}
			raw := make([]byte, 4*width*n)
			for i := 0; i < len(raw); i += 4 {
				binary.LittleEndian.PutUint32(raw[i:], r.Uint32())
			}
			if spans.rows+n >= spans.capRows {
				// count would empty them: compare what they hold first.
				checkStaged(t, width, &spans, &one)
			}
			transposed += stageSpan(&spans, &one, raw, width)
		}
		checkStaged(t, width, &spans, &one)
		if width >= 8 && runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && transposed == 0 {
			t.Fatalf("width %d: transposeRows staged no row, so nothing above compared its blocks", width)
		}
	}
}

// stageSpan stages raw's rows into spans as a span and into one a row at a
// time, up to the stages' room, empties both when they fill, and returns
// how many rows transposeRows staged.
func stageSpan(spans, one *stage, raw []byte, width int) int {
	room := spans.capRows - spans.rows
	raw = raw[:min(len(raw), 4*width*room)]
	n := spans.transposeRows(raw)
	for i := n; i < len(raw)/(4*width); i++ {
		// What addFP32's Go loop does with the rows transposeRows left.
		for j := range width {
			spans.cols[j*spans.capRows+spans.rows] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*width+j):]))
		}
		spans.rows++
	}
	for i := range len(raw) / (4 * width) {
		for j := range width {
			one.cols[j*one.capRows+one.rows] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*width+j):]))
		}
		one.rows++
	}
	if spans.rows == spans.capRows {
		spans.rows, one.rows = 0, 0
	}
	return n
}

func checkStaged(t *testing.T, width int, spans, one *stage) {
	t.Helper()
	if spans.rows != one.rows {
		t.Fatalf("width %d: %d rows staged in spans, %d one at a time", width, spans.rows, one.rows)
	}
	for j := range width {
		for i := range spans.rows {
			x, y := spans.cols[j*spans.capRows+i], one.cols[j*one.capRows+i]
			if math.Float32bits(x) != math.Float32bits(y) {
				t.Fatalf("width %d, column %d, row %d: %08x staged in spans, %08x one at a time", width, j, i, math.Float32bits(x), math.Float32bits(y))
			}
		}
	}
}

// Rows counted from their bytes' positions (countRows, where there is a
// vector kernel) count what the same rows staged count, bit for bit:
// widths around a vector's, spans of every length, some longer than the
// positions rowLanes holds, flushes with rows waiting, each feature with
// its own transform, and zeros, tiny and huge values, negatives, random
// bits, NaN and the infinities among the values.
func TestCountRows(t *testing.T) {
	g := newGrid()
	r := rand.New(rand.NewPCG(64, 64))
	for _, width := range []int{7, 8, 9, 15, 16, 17, 30, 33, 64, 100, 256} {
		straight, staged := make([]feature, width), make([]feature, width)
		for j := range width {
			straight[j], staged[j] = newFeature(g, "x", false), newFeature(g, "x", false)
			center, scale := r.NormFloat64()*10, math.Exp(r.NormFloat64()*3)
			straight[j].setTransform(center, scale)
			staged[j].setTransform(center, scale)
		}
		a, b := newStage(width), newStage(width)
		counted := 0
		for range 200 {
			n := r.IntN(70)
			vals := make([]float64, n*width)
			raw := make([]byte, 4*len(vals))
			for i := range vals {
				j := i % width
				x := float32(straight[j].center + r.NormFloat64()*straight[j].scale*3)
				switch r.IntN(40) {
				case 0:
					x = 0
				case 1:
					x = float32([...]float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)])
				case 2:
					x = float32(straight[j].center + straight[j].scale*1e-5*r.NormFloat64())
				case 3:
					x = float32(r.NormFloat64() * 1e30)
				case 4:
					x = math.Float32frombits(r.Uint32())
				}
				vals[i] = float64(x)
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
			}
			k := a.countRows(straight, raw, false)
			a.addFP32(straight, raw[4*width*k:], false) // what addFP32 stages
			counted += k
			b.add(staged, vals, false)
			if r.IntN(10) == 0 {
				// A flush, with rows waiting.
				a.count(straight, false)
			}
		}
		a.count(straight, false)
		b.count(staged, false)
		for j := range width {
			x, y := straight[j].ref, staged[j].ref
			if !slices.Equal(x.cnt, y.cnt) || x.n != y.n || x.nonFinite != y.nonFinite || x.lo != y.lo || x.hi != y.hi || x.n == 0 {
				t.Fatalf("width %d, feature %d: straight n=%v nonFinite=%v [%d,%d), staged n=%v nonFinite=%v [%d,%d)",
					width, j, x.n, x.nonFinite, x.lo, x.hi, y.n, y.nonFinite, y.lo, y.hi)
			}
		}
		if width >= 8 && runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && counted == 0 {
			t.Fatalf("width %d: countRows counted no row, so nothing above compared it", width)
		}
	}
}

// A fold wider than the positions rowLanes holds a row of is staged; one
// as wide as that is not, where there is a vector kernel.
func TestCountRowsWide(t *testing.T) {
	g := newGrid()
	for _, c := range []struct{ width, want int }{{8192, 1}, {8193, 0}} {
		feats := make([]feature, c.width)
		for j := range feats {
			feats[j] = newFeature(g, "x", false)
			feats[j].setTransform(0, 1)
		}
		st := newStage(c.width)
		want := c.want
		if runtime.GOARCH != "amd64" || !cpu.X86.HasAVX2 {
			want = 0
		}
		if got := st.countRows(feats, make([]byte, 4*c.width), false); got != want {
			t.Errorf("width %d: countRows took %d rows, want %d", c.width, got, want)
		}
		st.count(feats, false)
		if feats[0].ref.n != float64(want) {
			t.Errorf("width %d: %v counted, want %d", c.width, feats[0].ref.n, want)
		}
	}
}
