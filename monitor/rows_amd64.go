package monitor

// Rows of FP32 inputs are counted without staging their values where the
// processor has AVX2: rowPositions8 computes a row's positions eight
// features at a time, each lane with its own feature's transform, straight
// from the ring's bytes, and the positions wait (rowLanes) until a
// feature's counts can take many rows at once. Staged, the fraud model's
// 30 values a sample were copied into the stage by a transpose, read back
// a column at a time and their positions computed there: 170 ns a sample
// in the gateway's profile (bench/monitor-profile.sh). Folds whose
// transforms are still being learnt, narrower than a vector, or of other
// data types are staged as before.

// rowPositions8 is countRows' kernel: see rows_amd64.s.
//
//go:noescape
func rowPositions8(ps *uint16, src *byte, rows, rowBytes, nv int, center, inv *float32, lohi *int32, k *laneConsts)

// rowLanes are a fold's transforms as rowPositions8 reads them, built once
// every feature of the fold has its transform fixed, and the positions of
// the rows it has taken since it last counted. A row is nv vectors of
// eight values: the first nv-1 at 32-byte steps, the last the row's final
// eight values, which overlap the one before unless the width is a
// multiple of eight.
//
// Positions wait in ps, as values wait in a stage, so that a feature's
// counts are fetched once for many rows. In the fraud gateway's profile at
// 64 connections (bench/README.md, fourteenth session), the counting took
// 83 ns a sample when each span (some 28 rows) was counted as it came,
// 41-43 ns with 128 rows waiting as int32s, 36-38 with 256 as uint16s.
type rowLanes struct {
	nv          int
	center, inv []float32 // a lane's feature's transform, nv*8
	lane        []int     // feature j's lane
	lohi        []int32   // the kernel's bounds and non-finite counts a lane
	ps          []uint16  // rows' positions, nv*8 a row
	rows        int       // rows in ps
}

// rowPositions is how many positions rowLanes holds: 16 KB of uint16s, so
// that a feature's pass over them and its counts stay in the nearest
// cache; for the fraud model, 256 rows.
const rowPositions = 8192

// build makes the lanes of feats, the fold's features, and reports
// whether it could: not while any transform is still being learnt. A fold
// is at most rowPositions wide (countRows). Lanes are built once: a transform,
// once fixed, stays (fixTransform, or a persisted reference restored
// before the first row).
func (l *rowLanes) build(feats []feature) bool {
	w := len(feats)
	for i := range feats {
		if !feats[i].fixed {
			return false
		}
	}
	nv := (w + 7) / 8
	l.center, l.inv = make([]float32, 8*nv), make([]float32, 8*nv)
	l.lane, l.lohi = make([]int, w), make([]int32, 24*nv)
	for j := range w {
		l.lane[j] = j
		if j >= 8*(nv-1) {
			l.lane[j] = 8*(nv-1) + j - (w - 8)
		}
	}
	for i := range 8 * nv {
		j := i
		if i >= 8*(nv-1) {
			j = w - 8 + i - 8*(nv-1)
		}
		l.center[i], l.inv[i] = float32(feats[j].center), float32(feats[j].inv)
	}
	l.ps = make([]uint16, rowPositions/(8*nv)*8*nv)
	l.nv = nv
	l.reset()
	return true
}

// countRows takes the rows of raw (little-endian float32s, the stage's
// width a row), whose features are feats, and returns how many: all of
// them or, where it cannot (see rowLanes), none, for the stage to take.
func (st *stage) countRows(feats []feature, raw []byte, busy bool) int {
	w := st.width
	rows := len(raw) / (4 * w)
	if !hasAVX2 || w < 8 || w > rowPositions || rows == 0 {
		return 0
	}
	l := &st.lanes
	if l.nv == 0 && !l.build(feats[:w]) {
		return 0
	}
	per := 8 * l.nv
	capRows := len(l.ps) / per
	k := &feats[0].sink.g.lanes
	for done := 0; done < rows; {
		n := min(rows-done, capRows-l.rows)
		rowPositions8(&l.ps[l.rows*per], &raw[4*w*done], n, 4*w, l.nv, &l.center[0], &l.inv[0], &l.lohi[0], k)
		l.rows += n
		done += n
		if l.rows == capRows {
			if done < rows {
				yieldToRequests(busy) // as stage.count does between columns
			}
			l.count(feats)
		}
	}
	return rows
}

// count adds the rows' positions to feats' sinks, a feature at a time.
func (l *rowLanes) count(feats []feature) {
	if l.rows == 0 {
		return
	}
	per := 8 * l.nv
	lo, hi, bad := l.lohi[:per], l.lohi[per:2*per], l.lohi[2*per:]
	ps := l.ps[:l.rows*per]
	for j, lane := range l.lane {
		s := feats[j].sink
		cnt := s.cnt
		for i := lane; i < len(ps); i += per {
			cnt[ps[i]]++
		}
		// The kernel counted non-finite values at zeroPos.
		cnt[s.g.zeroPos] -= uint32(bad[lane])
		s.n += float64(l.rows - int(bad[lane]))
		s.nonFinite += float64(bad[lane])
		if hi[lane] >= 0 {
			s.lo, s.hi = min(s.lo, int(uint32(lo[lane]))), max(s.hi, int(hi[lane])+1)
		}
	}
	l.rows = 0
	l.reset()
}

// reset readies the kernel's bounds (-1, which its unsigned minimum and
// signed maximum ignore) and non-finite counts (zero) for the next rows.
func (l *rowLanes) reset() {
	per := 8 * l.nv
	for i := range l.lohi {
		l.lohi[i] = -1
		if i >= 2*per {
			l.lohi[i] = 0
		}
	}
}
