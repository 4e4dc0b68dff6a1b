package monitor

import (
	"encoding/binary"
	"math"
)

// A fold's rows are staged, copied as they come into a buffer of the
// fold's own, and counted into the sketches a column at a time when the
// buffer fills. Counting each value as it came meant, for every value, the
// lines of its feature's transform, of its sketch's header, of the bucket
// table and of its count, each last touched a drain ago: in a serving
// gateway, whose other work evicts them between drains, the fraud model's
// 32 values a sample cost 450-530 ns (bench/monitor-profile.sh), several
// times what the same arithmetic costs with its lines at hand. Staged, a
// sample is a copy into lines written in order; a column is then counted
// with its feature's transform in registers and its counts and the bucket
// table in the nearest cache, for every value of it at once: 266-288 ns a
// sample in the same profile; BenchmarkAggregate 388-423 to 288-298 ns,
// BenchmarkAggregateCold 439-503 to 360-385 (alternated with 4aebffe).
//
// Counts therefore lag the rows by up to a stage: everything that reads
// or switches a sketch (a window's close, the reference's completion, a
// flush) counts what is staged first (version.flush). A stage is 128 KB a
// fold, whatever the model.
//
// Where the processor has AVX2, FP32 rows of a fold whose transforms are
// learnt skip the stage: their positions are computed as they come and
// wait in the stage's rowLanes instead (see rows_amd64.go), and count
// counts those too.

// stageValues is how many values a stage holds, whatever its width: 128
// KB of float32, about a window of the fraud model's 30 features, so a
// feature's counts are fetched about once a window. (A stage of 4,096
// values, flushed every 136 fraud samples, spent more on those fetches
// than it saved.) A fold wider than that stages one row at a time.
const stageValues = 32768

// yieldValues is about how many values count adds between yields: some
// 10 µs.
const yieldValues = 4096

// stage is one fold's staged rows, a column a feature, so that counting
// reads each column in order. Values are staged as float32: a model's
// FP32, FP16 and integer inputs up to 2^24 exactly, FP64 ones rounded by
// at most 6e-8 of their value, which moves a value to the next bucket
// only within 6e-8 of a boundary that is itself within 1% of its
// neighbours: not an error any statistic of the sketch can show. A first
// stage of float64 rows read each column across every row's lines, and
// those reads' misses were a third of the positions' time in the fraud
// gateway's profile; columns of float32 are read in order, half the
// bytes.
type stage struct {
	width   int
	capRows int       // rows a column holds
	rows    int       // staged rows
	cols    []float32 // width columns of capRows values
	lanes   rowLanes  // the positions of rows that skip the stage (countRows)
}

func newStage(width int) stage {
	capRows := max(1, stageValues/width)
	return stage{width: width, capRows: capRows, cols: make([]float32, capRows*width)}
}

// add stages rows (len(rows) a multiple of width) whose features are
// feats, counting them whenever the stage fills; busy is the aggregator's
// (model.busy), which decides how a count yields.
func (st *stage) add(feats []feature, rows []float64, busy bool) {
	w := st.width
	for len(rows) >= w {
		cols, stride, k := st.cols, st.capRows, st.rows
		for _, x := range rows[:w] {
			cols[k] = float32(x)
			k += stride
		}
		rows = rows[w:]
		st.rows++
		if st.rows == st.capRows {
			st.count(feats, busy)
		}
	}
}

// addFP32 stages rows of little-endian float32s (len(raw) a multiple of
// 4*width), as add does decoded ones.
func (st *stage) addFP32(feats []feature, raw []byte, busy bool) {
	w := st.width
	if n := st.countRows(feats, raw, busy); n > 0 {
		raw = raw[4*w*n:]
	}
	for len(raw) >= 4*w {
		// A span's rows, eight at a time where there is a vector kernel
		// (see transposeRows); the rest a row at a time.
		if w >= 8 {
			if n := st.transposeRows(raw); n > 0 {
				raw = raw[4*w*n:]
				if st.rows == st.capRows {
					st.count(feats, busy)
				}
				continue
			}
		}
		// Locals the loop can keep in registers: through st's fields and
		// a product a value, Go spilled and reloaded them around every
		// store, 25 instructions a value.
		cols, stride, k := st.cols, st.capRows, st.rows
		row := raw[: 4*w : 4*w]
		for len(row) >= 4 {
			cols[k] = math.Float32frombits(binary.LittleEndian.Uint32(row))
			row = row[4:]
			k += stride
		}
		raw = raw[4*w:]
		st.rows++
		if st.rows == st.capRows {
			st.count(feats, busy)
		}
	}
}

// count adds the staged rows to feats' sinks, a column at a time, and
// empties the stage, yielding between columns as busy says (see
// yieldToRequests); the positions waiting in lanes first.
func (st *stage) count(feats []feature, busy bool) {
	st.lanes.count(feats[:st.width])
	w, n := st.width, st.rows
	if n == 0 {
		return
	}
	counted := 0
	for j := range feats[:w] {
		if counted >= yieldValues {
			// A full stage is 100 µs or more of counting: let the
			// requests sharing this processor run between columns, as
			// drain does between batches.
			yieldToRequests(busy)
			counted = 0
		}
		counted += n
		f := &feats[j]
		col := st.cols[j*st.capRows : j*st.capRows+n]
		if !f.fixed {
			// Learning its transform (the first few hundred reference
			// values); add fixes it on the way.
			for _, x := range col {
				f.add(float64(x))
			}
			continue
		}
		f.sink.addColumn(col, f.center, f.inv)
	}
	st.rows = 0
}

// addColumn counts the values of xs, each transformed as (x - center) *
// inv: their positions a chunk at a time, then the counts.
func (s *sketch) addColumn(xs []float32, center, inv float64) {
	var ps [positionChunk]int32
	cnt := s.cnt
	lo, hi := int32(s.lo), int32(s.hi-1)
	bad := 0
	for done := 0; done < len(xs); {
		k := min(len(xs)-done, positionChunk)
		s.g.positions32(ps[:k], xs[done:done+k], center, inv)
		for _, p := range ps[:k] {
			if p < 0 {
				bad++
				continue
			}
			cnt[p]++
			lo, hi = min(lo, p), max(hi, p)
		}
		done += k
	}
	if hi >= lo {
		s.lo, s.hi = int(lo), int(hi)+1
	}
	s.n += float64(len(xs) - bad)
	s.nonFinite += float64(bad)
}

// positionChunk is how many positions addColumn computes before counting
// them: a stack array.
const positionChunk = 128

// latencyStage is how many latencies a version stages.
const latencyStage = 1024

// stageLatency stages one request latency, in microseconds.
func (v *version) stageLatency(us float32) {
	v.latencies = append(v.latencies, us)
	if len(v.latencies) == cap(v.latencies) {
		v.latency.addColumn(v.latencies, 0, 1)
		v.latencies = v.latencies[:0]
	}
}

// flush counts every fold's staged rows and the staged latencies; busy
// is the aggregator's (see stage.count).
func (v *version) flush(busy bool) {
	if len(v.latencies) > 0 {
		v.latency.addColumn(v.latencies, 0, 1)
		v.latencies = v.latencies[:0]
	}
	for i := range v.stages {
		f := &v.folds[i]
		v.stages[i].count(v.features[f.first:f.first+f.width], busy)
	}
}
