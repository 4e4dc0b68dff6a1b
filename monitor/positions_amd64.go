package monitor

import (
	"math"

	"golang.org/x/sys/cpu"
)

// A staged column's positions are computed eight values at a time with
// AVX2 where the processor has it: positionsF32's arithmetic, lane by lane
// in 32-bit integers, with a cell table of float32 cells read by a gather,
// so the two agree bit for bit (TestPositionsAVX2: edge values, every
// cell's bounds and split, two million random ones). The first kernel
// (fifth session) took four float64 lanes: 1.3 ns a value against 3.1
// for the Go loop on this machine's EPYC, and its time followed its
// instruction count (a kernel without the gather, computing the cubic,
// ran at the same speed). Eight float32 lanes do the same work in about
// the same instructions for twice the values (BenchmarkPositions). Go's
// compiler does not vectorize, and its SIMD package is still an
// experiment behind GOEXPERIMENT, so this is assembly.

// hasAVX2 is read once: the processor does not change under a process.
var hasAVX2 = cpu.X86.HasAVX2

// A float32 cell is the float's exponent and top 6 bits of significand,
// 1/64 of an octave as the float64 cells are (see cellBits); an entry is
// the cell's first slot above the low 18 bits, which hold the offset in
// the cell (the float's low 17 bits) where the next slot starts, or
// 1<<17 when none does. Slots number under 1,400, so an entry fits 32
// bits, and the table is half the float64 one's size.
const (
	cellShift32     = 23 - cellBits
	cellSplitBits32 = cellShift32 + 1
	cellSplitMask32 = 1<<cellSplitBits32 - 1
)

// laneConsts are positions8's constants: those it takes from memory
// repeated for eight lanes, those it broadcasts once, then the cell
// table. The assembly finds the fields by the offsets go_asm.h gives
// them, so they may move.
type laneConsts struct {
	ncells, one, splitMask, offsetMask, top, zero [8]uint32
	zeroM1, maxFinite, abs, cell0                 uint32
	cells                                         []uint32 // the assembly reads its first word, &cells[0]
}

func (k *laneConsts) init(g *grid) {
	// zeroBits: the smallest float32 that is not below zeroBelow.
	zeroBits := math.Float32bits(float32(zeroBelow))
	if float64(math.Float32frombits(zeroBits)) < zeroBelow {
		zeroBits++
	}
	k.cell0, k.cells = cellTable(zeroBits, math.Float32bits(float32(topValue)), cellShift32,
		func(b uint32) int { return g.slotExact(float64(math.Float32frombits(b))) })
	for i := range 8 {
		k.ncells[i] = uint32(len(k.cells))
		k.one[i] = 1
		k.splitMask[i] = cellSplitMask32
		k.offsetMask[i] = 1<<cellShift32 - 1
		k.top[i] = uint32(len(g.values) - 1)
		k.zero[i] = uint32(g.zeroPos)
	}
	k.zeroM1 = zeroBits - 1
	k.maxFinite = math.Float32bits(math.MaxFloat32)
	k.abs = 1<<31 - 1
}

// positions8 sets ps[:n] as positionsF32 does for xs[:n]; n is a
// multiple of 8.
//
//go:noescape
func positions8(ps *int32, xs *float32, n int, center, inv float32, k *laneConsts)

// positions32 is positions for a staged column of float32s, transformed
// in float32 arithmetic (see positionsF32).
func (g *grid) positions32(ps []int32, xs []float32, center, inv float64) {
	xs = xs[:len(ps)]
	c, v := float32(center), float32(inv)
	n := 0
	if hasAVX2 {
		if n = len(ps) &^ 7; n > 0 {
			positions8(&ps[0], &xs[0], n, c, v, &g.lanes)
		}
	}
	positionsF32(g, ps[n:], xs[n:], c, v)
}
