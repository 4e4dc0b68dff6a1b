package monitor

import (
	"math"

	"golang.org/x/sys/cpu"
)

// A staged column's positions are computed four values at a time with
// AVX2 where the processor has it: the same arithmetic as positions,
// lane by lane in 64-bit integers, with the cell table read by a gather,
// so the two agree bit for bit (TestPositionsAVX2: edge values, every
// cell's bounds and split, two million random ones). On this machine's
// EPYC the positions of a column cost 1.3 ns a value against 3.1 for the
// Go loop, BenchmarkAddColumn (positions and counts) 2.2-2.4 ns against
// 4.3, and BenchmarkAggregate 236-243 ns a fraud sample against 300-354
// (alternated with the Go loop's build; BenchmarkPositions has the first
// pair side by side). Go's compiler does not
// vectorize, and its SIMD package is still an experiment behind
// GOEXPERIMENT, so this is assembly.

// hasAVX2 is read once: the processor does not change under a process.
var hasAVX2 = cpu.X86.HasAVX2

// laneConsts are positionsAVX2's constants: those it takes from memory
// repeated for four lanes, those it broadcasts once, then the cell table.
// The assembly finds the fields by the offsets go_asm.h gives them, so
// they may move.
type laneConsts struct {
	cell0, ncells, one, splitMask, offsetMask, top, zero [4]uint64
	zeroM1, maxFinite, abs                               uint64
	cells                                                *uint64
}

func (k *laneConsts) init(g *grid) {
	for i := range 4 {
		k.cell0[i] = g.cell0
		k.ncells[i] = uint64(len(g.cells))
		k.one[i] = 1
		k.splitMask[i] = cellSplitMask
		k.offsetMask[i] = 1<<cellShift - 1
		k.top[i] = uint64(len(g.values) - 1)
		k.zero[i] = uint64(g.zeroPos)
	}
	k.zeroM1 = math.Float64bits(zeroBelow) - 1
	k.maxFinite = maxFiniteBits
	k.abs = 1<<63 - 1
	k.cells = &g.cells[0]
}

// positionsAVX2 sets ps[:n] as positions does for xs[:n]; n is a
// multiple of 4.
//
//go:noescape
func positionsAVX2(ps *int32, xs *float32, n int, center, inv float64, k *laneConsts)

// positions32 is positions for a staged column of float32s.
func (g *grid) positions32(ps []int32, xs []float32, center, inv float64) {
	xs = xs[:len(ps)]
	n := 0
	if hasAVX2 {
		if n = len(ps) &^ 3; n > 0 {
			positionsAVX2(&ps[0], &xs[0], n, center, inv, &g.lanes)
		}
	}
	positions(g, ps[n:], xs[n:], center, inv)
}
