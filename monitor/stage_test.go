package monitor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
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
			st.count(staged) // as version.flush does before the switch
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
		st.add(staged, rows[:k*width])
		for j, x := range rows[:k*width] {
			alone[j%width].add(x)
		}
		i += k
	}
	st.count(staged)
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
// decoded count.
func TestStageFP32(t *testing.T) {
	g := newGrid()
	r := rand.New(rand.NewPCG(32, 32))
	const width = 7
	fromBytes, decoded := make([]feature, width), make([]feature, width)
	for j := range width {
		fromBytes[j], decoded[j] = newFeature(g, "x", false), newFeature(g, "x", false)
	}
	a, b := newStage(width), newStage(width)
	row := make([]float64, width)
	raw := make([]byte, 4*width)
	for range 3 * stageValues / width {
		for j := range row {
			x := float32(r.NormFloat64()*3 + 1)
			if r.IntN(50) == 0 {
				x = float32(math.Inf(-1))
			}
			row[j] = float64(x)
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
		}
		a.addFP32(fromBytes, raw)
		b.add(decoded, row)
	}
	a.count(fromBytes)
	b.count(decoded)
	for j := range width {
		x, y := fromBytes[j].ref, decoded[j].ref
		if !slices.Equal(x.cnt, y.cnt) || x.n != y.n || x.nonFinite != y.nonFinite || x.n == 0 {
			t.Fatalf("feature %d: from bytes n=%v nonFinite=%v, decoded n=%v nonFinite=%v", j, x.n, x.nonFinite, y.n, y.nonFinite)
		}
	}
}
