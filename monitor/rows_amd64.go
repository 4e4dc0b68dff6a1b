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
func rowPositions8(ps *uint16, src *byte, rows, rowBytes, nv int, center, inv *float32, lohi *int32, k *laneConsts, vecBytes int)

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
	// ps holds the rows' positions a vector at a time: vector v's eight
	// lanes for row r at (v*capRows + r)*8, so that the eight features of
	// a vector count from one run of memory (capRows*16 bytes, 4 KB for
	// 256 rows) whatever the width. Row after row (nv*8 a row, until the
	// eighteenth session), a feature read one line of every row, a row
	// apart: for the mlp demo (256 features) 512 bytes, so that the
	// lines of one pass fell in an eighth of the first-level cache's sets.
	// In the monitored gateways' profiles (MODEL=mlp and fraud
	// bench/monitor-profile.sh, two runs of each build alternated), the
	// counting went from 832-969 to 578-627 ns a request for the mlp
	// demo, from 62-68 to 38-49 for the fraud one.
	ps      []uint16
	capRows int // rows ps holds
	rows    int // rows in ps
}

// rowPositions is the fewest positions rowLanes holds: 16 KB of uint16s,
// so that a narrow fold's passes over them and its counts stay in the
// nearest cache (for the fraud model, 256 rows); a wide fold holds more
// (laneRows). It is also the widest fold countRows takes.
const rowPositions = 8192

// minLaneRows and maxLaneBytes size rowLanes for a wide fold: it holds
// at least minLaneRows rows where that takes at most maxLaneBytes, so
// that a feature's count lines, which a wide model's own work evicts
// between drains (the mlp demo reads 5 MB of weights a run), are fetched
// once for that many of its values. Held to rowPositions, the mlp demo's
// 256 features counted 32 rows at a time: 901-971 ns a request in its
// profile, 756-808 with 256 rows (before the layout above).
const (
	minLaneRows  = 256
	maxLaneBytes = 128 << 10
)

// laneRows is how many rows rowLanes holds when a row is per positions:
// rowPositions' worth, or for a fold wider than 32 features minLaneRows
// rows, fewer where those would pass maxLaneBytes.
func laneRows(per int) int {
	return max(rowPositions/per, min(minLaneRows, maxLaneBytes/2/per))
}

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
	l.capRows = laneRows(8 * nv)
	l.ps = make([]uint16, l.capRows*8*nv)
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
	capRows := l.capRows
	k := &feats[0].sink.g.lanes
	for done := 0; done < rows; {
		n := min(rows-done, capRows-l.rows)
		rowPositions8(&l.ps[l.rows*8], &raw[4*w*done], n, 4*w, l.nv, &l.center[0], &l.inv[0], &l.lohi[0], k, 16*capRows)
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
	for j, lane := range l.lane {
		s := feats[j].sink
		cnt := s.cnt
		v := lane / 8 * l.capRows * 8
		ps := l.ps[v : v+l.rows*8]
		for i := lane % 8; i < len(ps); i += 8 {
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
